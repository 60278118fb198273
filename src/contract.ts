// contract.ts — every crossing between TypeScript, WebAssembly and WGSL, written once as data.
//
//  - PoolGeometry: the one shape of a KV pool. The SDK config, the control plane, the GPU
//    kernels and the CPU pool are all specialised with it (poolGeometry() builds it once).
//  - WASM_REGIONS: the control plane's linear-memory regions in header-slot order. The
//    AssemblyScript layout (assembly/layout.ts, whose R_* slots and regionBytes() must agree),
//    the TypeScript views (src/control/wasmMemory.ts) and the CPU pool's pointers use it.
//  - KERNEL_IO: each WGSL kernel's group-0 bindings by name and its Batch uniform fields by
//    name (the kernel's `struct Args` / `struct Seq`). Host wrappers bind buffers and write
//    uniforms by these names; packUniform() lays the words out as WGSL does.
//  - MIRRORED_WGSL_CONSTANTS: WGSL `const`s that must equal a TypeScript constant.
//
// test/unit/contract.test.ts reads the WGSL sources and the AssemblyScript layout and fails when
// either disagrees with this file; it needs no GPU.

import { InternalError } from "./errors";

/** KV storage dtype: f32, f16 packed two per u32 with pack2x16float, or 8/4-bit codes with
 *  per-token scales in the block (docs/QUANTIZATION.md). */
export type KvDtype = "f32" | "f16" | "q8" | "q4";

/** Channels per quantization group (one f16 scale + f16 min per group of a key or value). */
export const QUANT_GROUP = 32;
export const isQuantized = (dtype: KvDtype): dtype is "q8" | "q4" => dtype === "q8" || dtype === "q4";
/** u32 words of one key (or value) record of one slot: d elements, and for q8/q4 their scales. */
export function kvRecordWords(headSize: number, dtype: KvDtype): number {
  switch (dtype) {
    case "f32": return headSize;
    case "f16": return headSize / 2;
    case "q8": return Math.ceil(headSize / QUANT_GROUP) + headSize / 4;
    case "q4": return Math.ceil(headSize / QUANT_GROUP) + headSize / 8;
  }
}
/** Bytes of one physical block: key and value records of b slots (scales included). */
export const kvBlockBytes = (blockSize: number, headSize: number, dtype: KvDtype) => 8 * blockSize * kvRecordWords(headSize, dtype);

/** Pool and model geometry (docs/CONTRACTS.md "Names"). */
export interface PoolGeometry {
  numLayers: number;
  maxSeqs: number;
  numKvHeads: number;
  numQHeads: number;
  headSize: number;
  blockSize: number;
  numBlocks: number;
  maxBlocksPerHead: number;
  dtype: KvDtype;
}

/** The geometry of a validated cache config (src/config.ts KvCacheConfig): the one conversion. */
export function poolGeometry(c: {
  numLayers: number; maxSeqs: number; numKvHeads: number; numQHeads: number; headSize: number;
  blockSize: number; numBlocks: number; maxBlocksPerHead: number; storage: KvDtype;
}): PoolGeometry {
  return {
    numLayers: c.numLayers, maxSeqs: c.maxSeqs, numKvHeads: c.numKvHeads, numQHeads: c.numQHeads,
    headSize: c.headSize, blockSize: c.blockSize, numBlocks: c.numBlocks, maxBlocksPerHead: c.maxBlocksPerHead,
    dtype: c.storage,
  };
}

// ── control.wasm linear memory ──────────────────────────────────────────────────────────────

/** i32 words of the header at layoutOffsets(): config words, then one byte offset per region. */
export const HEADER_WORDS = 64;
/** Header words 0.. hold these config values, in this order (assembly/layout.ts computeLayout). */
export const HEADER_CONFIG = ["numLayers", "numKvHeads", "blockSize", "numBlocks", "maxSeqs", "maxBlocksPerHead"] as const;
/** Header word of the first region's offset; region i is at word REGION_SLOT_BASE + i. */
export const REGION_SLOT_BASE = 8;

