// src/gpu/layout.ts — the ONE TypeScript source of the WGSL override constants (STYLE L2) and of
// the sizes derived from the pool geometry. Every host wrapper in src/gpu/kernels/ builds its
// pipeline `constants` with the functions below; test/shaders/overrides.test.ts checks that
// the keys are exactly the `override` names of each kernel's concatenated WGSL.

import {
  DECODE_KEYS_PER_LANE, DECODE_MAX_SPLIT_BLOCKS, DECODE_MAX_SPLIT_KEYS, MAX_BATCH_SEQS, MAX_PREFILL_HEAD_SIZE,
  PREFILL_TILE_KEYS, PREFILL_TILE_ROWS, kvBlockBytes, kvRecordWords, type PoolGeometry,
} from "../contract";

// The constants WGSL mirrors live in src/contract.ts (checked against the shaders there); the
// GPU code imports them from here with the rest of its sizes.
export {
  BATCH_UNIFORM_BYTES, DECODE_KEYS_PER_LANE, DECODE_MAX_SPLIT_BLOCKS, DECODE_MAX_SPLIT_KEYS, MAX_BATCH_SEQS,
  MAX_PREFILL_HEAD_SIZE, PREFILL_TILE_KEYS, PREFILL_TILE_ROWS,
} from "../contract";
export type { KvDtype, PoolGeometry } from "../contract";

/** KV shard buffers bound per kernel (CONTRACTS.md); unused ones get a 16-byte dummy. */
export const MAX_KV_SHARDS = 4;
/** Most query heads per KV head the kernels accept (decode runs one workgroup per quad of 4). */
export const MAX_GROUP_SIZE = 32;

/** Workgroup sizes, per kernel. */
export const WG = {
  appendKv: 64,
  /** Target invocations of a decode workgroup (rounded to a whole number of key groups of d/4 lanes). */
  decode: 32,
  decodeReduce: 128,
  decodeMetric: 128,
  /** Prefill attention: 16 × 16 lanes, a literal in the shader (its tiling is built on it). */
  prefill: 256,
  prefillMetric: 64,
  order: 128,
  /** Device pass kernels (pass_*.wgsl); pass_rank_global needs exactly one invocation per bin (256). */
  pass: 256,
  moves: 64,
  tablePatch: 64,
} as const;

/** Most splits per head (decode_reduce keeps their weights in workgroup memory): heads up to
 *  DECODE_MAX_SPLITS · DECODE_MAX_SPLIT_KEYS = 1M tokens. */
export const DECODE_MAX_SPLITS = 1024;
/** Workgroups the decode split grid aims for: enough one-subgroup workgroups to fill a large GPU
 *  (2048 beat 1024 and 4096 on an H200 for one sequence; docs/bench/gpu.md v10). */
export const DECODE_TARGET_WORKGROUPS = 2048;
/** Elements sorted per workgroup in the fused local bitonic stages (2 per invocation). */
export const ORDER_LOCAL_ELEMS = 2 * WG.order;

/** Bytes of one physical block: key and value records of b slots (q8/q4 scales included). */
export const blockBytes = (d: PoolGeometry) => kvBlockBytes(d.blockSize, d.headSize, d.dtype);
export const groupSize = (d: PoolGeometry) => d.numQHeads / d.numKvHeads;
export const numHeadsTotal = (d: PoolGeometry) => d.numLayers * d.maxSeqs * d.numKvHeads;
/** Longest logical head: maxBlocksPerHead · b. */
export const maxCtx = (d: PoolGeometry) => d.maxBlocksPerHead * d.blockSize;
/** i32 words of the headTables mirror: ctxLens, then blockTables. */
export const headTablesWords = (d: PoolGeometry) => numHeadsTotal(d) * (1 + d.maxBlocksPerHead);
/** u32 words of slotMeta: metrics (f32 bits), then positions. */
export const slotMetaWords = (d: PoolGeometry) => 2 * d.numBlocks * d.blockSize;
/** Smallest power of two ≥ n (≥ 1). */
export const nextPow2 = (n: number) => (n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n)));
/** Padded segment length of one head in the score ordering. */
export const orderSegmentLen = (d: PoolGeometry) => Math.max(ORDER_LOCAL_ELEMS, nextPow2(maxCtx(d)));

