// src/gpu/pool.ts — the GPU side of the KV pool (docs/CONTRACTS.md "Block pool", "KV storage").
//
//   kvShards[0..3]  storage  [localBlock, 2 (key, value), b, d] f32 or packed f16 (2 per u32);
//                            shard s holds blocks [s·blocksPerShard, (s+1)·blocksPerShard);
//                            shards past numShards are 16-byte dummies (one each: no aliasing).
//   headTables      storage  i32 [ctxLens: numLayers·maxSeqs·numKvHeads
//                                 | blockTables: [numLayers, maxSeqs, numKvHeads, maxBlocksPerHead]]
//   slotMeta        storage  u32 [slotMetrics (f32 bits): numBlocks·b | slotPositions: numBlocks·b]
//
// Everything is allocated here, at creation, so out-of-memory and limit errors surface from
// createGpuKvPool rather than mid-step (STYLE L3). Uploads are queue.writeBuffer only.

import {
  type PoolGeometry, MAX_KV_SHARDS, blockBytes, blocksPerShardFor, headTablesWords, numHeadsTotal, slotMetaWords,
} from "./layout";
import { ConfigError, InvalidArgumentError, LimitTooLowError } from "../errors";

export interface GpuKvPool {
  readonly dims: Readonly<PoolGeometry>;
  readonly blocksPerShard: number;
  readonly numShards: number;
  /** Always MAX_KV_SHARDS entries; those past numShards are distinct 16-byte dummies. */
  readonly kvShards: readonly GPUBuffer[];
  readonly headTables: GPUBuffer;
  readonly slotMeta: GPUBuffer;
  /** Byte offset of blockTables inside headTables (ctxLens start at 0). */
  readonly blockTablesOffsetBytes: number;
  /** Byte offset of slotPositions inside slotMeta (slotMetrics start at 0). */
  readonly positionsOffsetBytes: number;
  /** Uploads the whole ctxLens [numLayers, maxSeqs, numKvHeads] and blockTables mirrors. */
  writeHeadTables(ctxLens: Int32Array<ArrayBuffer>, blockTables: Int32Array<ArrayBuffer>): void;
  /** Uploads ctxLens of heads [firstHeadIdx, firstHeadIdx + values.length) (flat [layer, seq, kvHead]). */
  writeCtxLens(firstHeadIdx: number, values: Int32Array<ArrayBuffer>): void;
  /** Uploads one block-table row (≤ maxBlocksPerHead entries) of head headIdx. */
  writeBlockTableRow(headIdx: number, row: Int32Array<ArrayBuffer>): void;
  /** Bind-group entries 0..5 (shards, headTables, slotMeta) for any kernel's group 0. */
  /** The pool's buffers by binding name (src/contract.ts KERNEL_IO): kvShard0..3, headTables, slotMeta. */
  poolBuffers(): Record<"kvShard0" | "kvShard1" | "kvShard2" | "kvShard3" | "headTables" | "slotMeta", GPUBuffer>;
  destroy(): void;
}

export interface GpuKvPoolOptions {
  /** Override the binding limit (tests force tiny shards with it); default: the device limit. */
  maxBindingBytes?: number;
  /** Extra usages for every shard (COPY_SRC/COPY_DST are always set). */
  label?: string;
}