type RegionGeometry = Pick<PoolGeometry, "numLayers" | "maxSeqs" | "numKvHeads" | "maxBlocksPerHead" | "numBlocks" | "blockSize">;
export type RegionElem = "i32" | "u32" | "f32";

export interface RegionSpec {
  readonly name: string;
  readonly elem: RegionElem;
  /** Elements the region holds (pass arrays are sized for k = maxSeqs). */
  readonly length: (g: RegionGeometry) => number;
}

/** i32 words per sequence in the seqSteps region, named by SEQ_STEP_FIELDS (assembly/steps.ts). */
export const SEQ_STEP_WORDS = 8;
/** Word i of a sequence's seqSteps row (assembly/steps.ts SS_*; evicted KVs as two u32 words). */
export const SEQ_STEP_FIELDS = ["numNew", "prefilling", "promptTokens", "passes", "evictedLo", "evictedHi", "numAppended", "budget"] as const;
/** Words 0.. of the pressure region (assembly/pressure.ts PP_*); sequence ids follow, from word 8. */
export const PRESSURE_FIELDS = ["action", "blocksNeeded", "blocksFree", "blocksFreeable", "numCompress", "numPreempt"] as const;
export const PRESSURE_HEADER_WORDS = 8;

const headRows = (g: RegionGeometry) => g.numLayers * g.maxSeqs * g.numKvHeads;

/** Regions in header-slot order; the diagram in assembly/layout.ts says what each holds. */
export const WASM_REGIONS = [
  { name: "blockTables", elem: "i32", length: (g) => headRows(g) * g.maxBlocksPerHead },
  { name: "ctxLens", elem: "i32", length: headRows },
  { name: "seqLens", elem: "i32", length: (g) => g.maxSeqs },
  { name: "seqBirth", elem: "i32", length: (g) => g.maxSeqs },
  { name: "freeRing", elem: "i32", length: (g) => g.numBlocks },
  { name: "blockOwner", elem: "i32", length: (g) => g.numBlocks },
  { name: "passSeqIds", elem: "i32", length: (g) => g.maxSeqs },
  { name: "passBudgets", elem: "i32", length: (g) => g.maxSeqs },
  { name: "layerCaps", elem: "i32", length: (g) => g.numLayers },
  { name: "chunkKeys", elem: "f32", length: (g) => headRows(g) * g.maxBlocksPerHead },
  { name: "evictBlocks", elem: "i32", length: headRows },
  { name: "evictCounts", elem: "i32", length: headRows },
  { name: "evictedOffsets", elem: "u32", length: (g) => headRows(g) + 1 },
  { name: "evictedIdx", elem: "u32", length: (g) => g.numBlocks * g.blockSize },
  { name: "moveOffsets", elem: "u32", length: (g) => headRows(g) + 1 },
  { name: "moves", elem: "u32", length: (g) => 2 * g.numBlocks * g.blockSize },
  { name: "freedBlocks", elem: "i32", length: (g) => g.numBlocks },
  { name: "seqBlocks", elem: "i32", length: (g) => g.maxSeqs },
  { name: "scratch", elem: "i32", length: (g) => g.numLayers * g.numKvHeads * 4 },
  { name: "seqSteps", elem: "i32", length: (g) => g.maxSeqs * SEQ_STEP_WORDS },
  { name: "seqAppended", elem: "i32", length: (g) => g.maxSeqs * g.numLayers },
  { name: "poolCounts", elem: "i32", length: () => 4 },
  { name: "pressure", elem: "i32", length: (g) => PRESSURE_HEADER_WORDS + g.maxSeqs },
] as const satisfies readonly RegionSpec[];

export type RegionName = (typeof WASM_REGIONS)[number]["name"];

