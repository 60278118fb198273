// src/layout.ts — the ONE TypeScript source of the WGSL override constants (STYLE L2) and of
// the sizes derived from the pool geometry. Every host wrapper in src/kernels/ builds its
// pipeline `constants` with the functions below; test/shaders/overrides.test.ts checks that
// the keys are exactly the `override` names of each kernel's concatenated WGSL.

/** KV storage dtype: f32, or f16 packed two per u32 with pack2x16float. */
export type KvDtype = "f32" | "f16";

/** Pool and model geometry the kernels are specialised for (docs/CONTRACTS.md "Names"). */
export interface KernelDims {
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

/** KV shard buffers bound per kernel (CONTRACTS.md); unused ones get a 16-byte dummy. */
export const MAX_KV_SHARDS = 4;
/** Sequences per dispatch; mirrors `MAX_BATCH_SEQS` in shaders/common/batch.wgsl. */
export const MAX_BATCH_SEQS = 64;
/** Bytes of the Batch uniform (2 vec4u of args + MAX_BATCH_SEQS vec4u). */
export const BATCH_UNIFORM_BYTES = 32 + 16 * MAX_BATCH_SEQS;
/** Most query heads per KV head the kernels accept (decode keeps them in registers in chunks of 8). */
export const MAX_GROUP_SIZE = 32;
/** Prefill keeps one query and its accumulator in registers: head size cap for that kernel. */
export const MAX_PREFILL_HEAD_SIZE = 128;

/** Workgroup sizes, per kernel. */
export const WG = {
  appendKv: 64,
  decode: 256,
  decodeReduce: 128,
  decodeMetric: 128,
  prefill: 64,
  prefillMetric: 64,
  order: 128,
  moves: 64,
  copy: 256,
} as const;

/** Keys per decode split held in workgroup memory (the host picks splitKeys ≤ this). */
export const DECODE_MAX_SPLIT_KEYS = 256;
/** Most splits per head (decode_reduce keeps their weights in workgroup memory): with
 *  DECODE_MAX_SPLIT_KEYS keys a split, heads up to 256K tokens. */
export const DECODE_MAX_SPLITS = 1024;
/** Invocations sharing one key's dot product in the decode score pass (divides WG.decode). */
export const DECODE_LANES_PER_KEY = 2;
/** Keys staged per prefill tile in workgroup memory (a WGSL `const`: it sizes a register array). */
export const PREFILL_TILE_KEYS = 16;
/** Elements sorted per workgroup in the fused local bitonic stages (2 per invocation). */
export const ORDER_LOCAL_ELEMS = 2 * WG.order;

export const bytesPerElem = (dtype: KvDtype) => (dtype === "f16" ? 2 : 4);
/** Bytes of one physical block: key and value, b slots, d elements. */
export const blockBytes = (d: KernelDims) => 2 * d.blockSize * d.headSize * bytesPerElem(d.dtype);
export const groupSize = (d: KernelDims) => d.numQHeads / d.numKvHeads;
export const numHeadsTotal = (d: KernelDims) => d.numLayers * d.maxSeqs * d.numKvHeads;
/** Longest logical head: maxBlocksPerHead · b. */
export const maxCtx = (d: KernelDims) => d.maxBlocksPerHead * d.blockSize;
/** i32 words of the headTables mirror: ctxLens, then blockTables. */
export const headTablesWords = (d: KernelDims) => numHeadsTotal(d) * (1 + d.maxBlocksPerHead);
/** u32 words of slotMeta: metrics (f32 bits), then positions. */
export const slotMetaWords = (d: KernelDims) => 2 * d.numBlocks * d.blockSize;
/** Smallest power of two ≥ n (≥ 1). */
export const nextPow2 = (n: number) => (n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n)));
/** Padded segment length of one head in the score ordering. */
export const orderSegmentLen = (d: KernelDims) => Math.max(ORDER_LOCAL_ELEMS, nextPow2(maxCtx(d)));

/** Blocks per shard for a binding limit; the pool spans ceil(numBlocks / this) shards. */
export function blocksPerShardFor(d: KernelDims, maxBindingBytes: number): number {
  return Math.max(1, Math.floor(maxBindingBytes / blockBytes(d)));
}

