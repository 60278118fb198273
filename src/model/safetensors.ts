// safetensors reader: an 8-byte little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the raw
// tensor bytes (offsets relative to the end of the header). Everything is validated when the
// file is parsed, so a truncated download fails on load, naming the file and first tensor
// that does not fit, rather than as NaNs half-way through a generation.

import { checkDisjointRanges, checkFinite } from "./validate";
import { MissingTensorError, ModelFormatError, TensorShapeError } from "../errors";
import { type ModelSource, type ProgressCallback, fileLabel, readOptional } from "./source";

/** Bytes per element of every dtype the format defines; only F32/F16/BF16 can be read as f32. */
const DTYPE_BYTES: Readonly<Record<string, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
  U16: 2, U32: 4, U64: 8, F8_E4M3: 1, F8_E5M2: 1,
};

/** Headers beyond this are corrupt in practice (the format's own reader caps at 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

export interface TensorEntry {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Byte range within the whole file (header already added). */
  readonly beginByte: number;
  readonly endByte: number;
}

/** A collection of named tensors that may span several files (a sharded checkpoint). */
export interface TensorStore {
  has(name: string): boolean;
  shapeOf(name: string): readonly number[] | undefined;
  /**
   * The tensor converted to f32 (row-major). With `expectedShape`, a mismatch throws.
   * @throws MissingTensorError, TensorShapeError, ModelFormatError (unsupported dtype)
   */
  readF32(name: string, expectedShape?: readonly number[]): Float32Array;
}

/** One parsed `.safetensors` file. */
export class SafetensorsFile implements TensorStore {
  readonly metadata: Readonly<Record<string, string>>;
  readonly tensors: ReadonlyMap<string, TensorEntry>;

  private constructor(
    readonly fileName: string,
    private readonly bytes: Uint8Array,
    tensors: Map<string, TensorEntry>,
    metadata: Record<string, string>,
  ) {
    this.tensors = tensors;
    this.metadata = metadata;
  }

  /** @throws ModelFormatError naming `fileName` (and the tensor) on any inconsistency. */
  static parse(bytes: Uint8Array, fileName: string): SafetensorsFile {
    const { tensors, metadata } = parseSafetensorsLayout(bytes, bytes.byteLength, fileName);
    return new SafetensorsFile(fileName, bytes, tensors, metadata);
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  shapeOf(name: string): readonly number[] | undefined {
    return this.tensors.get(name)?.shape;
  }

  /** The tensor's stored bytes (a view into the file, not a copy) for loaders that keep the dtype. */
  raw(name: string): Uint8Array {
    const entry = this.tensors.get(name);
    if (entry === undefined) throw new MissingTensorError(this.fileName, name);
    return this.bytes.subarray(entry.beginByte, entry.endByte);
  }

  readF32(name: string, expectedShape?: readonly number[]): Float32Array {
    const entry = this.tensors.get(name);
    if (entry === undefined) throw new MissingTensorError(this.fileName, name);
    if (expectedShape !== undefined && !sameShape(entry.shape, expectedShape)) {
      throw new TensorShapeError(this.fileName, name, expectedShape, entry.shape);
    }
    const raw = this.bytes.subarray(entry.beginByte, entry.endByte);
    let out: Float32Array;
    switch (entry.dtype) {
      case "F32": out = f32FromBytes(raw); break;
      case "F16": out = f32FromF16Bytes(raw); break;
      case "BF16": out = f32FromBf16Bytes(raw); break;
      default: throw new ModelFormatError(this.fileName, `dtype ${entry.dtype} is not supported (F32, F16, BF16 are)`, name);
    }
    checkFinite(out, this.fileName, name);
    return out;
  }
}

/** Bytes of the header (8-byte length + JSON) given the file's first 8 bytes. */
export function safetensorsHeaderBytes(first8: Uint8Array, fileBytes: number, fileName: string): number {
  if (fileBytes < 8 || first8.byteLength < 8) throw new ModelFormatError(fileName, `truncated: ${fileBytes} bytes, no header`);
  const view = new DataView(first8.buffer, first8.byteOffset, 8);
  const headerBytes = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  if (headerBytes > MAX_HEADER_BYTES || headerBytes < 2) {
    throw new ModelFormatError(fileName, `corrupt header: header length ${headerBytes} is not plausible`);
  }
  if (8 + headerBytes > fileBytes) {
    throw new ModelFormatError(fileName, `truncated: header needs ${8 + headerBytes} bytes, file has ${fileBytes}`);
  }
  return 8 + headerBytes;
}

/**
 * The tensor table of a safetensors file from its first bytes (at least the header) and its
 * length: what a loader needs to read the tensors one byte range at a time.
 * @throws ModelFormatError naming `fileName` (and the tensor) on any inconsistency.
 */
export function parseSafetensorsLayout(
  prefix: Uint8Array,
  fileBytes: number,
  fileName: string,
): { tensors: Map<string, TensorEntry>; metadata: Record<string, string> } {
  const dataStartByte = safetensorsHeaderBytes(prefix, fileBytes, fileName);
  if (prefix.byteLength < dataStartByte) throw new ModelFormatError(fileName, `truncated: header needs ${dataStartByte} bytes, got ${prefix.byteLength}`);
  const header = parseHeaderJson(prefix.subarray(8, dataStartByte), fileName);
  const tensors = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = (raw ?? {}) as Record<string, string>;
      continue;
    }
    const entry = validateEntry(name, raw, dataStartByte, fileName);
    if (entry.endByte > fileBytes) {
      throw new ModelFormatError(fileName, `truncated: data ends at byte ${entry.endByte}, file has ${fileBytes}`, name);
    }
    tensors.set(name, entry);
  }
  checkDisjointRanges([...tensors.values()], fileName);
  return { tensors, metadata };
}