/** Header word that holds `region`'s byte offset ("end": one past the last region). */
export function regionSlot(region: RegionName | "end"): number {
  if (region === "end") return REGION_SLOT_BASE + WASM_REGIONS.length;
  const i = WASM_REGIONS.findIndex((r) => r.name === region);
  return REGION_SLOT_BASE + i;
}

const align16 = (n: number) => Math.ceil(n / 16) * 16;

/** Bytes of the whole control-plane layout above __heap_base (header + every region, 16-aligned). */
export function controlLayoutBytes(g: RegionGeometry): number {
  let bytes = HEADER_WORDS * 4;
  for (const r of WASM_REGIONS) bytes = align16(bytes + 4 * r.length(g));
  return bytes;
}

// ── WGSL kernels: bindings and Batch uniform fields ─────────────────────────────────────────

/** How a binding is declared: read-write storage, read-only storage, the Batch uniform (dynamic
 *  offset into a ring), or a plain uniform (the model kernels' Args and Step). */
export type BindingKind = "storage" | "read-only-storage" | "batch" | "uniform";

/** Binding number of the Batch uniform in every kernel (shaders/common/batch.wgsl). */
export const BATCH_BINDING = 6;
/** Sequences per dispatch: the length of `Batch.seqs` in shaders/common/batch.wgsl. */
export const MAX_BATCH_SEQS = 64;
/** Most `Args` fields (u32) a kernel's uniform may have. */
export const MAX_UNIFORM_ARGS = 8;
/** Every `Seq` row is exactly this many u32 fields (a uniform array element is 16 bytes). */
export const SEQ_FIELDS = 4;
/** Bytes of the Batch uniform: at most 8 args, padded to 16, then MAX_BATCH_SEQS rows of 16 bytes. */
export const BATCH_UNIFORM_BYTES = 4 * MAX_UNIFORM_ARGS + 16 * MAX_BATCH_SEQS;

export interface KernelIo {
  /** Binding name (the WGSL variable) → [binding number, kind]. */
  readonly bindings: Readonly<Record<string, readonly [number, BindingKind]>>;
  /** Fields of the kernel's `struct Args`, in declaration order (all u32). */
  readonly args: readonly string[];
  /** Fields of its `struct Seq`, exactly SEQ_FIELDS; names starting with `_` are padding. */
  readonly seq: readonly string[];
}

const rw = "storage" as const, ro = "read-only-storage" as const, batch = [BATCH_BINDING, "batch"] as const;
const kvShards = { kvShard0: [0, rw], kvShard1: [1, rw], kvShard2: [2, rw], kvShard3: [3, rw] } as const;
const headTables = [4, rw] as const, slotMeta = [5, rw] as const;
const noSeq = ["_pad0", "_pad1", "_pad2", "_pad3"] as const;
/** A decode row: the sequence and its row in the batch's query/out arrays. */
const decodeSeq = ["seqId", "qRow", "_pad0", "_pad1"] as const;
/** New tokens of one sequence: rows [tokenStart, tokenStart + numNew) at positions firstPos... */
const chunkSeq = ["seqId", "tokenStart", "numNew", "firstPos"] as const;
const orderSeq = ["seqId", "seqLen", "_pad0", "_pad1"] as const;
/** A sequence of the device pass: its id, length (protection, queryAvg) and budget E in blocks. */
const passSeq = ["seqId", "seqLen", "budget", "_pad0"] as const;
const passKeyArgs = ["protectedWindow", "sinks", "queryAvg"] as const;