/** Blocks per shard for a binding limit; the pool spans ceil(numBlocks / this) shards. */
export function blocksPerShardFor(d: PoolGeometry, maxBindingBytes: number): number {
  return Math.max(1, Math.floor(maxBindingBytes / blockBytes(d)));
}

type Consts = Record<string, number>;

/** Overrides of shaders/common/pool.wgsl. */
export const poolConstants = (d: PoolGeometry): Consts => ({
  NUM_LAYERS: d.numLayers,
  MAX_SEQS: d.maxSeqs,
  NUM_KV_HEADS: d.numKvHeads,
  MAX_BLOCKS_PER_HEAD: d.maxBlocksPerHead,
  NUM_BLOCKS: d.numBlocks,
  BLOCK_SIZE: d.blockSize,
});

/** Overrides of shaders/common/kv_{f32,f16,q8,q4}.wgsl (RECORD_WORDS: u32 words per key record). */
export const kvConstants = (d: PoolGeometry, blocksPerShard: number): Consts => ({
  HEAD_SIZE: d.headSize,
  BLOCKS_PER_SHARD: blocksPerShard,
  ...(d.dtype === "q8" || d.dtype === "q4" ? { RECORD_WORDS: kvRecordWords(d.headSize, d.dtype) } : {}),
});

export const appendKvConstants = (d: PoolGeometry, bps: number): Consts => ({
  ...poolConstants(d), ...kvConstants(d, bps), WG_SIZE: WG.appendKv,
});

/** Numeric knobs of the decode kernel; the defaults are what the SDK uses (bench/ sweeps them). */
export interface DecodeTuning {
  /** Target invocations per workgroup; the kernel gets decodeWgSize / decodeSubgroupWgSize(d, this). */
  wgSize: number;
  /** Most keys per split: a multiple of 32 in [32, DECODE_MAX_SPLIT_KEYS]. */
  maxSplitKeys: number;
  /** Use paged_attention_decode_subgroup.wgsl where the device allows it (decodeSubgroupFits). */
  subgroups: boolean;
  /** Grid order: split s of every head side by side (true) or a head's splits side by side (false). */
  splitMajor: boolean;
}

export const DEFAULT_DECODE_TUNING: Readonly<DecodeTuning> = {
  wgSize: WG.decode, maxSplitKeys: DECODE_MAX_SPLIT_KEYS, subgroups: true, splitMajor: false,
};

/** Pool bytes above which decode runs 128-invocation workgroups by default. */
export const DECODE_WIDE_WG_POOL_BYTES = 4 * 2 ** 30;

/**
 * The decode knobs the SDK uses for pool geometry `d`: DEFAULT_DECODE_TUNING, with 128-invocation
 * workgroups (4 subgroups a split) where the pool holds more than DECODE_WIDE_WG_POOL_BYTES: on an
 * H200, 127K × 16 (8 GiB) with scattered blocks 5.6–5.9 → 3.8–4.2 ms in three runs on three days,
 * while on pools of 2 GiB and less they cost time (docs/bench/gpu.md).
 */
export const decodeDefaultTuning = (d: PoolGeometry): DecodeTuning => ({
  ...DEFAULT_DECODE_TUNING, ...(d.numBlocks * blockBytes(d) > DECODE_WIDE_WG_POOL_BYTES ? { wgSize: 4 * WG.decode } : {}),
});

/** Lanes of one key in the subgroup decode kernel: each owns 2 chunks (8 elements) of a row. */
export const decodeSubgroupLanesPerKey = (d: Pick<PoolGeometry, "headSize">) => d.headSize / 8;

/** Whether paged_attention_decode_subgroup.wgsl can run: d a multiple of 8 and a key's lanes (a
 *  power of two) within the adapter's smallest subgroup. */
export const decodeSubgroupFits = (d: Pick<PoolGeometry, "headSize">, subgroupMinSize: number): boolean => {
  const lanes = decodeSubgroupLanesPerKey(d);
  return d.headSize % 8 === 0 && Number.isInteger(Math.log2(lanes)) && lanes <= subgroupMinSize;
};

/** The largest whole number (≥ 1) of key groups of `lanesPerKey` lanes within `target` invocations. */
const wholeKeyGroups = (lanesPerKey: number, target: number) => lanesPerKey * Math.max(1, Math.floor(target / lanesPerKey));