function parseHeaderJson(headerUtf8: Uint8Array, fileName: string): Record<string, unknown> {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(headerUtf8));
  } catch (err) {
    throw new ModelFormatError(fileName, `corrupt header: not valid JSON (${(err as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new ModelFormatError(fileName, "corrupt header: not a JSON object");
  }
  return header as Record<string, unknown>;
}

function validateEntry(name: string, raw: unknown, dataStartByte: number, fileName: string): TensorEntry {
  const bad = (detail: string) => new ModelFormatError(fileName, `corrupt header: ${detail}`, name);
  if (typeof raw !== "object" || raw === null) throw bad("entry is not an object");
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (typeof dtype !== "string" || !Object.hasOwn(DTYPE_BYTES, dtype)) throw bad(`unknown dtype ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad("bad shape");
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
    || offsets[0] > offsets[1]) {
    throw bad("bad data_offsets");
  }
  const numElements = (shape as number[]).reduce((a, d) => a * d, 1);
  const numBytes = offsets[1] - offsets[0];
  if (numBytes !== numElements * DTYPE_BYTES[dtype]!) {
    throw bad(`data_offsets span ${numBytes} bytes but ${dtype}[${shape.join(", ")}] needs ${numElements * DTYPE_BYTES[dtype]!}`);
  }
  return { name, dtype, shape, beginByte: dataStartByte + offsets[0], endByte: dataStartByte + offsets[1] };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A fresh f32 copy (never a view: the caller may keep it while the file bytes are dropped). */
export function f32FromBytes(raw: Uint8Array): Float32Array {
  const numElements = raw.byteLength >>> 2;
  if (HOST_IS_LITTLE_ENDIAN) {
    // Copy via a fresh Uint8Array: a Node Buffer's slice() is a view, not a copy.
    const copy = new Uint8Array(numElements * 4);
    copy.set(raw.subarray(0, numElements * 4));
    return new Float32Array(copy.buffer);
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float32Array(numElements);
  for (let i = 0; i < numElements; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

function f32FromBf16Bytes(raw: Uint8Array): Float32Array {
  // bf16 is the top half of an f32, so widening is a 16-bit shift of the bit pattern.
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const numElements = raw.byteLength >>> 1;
  const bits = new Uint32Array(numElements);
  for (let i = 0; i < numElements; i++) bits[i] = view.getUint16(i * 2, true) << 16;
  return new Float32Array(bits.buffer);
}

function f32FromF16Bytes(raw: Uint8Array): Float32Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const numElements = raw.byteLength >>> 1;
  const out = new Float32Array(numElements);
  for (let i = 0; i < numElements; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24; // subnormal
  if (exponent === 31) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Tensors spread over several files, routed by the index's weight_map. */
class ShardedTensorStore implements TensorStore {
  constructor(
    private readonly indexFileName: string,
    private readonly shardOf: ReadonlyMap<string, SafetensorsFile>,
  ) {}

  has(name: string): boolean {
    return this.shardOf.get(name)?.has(name) ?? false;
  }

  shapeOf(name: string): readonly number[] | undefined {
    return this.shardOf.get(name)?.shapeOf(name);
  }

  readF32(name: string, expectedShape?: readonly number[]): Float32Array {
    const shard = this.shardOf.get(name);
    if (shard === undefined) throw new MissingTensorError(this.indexFileName, name);
    return shard.readF32(name, expectedShape);
  }
}

export const SAFETENSORS_FILE = "model.safetensors";
export const SAFETENSORS_INDEX_FILE = "model.safetensors.index.json";

/**
 * Loads `model.safetensors`, or every shard listed in `model.safetensors.index.json`.
 * @throws ModelSourceError when neither exists; ModelFormatError for a corrupt file or index.
 */
export async function loadSafetensors(source: ModelSource, onProgress?: ProgressCallback): Promise<TensorStore> {
  const single = await readOptional(source, SAFETENSORS_FILE, onProgress);
  if (single !== null) return SafetensorsFile.parse(single, fileLabel(source, SAFETENSORS_FILE));
  const indexLabel = fileLabel(source, SAFETENSORS_INDEX_FILE);
  const indexBytes = await source.read(SAFETENSORS_INDEX_FILE, onProgress);
  const weightMap = parseIndex(indexBytes, indexLabel);
  const shards = new Map<string, SafetensorsFile>();
  for (const shardName of new Set(weightMap.values())) {
    // Sequential on purpose: shards can be GBs each, and one at a time bounds peak memory.
    const bytes = await source.read(shardName, onProgress);
    shards.set(shardName, SafetensorsFile.parse(bytes, fileLabel(source, shardName)));
  }
  const shardOf = new Map<string, SafetensorsFile>();
  for (const [tensorName, shardName] of weightMap) {
    const shard = shards.get(shardName)!;
    if (!shard.has(tensorName)) throw new MissingTensorError(shard.fileName, tensorName);
    shardOf.set(tensorName, shard);
  }
  return new ShardedTensorStore(indexLabel, shardOf);
}

export function parseIndex(bytes: Uint8Array, indexLabel: string): Map<string, string> {
  let index: { weight_map?: unknown };
  try {
    index = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new ModelFormatError(indexLabel, `not valid JSON (${(err as Error).message})`);
  }
  const weightMap = index?.weight_map;
  if (typeof weightMap !== "object" || weightMap === null) throw new ModelFormatError(indexLabel, "no weight_map object");
  const entries = Object.entries(weightMap as Record<string, unknown>);
  for (const [tensorName, shardName] of entries) {
    // A shard name is a bare file name; anything else could read outside the model directory.
    if (typeof shardName !== "string" || !/^[\w.-]+\.safetensors$/.test(shardName)) {
      throw new ModelFormatError(indexLabel, `weight_map entry ${JSON.stringify(shardName)} is not a shard file name`, tensorName);
    }
  }
  return new Map(entries as [string, string][]);
}