/** Each kernel's I/O. Keys are the kernel names of src/gpu/kernels/sources.ts KERNEL_FILES. */
export const KERNEL_IO = {
  appendKv: {
    bindings: { ...kvShards, headTables, slotMeta, batch, newKeys: [7, ro], newValues: [8, ro] },
    args: ["layer", "numSeqs", "tokenBase", "numTokens"], seq: chunkSeq,
  },
  decode: {
    bindings: { ...kvShards, headTables, batch, queries: [7, ro], scratch: [8, rw] },
    args: ["layer", "numSeqs", "splitKeys", "maxSplits", "metricMode", "scoresOffset", "mlOffset", "scoresStride"], seq: decodeSeq,
  },
  decodeSubgroup: {
    bindings: { ...kvShards, headTables, batch, queries: [7, ro], scratch: [8, rw] },
    args: ["layer", "numSeqs", "splitKeys", "maxSplits", "metricMode", "scoresOffset", "mlOffset", "scoresStride"], seq: decodeSeq,
  },
  decodeReduce: {
    bindings: { batch, scratch: [7, rw], out: [8, rw] },
    args: ["numSeqs", "maxSplits", "mlOffset", "finalOffset"], seq: decodeSeq,
  },
  decodeMetric: {
    bindings: { headTables, slotMeta, batch, scratch: [7, ro] },
    args: ["layer", "numSeqs", "metricMode", "scoresStride", "scoresOffset", "finalOffset", "groupMax"], seq: decodeSeq,
  },
  prefill: {
    bindings: { ...kvShards, headTables, slotMeta, batch, queries: [7, ro], out: [8, rw] },
    args: ["layer", "numSeqs", "maxTiles", "lseOffset"], seq: chunkSeq,
  },
  prefillScores: {
    bindings: { ...kvShards, headTables, slotMeta, batch, queries: [7, ro], work: [8, rw] },
    args: ["layer", "numSeqs", "obsWindow", "metricMode", "lseOffset", "scoresOffset", "scoresStride"], seq: chunkSeq,
  },
  prefillPool: {
    bindings: { headTables, slotMeta, batch, work: [7, ro] },
    args: ["layer", "numSeqs", "poolHalf", "groupMax", "scoresOffset", "scoresStride"], seq: chunkSeq,
  },
  orderGather: {
    bindings: { ...kvShards, headTables, slotMeta, batch, sortBuf: [7, rw] },
    args: ["numSeqs", "segLen", "protectedWindow", "sinks", "queryAvg", "valueNorm"], seq: orderSeq,
  },
  orderSortLocal: { bindings: { batch, sortBuf: [7, rw] }, args: ["firstBlockLen", "lastBlockLen"], seq: noSeq },
  orderSortGlobal: { bindings: { batch, sortBuf: [7, rw] }, args: ["blockLen", "stride", "numPairs"], seq: noSeq },
  orderChunkKeys: {
    bindings: { headTables, batch, sortBuf: [7, ro], chunkKeys: [8, rw] }, args: ["numSeqs", "segLen"], seq: orderSeq,
  },
  orderMark: {
    bindings: { headTables, batch, sortBuf: [7, ro], evictCounts: [8, ro], flags: [9, rw] }, args: ["numSeqs", "segLen"], seq: orderSeq,
  },
  orderCompact: {
    bindings: { headTables, batch, flags: [7, ro], evictedOffsets: [8, ro], evictedIdx: [9, rw] }, args: ["numSeqs", "segLen"], seq: orderSeq,
  },
  appendKvQuant: {
    bindings: { ...kvShards, headTables, slotMeta, batch, newKeys: [7, ro], newValues: [8, ro] },
    args: ["layer", "numSeqs", "tokenBase", "numTokens"], seq: chunkSeq,
  },
  moves: {
    bindings: { ...kvShards, slotMeta, batch, moves: [7, ro] }, args: ["firstMove", "numMoves"], seq: noSeq,
  },
  tablePatch: { bindings: { headTables, batch, patches: [7, ro] }, args: ["firstPatch", "numPatches"], seq: noSeq },
  // The device pass (src/gpu/kernels/devicePass.ts; state words in shaders/common/pass_state.wgsl).
  passHistogram: {
    bindings: { headTables, slotMeta, batch, state: [7, ro], hist: [8, rw] },
    args: ["numSeqs", "phase", "round", "posDigits", "chunksPerHead", ...passKeyArgs], seq: passSeq,
  },
  passGlobalSum: {
    bindings: { headTables, batch, state: [7, ro], hist: [8, rw], gsum: [9, rw] }, args: ["numSeqs", "round"], seq: passSeq,
  },
  passRankGlobal: {
    bindings: { headTables, batch, state: [7, rw], hist: [8, ro], gsum: [9, rw], result: [10, rw] }, args: ["numSeqs", "round"], seq: passSeq,
  },
  passRankHead: { bindings: { batch, state: [7, rw], hist: [8, rw] }, args: ["numSeqs", "round", "posDigits"], seq: noSeq },
  passTally: {
    bindings: { headTables, slotMeta, batch, state: [7, ro], tally: [8, rw] }, args: ["numSeqs", "chunksPerHead", ...passKeyArgs], seq: passSeq,
  },
  passOffsets: { bindings: { batch, state: [7, rw], tally: [8, ro], result: [9, rw] }, args: ["numSeqs", "chunksPerHead"], seq: noSeq },
  passMoves: {
    bindings: { headTables, slotMeta, batch, state: [7, ro], tally: [8, ro], moves: [9, rw] },
    args: ["numSeqs", "chunksPerHead", ...passKeyArgs], seq: passSeq,
  },
} as const satisfies Record<string, KernelIo>;