export function createGpuKvPool(device: GPUDevice, dims: PoolGeometry, opts: GpuKvPoolOptions = {}): GpuKvPool {
  validateDims(dims);
  const limit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  const maxBindingBytes = Math.min(opts.maxBindingBytes ?? limit, limit);
  if (maxBindingBytes < blockBytes(dims)) throw new LimitTooLowError("maxStorageBufferBindingSize", blockBytes(dims), maxBindingBytes);
  const blocksPerShard = Math.min(blocksPerShardFor(dims, maxBindingBytes), dims.numBlocks);
  const numShards = Math.ceil(dims.numBlocks / blocksPerShard);
  if (numShards > MAX_KV_SHARDS) {
    throw new LimitTooLowError("maxStorageBufferBindingSize", Math.ceil(dims.numBlocks / MAX_KV_SHARDS) * blockBytes(dims), maxBindingBytes);
  }
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const label = opts.label ?? "kv";
  const shards: GPUBuffer[] = [];
  for (let s = 0; s < numShards; s++) {
    const blocks = Math.min(blocksPerShard, dims.numBlocks - s * blocksPerShard);
    shards.push(device.createBuffer({ label: `${label}-shard${s}`, size: blocks * blockBytes(dims), usage }));
  }
  // One dummy per unused binding: writable bindings of one dispatch must not alias.
  const dummies: GPUBuffer[] = [];
  while (shards.length + dummies.length < MAX_KV_SHARDS) dummies.push(device.createBuffer({ label: `${label}-dummy${dummies.length}`, size: 16, usage }));
  const kvShards = [...shards, ...dummies];
  const headTables = device.createBuffer({ label: `${label}-headTables`, size: 4 * headTablesWords(dims), usage });
  const slotMeta = device.createBuffer({ label: `${label}-slotMeta`, size: 4 * slotMetaWords(dims), usage });
  const blockTablesOffsetBytes = 4 * numHeadsTotal(dims);
  const positionsOffsetBytes = 4 * dims.numBlocks * dims.blockSize;
  const q = device.queue;
  return {
    dims: Object.freeze({ ...dims }), blocksPerShard, numShards, kvShards, headTables, slotMeta,
    blockTablesOffsetBytes, positionsOffsetBytes,
    writeHeadTables(ctxLens, blockTables) {
      if (ctxLens.length !== numHeadsTotal(dims)) throw new InvalidArgumentError("ctxLens.length", ctxLens.length, `numLayers · maxSeqs · numKvHeads = ${numHeadsTotal(dims)}`);
      if (blockTables.length !== numHeadsTotal(dims) * dims.maxBlocksPerHead) throw new InvalidArgumentError("blockTables.length", blockTables.length, `${numHeadsTotal(dims) * dims.maxBlocksPerHead} entries`);
      q.writeBuffer(headTables, 0, ctxLens);
      q.writeBuffer(headTables, blockTablesOffsetBytes, blockTables);
    },
    writeCtxLens(firstHeadIdx, values) { q.writeBuffer(headTables, 4 * firstHeadIdx, values); },
    writeBlockTableRow(headIdx, row) {
      if (row.length > dims.maxBlocksPerHead) throw new InvalidArgumentError("row.length", row.length, `at most maxBlocksPerHead ${dims.maxBlocksPerHead}`);
      q.writeBuffer(headTables, blockTablesOffsetBytes + 4 * headIdx * dims.maxBlocksPerHead, row);
    },
    poolBuffers() {
      return { kvShard0: kvShards[0], kvShard1: kvShards[1], kvShard2: kvShards[2], kvShard3: kvShards[3], headTables, slotMeta };
    },
    destroy() {
      for (const b of shards) b.destroy();
      for (const b of dummies) b.destroy();
      headTables.destroy(); slotMeta.destroy();
    },
  };
}

function validateDims(d: PoolGeometry): void {
  if (d.headSize % 4 !== 0 || d.headSize <= 0) throw new ConfigError("headSize", `must be a positive multiple of 4, got ${d.headSize}`);
  if (d.numQHeads % d.numKvHeads !== 0) throw new ConfigError("numQHeads", `${d.numQHeads} is not a multiple of numKvHeads ${d.numKvHeads}`);
  for (const k of ["numLayers", "maxSeqs", "numKvHeads", "blockSize", "numBlocks", "maxBlocksPerHead"] as const) {
    if (!(Number.isInteger(d[k]) && d[k] > 0)) throw new ConfigError(k, `must be a positive integer, got ${d[k]}`);
  }
}

/** Host-side packing of a RefPool-like KV array ([numBlocks·b, d] by slot) into shard images. */
export function packShards(dims: PoolGeometry, blocksPerShard: number, data: { keys: ArrayLike<number>; values: ArrayLike<number> }): ArrayBuffer[] {
  const { headSize: d, blockSize: b, numBlocks } = dims;
  const out: ArrayBuffer[] = [];
  for (let s = 0; s * blocksPerShard < numBlocks; s++) {
    const blocks = Math.min(blocksPerShard, numBlocks - s * blocksPerShard);
    const n = blocks * 2 * b * d;
    const f = new Float32Array(n);
    for (let lb = 0; lb < blocks; lb++) for (let kv = 0; kv < 2; kv++) for (let o = 0; o < b; o++) {
      const slot = (s * blocksPerShard + lb) * b + o;
      const src = kv === 0 ? data.keys : data.values;
      for (let j = 0; j < d; j++) f[((lb * 2 + kv) * b + o) * d + j] = src[slot * d + j];
    }
    out.push(dims.dtype === "f32" ? f.buffer : packF16(f));
  }
  return out;
}

/** f32 → packed f16 words (round to nearest even), the layout pack2x16float writes. */
export function packF16(f: Float32Array): ArrayBuffer {
  const u = new Uint16Array(f.length);
  for (let i = 0; i < f.length; i++) u[i] = f32ToF16Bits(f[i]);
  return u.buffer;
}

const cvt = new DataView(new ArrayBuffer(4));
export function f32ToF16Bits(x: number): number {
  cvt.setFloat32(0, x);
  const bits = cvt.getUint32(0);
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}

export function f16BitsToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