type Consts = Record<string, number>;

/** Overrides of shaders/common/pool.wgsl. */
export const poolConstants = (d: KernelDims): Consts => ({
  NUM_LAYERS: d.numLayers,
  MAX_SEQS: d.maxSeqs,
  NUM_KV_HEADS: d.numKvHeads,
  MAX_BLOCKS_PER_HEAD: d.maxBlocksPerHead,
  NUM_BLOCKS: d.numBlocks,
  BLOCK_SIZE: d.blockSize,
});

/** Overrides of shaders/common/kv_f32.wgsl / kv_f16.wgsl. */
export const kvConstants = (d: KernelDims, blocksPerShard: number): Consts => ({
  HEAD_SIZE: d.headSize,
  BLOCKS_PER_SHARD: blocksPerShard,
});

export const appendKvConstants = (d: KernelDims, bps: number): Consts => ({
  ...poolConstants(d), ...kvConstants(d, bps), WG_SIZE: WG.appendKv,
});

/** Numeric knobs of the decode kernel; the defaults are what the SDK uses (bench/ sweeps them). */
export interface DecodeTuning {
  wgSize: number;
  maxSplitKeys: number;
  lanesPerKey: number;
  /** Plain kvShard0 loads when the pool has one shard (SINGLE_SHARD override); false = always switch. */
  shardFastPath: boolean;
  /** Several shards: pick the shard once per key in the score pass (HOIST_SHARD); off: untimed with
   *  the multi-shard pipeline as shipped (docs/bench/gpu.md v5). */
  hoistShardSwitch: boolean;
}

export const DEFAULT_DECODE_TUNING: Readonly<DecodeTuning> = {
  wgSize: WG.decode, maxSplitKeys: DECODE_MAX_SPLIT_KEYS, lanesPerKey: DECODE_LANES_PER_KEY,
  shardFastPath: true, hoistShardSwitch: false,
};

export const decodeConstants = (d: KernelDims, bps: number, t: DecodeTuning = DEFAULT_DECODE_TUNING): Consts => ({
  ...poolConstants(d), ...kvConstants(d, bps),
  GROUP_SIZE: groupSize(d), WG_SIZE: t.wgSize, MAX_SPLIT_KEYS: t.maxSplitKeys, LANES_PER_KEY: t.lanesPerKey,
  SINGLE_SHARD: t.shardFastPath && d.numBlocks <= bps ? 1 : 0, HOIST_SHARD: t.hoistShardSwitch ? 1 : 0,
});

export const decodeReduceConstants = (d: KernelDims): Consts => ({
  HEAD_SIZE: d.headSize, NUM_Q_HEADS: d.numQHeads, WG_SIZE: WG.decodeReduce, MAX_SPLITS: DECODE_MAX_SPLITS,
});

export const decodeMetricConstants = (d: KernelDims): Consts => ({
  ...poolConstants(d), GROUP_SIZE: groupSize(d), WG_SIZE: WG.decodeMetric,
});

export const prefillConstants = (d: KernelDims, bps: number): Consts => ({
  ...poolConstants(d), ...kvConstants(d, bps),
  GROUP_SIZE: groupSize(d), WG_SIZE: WG.prefill,
});

export const prefillMetricConstants = (d: KernelDims, bps: number): Consts => ({
  ...poolConstants(d), ...kvConstants(d, bps), GROUP_SIZE: groupSize(d), WG_SIZE: WG.prefillMetric,
});

export const prefillPoolConstants = (d: KernelDims): Consts => ({
  ...poolConstants(d), GROUP_SIZE: groupSize(d), WG_SIZE: WG.prefillMetric,
});

export const orderConstants = (d: KernelDims): Consts => ({
  ...poolConstants(d), WG_SIZE: WG.order,
});

export const orderSortConstants = (): Consts => ({ WG_SIZE: WG.order });

export const movesConstants = (d: KernelDims, bps: number): Consts => ({
  ...poolConstants(d), ...kvConstants(d, bps), WG_SIZE: WG.moves,
});

export const copyConstants = (): Consts => ({ WG_SIZE: WG.copy });