export type KernelName = keyof typeof KERNEL_IO;
/** The binding names of kernel K. */
export type BindingName<K extends KernelName> = keyof (typeof KERNEL_IO)[K]["bindings"] & string;
/** The Args fields of kernel K. */
export type ArgsOf<K extends KernelName> = Record<(typeof KERNEL_IO)[K]["args"][number], number>;
/** The non-padding Seq fields of kernel K. */
export type SeqOf<K extends KernelName> = Record<Exclude<(typeof KERNEL_IO)[K]["seq"][number], `_${string}`>, number>;

/** Byte offset of `Batch.seqs`: WGSL puts a struct member after a struct at a multiple of 16. */
export const seqsOffsetBytes = (io: KernelIo) => align16(4 * io.args.length);

/**
 * Lays out one Batch uniform as WGSL reads it: `Args` fields by name, then one `Seq` row per
 * sequence. Every non-padding field must be given and no unknown one (an internal error).
 */
export function packUniform(io: KernelIo, args: Readonly<Record<string, number>>,
  seqs: readonly Readonly<Record<string, number>>[], out: Uint32Array): void {
  out.fill(0);
  if (seqs.length > MAX_BATCH_SEQS) throw new InternalError(`uniform: ${seqs.length} seqs > MAX_BATCH_SEQS ${MAX_BATCH_SEQS}`);
  const given = Object.keys(args);
  if (given.length !== io.args.length) throw new InternalError(`uniform: args ${given.join(",")} != ${io.args.join(",")}`);
  io.args.forEach((name, i) => {
    const v = args[name];
    if (v === undefined) throw new InternalError(`uniform: missing arg ${name}`);
    out[i] = v;
  });
  const base = seqsOffsetBytes(io) / 4;
  const fields = io.seq.filter((f) => !f.startsWith("_"));
  for (let k = 0; k < seqs.length; k++) {
    const row = seqs[k];
    if (Object.keys(row).length !== fields.length) throw new InternalError(`uniform: seq fields ${Object.keys(row).join(",")} != ${fields.join(",")}`);
    io.seq.forEach((name, j) => {
      if (name.startsWith("_")) return;
      const v = row[name];
      if (v === undefined) throw new InternalError(`uniform: missing seq field ${name}`);
      out[base + SEQ_FIELDS * k + j] = v;
    });
  }
}

// ── WGSL model kernels (shaders/model): bindings, Args, and the per-step uniform ─────────────

/** A model kernel's I/O: bindings by name, and its `struct Args` fields (u32; f32 values as bits). */
export interface ModelKernelIo {
  readonly bindings: Readonly<Record<string, readonly [number, BindingKind]>>;
  readonly args: readonly string[];
}