/** Subgroup decode workgroup size: whole key groups of d/8 lanes. */
export const decodeSubgroupWgSize = (d: Pick<PoolGeometry, "headSize">, target: number = WG.decode): number =>
  wholeKeyGroups(decodeSubgroupLanesPerKey(d), target);

/** Decode workgroup size: whole key groups of d/4 lanes (one lane per 4-element chunk of a row). */
export const decodeWgSize = (d: Pick<PoolGeometry, "headSize">, target: number = WG.decode): number =>
  wholeKeyGroups(d.headSize / 4, target);

export const decodeConstants = (d: PoolGeometry, bps: number, t: DecodeTuning = DEFAULT_DECODE_TUNING): Consts => ({
  ...poolConstants(d), ...kvConstants(d, bps),
  GROUP_SIZE: groupSize(d), WG_SIZE: decodeWgSize(d, t.wgSize), MAX_SPLIT_KEYS: t.maxSplitKeys,
  KV_SHARDS: Math.ceil(d.numBlocks / bps), SPLIT_MAJOR: t.splitMajor ? 1 : 0,
});

export const decodeSubgroupConstants = (d: PoolGeometry, bps: number, t: DecodeTuning = DEFAULT_DECODE_TUNING): Consts => ({
  ...decodeConstants(d, bps, t), WG_SIZE: decodeSubgroupWgSize(d, t.wgSize),
});

export const decodeReduceConstants = (d: PoolGeometry): Consts => ({
  HEAD_SIZE: d.headSize, NUM_Q_HEADS: d.numQHeads, WG_SIZE: WG.decodeReduce, MAX_SPLITS: DECODE_MAX_SPLITS,
});

export const decodeMetricConstants = (d: PoolGeometry): Consts => ({
  ...poolConstants(d), GROUP_SIZE: groupSize(d), WG_SIZE: WG.decodeMetric,
});

export const prefillConstants = (d: PoolGeometry, bps: number): Consts => ({
  ...poolConstants(d), ...kvConstants(d, bps), GROUP_SIZE: groupSize(d),
});

/** Prompt tokens per prefill workgroup: its PREFILL_TILE_ROWS rows hold every head of the group. */
export const prefillTileTokens = (d: Pick<PoolGeometry, "numQHeads" | "numKvHeads">): number =>
  Math.floor(PREFILL_TILE_ROWS / (d.numQHeads / d.numKvHeads));

export const prefillMetricConstants = (d: PoolGeometry, bps: number): Consts => ({
  ...poolConstants(d), ...kvConstants(d, bps), GROUP_SIZE: groupSize(d), WG_SIZE: WG.prefillMetric,
});

export const prefillPoolConstants = (d: PoolGeometry): Consts => ({
  ...poolConstants(d), GROUP_SIZE: groupSize(d), WG_SIZE: WG.prefillMetric,
});

export const orderConstants = (d: PoolGeometry): Consts => ({
  ...poolConstants(d), WG_SIZE: WG.order,
});

/** order_gather reads stored values (value-aware ranking), so it also gets the kv include's. */
export const orderGatherConstants = (d: PoolGeometry, bps: number): Consts => ({
  ...orderConstants(d), ...kvConstants(d, bps),
});

export const orderSortConstants = (): Consts => ({ WG_SIZE: WG.order });

/** KVs per invocation of the device pass's per-KV kernels: a chunk is WG.pass · PASS_ITEMS KVs
 *  (pass_moves keeps one bit per KV in a u32, so ≤ 32; the scan packs two counts in 16 bits each). */
export const PASS_ITEMS = 16;
export const PASS_CHUNK = WG.pass * PASS_ITEMS;
export const passConstants = (d: PoolGeometry): Consts => ({ ...poolConstants(d), WG_SIZE: WG.pass });
export const passItemsConstants = (d: PoolGeometry): Consts => ({ ...passConstants(d), ITEMS: PASS_ITEMS });

export const appendKvQuantConstants = appendKvConstants;

export const movesConstants = (d: PoolGeometry, bps: number): Consts => ({
  ...poolConstants(d), ...kvConstants(d, bps), WG_SIZE: WG.moves,
});
export const tablePatchConstants = (d: PoolGeometry): Consts => ({ ...poolConstants(d), WG_SIZE: WG.tablePatch });