/** Fields of `struct Step` (shaders/model/common/step.wgsl), written once per step by the host. */
export const MODEL_STEP_FIELDS = ["numTokens", "startPos", "temperatureBits", "topPBits", "rBits", "_pad0", "_pad1", "_pad2"] as const;
const margs = [6, "uniform"] as const, mstep = [7, "uniform"] as const, weight = [1, ro] as const;
const pad4 = (...f: string[]) => [...f, "_pad0", "_pad1", "_pad2", "_pad3"].slice(0, 4);
const mvArgs = ["inDim", "outDim", "rowStart", "rowCount", "flags", "epsBits", "split1", "split2", "headSize", "_pad0", "_pad1", "_pad2"] as const;
const mmArgs = ["inDim", "outDim", "rowStart", "rowCount", "flags", "wRow0", "kSplit", "_pad2"] as const;
const mvBindings = { x: [0, ro], W: weight, bias: [2, ro], y: [3, rw], nw: [5, ro], y2: [8, rw], y3: [9, rw], invFreq: [10, ro], args: margs, step: mstep } as const;
const mmBindings = { x: [0, ro], W: weight, bias: [2, ro], y: [3, rw], part: [4, rw], args: margs, step: mstep } as const;
/** The fused gate/up/SwiGLU matvec: W the gate weight, W2 the up weight. */
const glu = { x: [0, ro], W: weight, W2: [4, ro], y: [3, rw], nw: [5, ro], args: margs, step: mstep } as const;
const gluArgs = ["inDim", "outDim", "rowStart", "rowCount", "flags", "epsBits", "_pad0", "_pad1"] as const;

/** Each model kernel's I/O. Keys are the kernel names of src/gpu/model/sources.ts MODEL_KERNEL_FILES. */
export const MODEL_KERNEL_IO = {
  embed: { bindings: { ids: [0, ro], W: weight, outv: [2, rw], args: margs, step: mstep }, args: ["dim", "rowStart", "rowCount", "_pad0"] },
  rmsNorm: { bindings: { x: [0, ro], W: weight, outv: [2, rw], args: margs, step: mstep }, args: ["dim", "epsBits", "_pad0", "_pad1"] },
  matvec: { bindings: mvBindings, args: mvArgs },
  matvecSubgroup: { bindings: mvBindings, args: mvArgs },
  matvecSwiglu: { bindings: glu, args: gluArgs },
  matvecSwigluSubgroup: { bindings: glu, args: gluArgs },
  matmul: { bindings: mmBindings, args: mmArgs },
  /** No split-K: the same bindings less `part`, Args without kSplit. */
  matmulSubgroupMatrix: { bindings: { x: [0, ro], W: weight, bias: [2, ro], y: [3, rw], args: margs, step: mstep },
    args: ["inDim", "outDim", "rowStart", "rowCount", "flags", "wRow0", "_pad1", "_pad2"] },
  /** The sum of a split-K matmul's partials (+ bias, + y). */
  matmulReduce: { bindings: { part: [0, ro], bias: [2, ro], y: [3, rw], args: margs, step: mstep },
    args: ["outDim", "rowStart", "rowCount", "flags", "numSplits", "_pad0", "_pad1", "_pad2"] },
  rope: { bindings: { x: [0, rw], invFreq: [1, ro], args: margs, step: mstep }, args: ["heads", "headSize", "style", "_pad0"] },
  swiglu: { bindings: { gate: [0, rw], up: [1, ro], args: margs, step: mstep }, args: pad4("width") },
  add: { bindings: { x: [0, ro], y: [1, rw], args: margs, step: mstep }, args: pad4("width") },
  argmax: { bindings: { logits: [0, ro], outv: [1, rw], args: margs }, args: pad4("vocab") },
  sampleTopP: { bindings: { logits: [0, ro], outv: [1, rw], args: margs, step: mstep }, args: pad4("vocab") },
  /** rope with a position per row (batched decode: one row per sequence). */
  ropeRows: { bindings: { x: [0, rw], invFreq: [1, ro], positions: [2, ro], args: margs, step: mstep }, args: ["heads", "headSize", "style", "_pad0"] },
  /** sampleTopP with (temperature, topP, r) per row; rows at temperature 0 are skipped. */
  sampleRows: { bindings: { logits: [0, ro], outv: [1, rw], rowParams: [2, ro], args: margs }, args: pad4("vocab") },
} as const satisfies Record<string, ModelKernelIo>;

export type ModelKernelName = keyof typeof MODEL_KERNEL_IO;

/** A model kernel's Args words from named fields (padding zero); unknown or missing fields throw. */
export function packModelArgs(io: ModelKernelIo, args: Readonly<Record<string, number>>): Uint32Array<ArrayBuffer> {
  const out = new Uint32Array(Math.max(4, Math.ceil(io.args.length / 4) * 4));
  const fields = io.args.filter((f) => !f.startsWith("_"));
  const given = Object.keys(args);
  if (given.length !== fields.length || given.some((g) => !fields.includes(g))) {
    throw new InternalError(`model args: ${given.join(",")} != ${fields.join(",")}`);
  }
  io.args.forEach((name, i) => { if (!name.startsWith("_")) out[i] = args[name]! >>> 0; });
  return out;
}

/** f32 → its bits as a u32 (how f32 values travel in the all-u32 uniforms). */
export function f32Bits(v: number): number {
  F32_SCRATCH[0] = v;
  return U32_SCRATCH[0]!;
}
const F32_SCRATCH = new Float32Array(1);
const U32_SCRATCH = new Uint32Array(F32_SCRATCH.buffer);

// ── WGSL constants mirrored by TypeScript ───────────────────────────────────────────────────

/** Most keys of one decode split (the host picks splitKeys ≤ this). */
export const DECODE_MAX_SPLIT_KEYS = 1024;
/** Most blocks of one decode split: DECODE_MAX_SPLIT_KEYS over the smallest block size, 8. A WGSL
 *  literal in shaders/common/decode_split.wgsl (naga rejects workgroup arrays sized by overrides). */
export const DECODE_MAX_SPLIT_BLOCKS = 128;
/** Keys each lane of the portable decode kernel loads per iteration (named fields there). */
export const DECODE_KEYS_PER_LANE = 8;
/** Keys per prefill tile: one K/V tile is read once for all query rows of the workgroup. */
export const PREFILL_TILE_KEYS = 64;
/** Query rows (token, head of the group) per prefill workgroup: floor(64 / groupSize) tokens. */
export const PREFILL_TILE_ROWS = 64;
/** Prefill stages 16 keys × d/4 chunks of V (512 vec4) and the metric keeps a key in registers: head size ≤ 128. */
export const MAX_PREFILL_HEAD_SIZE = 128;

/** WGSL file → `const NAME` → the value TypeScript assumes. */
export const MIRRORED_WGSL_CONSTANTS: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  "common/batch.wgsl": { MAX_BATCH_SEQS },
  "common/decode_split.wgsl": { MAX_SPLIT_BLOCKS: DECODE_MAX_SPLIT_BLOCKS },
  "paged_attention_decode.wgsl": { KEYS_PER_LANE: DECODE_KEYS_PER_LANE },
  "paged_attention_prefill.wgsl": { TILE_KEYS: PREFILL_TILE_KEYS, TILE_ROWS: PREFILL_TILE_ROWS },
  "prefill_metric_scores.wgsl": { MAX_CHUNKS: MAX_PREFILL_HEAD_SIZE / 4 },
  "common/kv_q8.wgsl": { QUANT_GROUP },
  "common/kv_q4.wgsl": { QUANT_GROUP },
};
