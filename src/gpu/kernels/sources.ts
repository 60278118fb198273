// src/gpu/kernels/sources.ts — every WGSL file as text, and which files each kernel concatenates
// (common helpers first, the kernel last, except where a kernel's `enable` directive must open the
// module; STYLE L1/L2: variants are files, never templates).

import {
  type PoolGeometry, type KvDtype, appendKvConstants, appendKvQuantConstants, decodeConstants, decodeMetricConstants, decodeSubgroupConstants,
  decodeReduceConstants, movesConstants, tablePatchConstants, orderConstants, orderGatherConstants, orderSortConstants, passConstants, passItemsConstants, prefillConstants,
  prefillMetricConstants, prefillPoolConstants,
} from "../layout";
import poolWgsl from "../../../shaders/common/pool.wgsl";
import batchWgsl from "../../../shaders/common/batch.wgsl";
import passHeadWgsl from "../../../shaders/common/pass_head.wgsl";
import passKeyWgsl from "../../../shaders/common/pass_key.wgsl";
import passStateWgsl from "../../../shaders/common/pass_state.wgsl";
import kvF32Wgsl from "../../../shaders/common/kv_f32.wgsl";
import kvF16Wgsl from "../../../shaders/common/kv_f16.wgsl";
import kvQ8Wgsl from "../../../shaders/common/kv_q8.wgsl";
import kvQ4Wgsl from "../../../shaders/common/kv_q4.wgsl";
import decodeSplitWgsl from "../../../shaders/common/decode_split.wgsl";
import appendKvWgsl from "../../../shaders/append_kv.wgsl";
import appendKvQuantWgsl from "../../../shaders/append_kv_quant.wgsl";
import decodeWgsl from "../../../shaders/paged_attention_decode.wgsl";
import decodeSubgroupWgsl from "../../../shaders/paged_attention_decode_subgroup.wgsl";
import decodeReduceWgsl from "../../../shaders/decode_reduce.wgsl";
import decodeMetricWgsl from "../../../shaders/decode_metric.wgsl";
import prefillWgsl from "../../../shaders/paged_attention_prefill.wgsl";
import prefillScoresWgsl from "../../../shaders/prefill_metric_scores.wgsl";
import prefillPoolWgsl from "../../../shaders/prefill_metric_pool.wgsl";
import orderGatherWgsl from "../../../shaders/order_gather.wgsl";
import orderSortLocalWgsl from "../../../shaders/order_sort_local.wgsl";
import orderSortGlobalWgsl from "../../../shaders/order_sort_global.wgsl";
import orderChunkKeysWgsl from "../../../shaders/order_chunk_keys.wgsl";
import orderMarkWgsl from "../../../shaders/order_mark_evicted.wgsl";
import orderCompactWgsl from "../../../shaders/order_compact_evicted.wgsl";
import movesWgsl from "../../../shaders/execute_cache_moves.wgsl";
import tablePatchWgsl from "../../../shaders/table_patch.wgsl";
import passHistogramWgsl from "../../../shaders/pass_histogram.wgsl";
import passGlobalSumWgsl from "../../../shaders/pass_global_sum.wgsl";
import passRankGlobalWgsl from "../../../shaders/pass_rank_global.wgsl";
import passRankHeadWgsl from "../../../shaders/pass_rank_head.wgsl";
import passTallyWgsl from "../../../shaders/pass_tally.wgsl";
import passOffsetsWgsl from "../../../shaders/pass_offsets.wgsl";
import passMovesWgsl from "../../../shaders/pass_moves.wgsl";

export const WGSL: Readonly<Record<string, string>> = {
  "common/pool.wgsl": poolWgsl,
  "common/batch.wgsl": batchWgsl,
  "common/pass_head.wgsl": passHeadWgsl,
  "common/pass_key.wgsl": passKeyWgsl,
  "common/pass_state.wgsl": passStateWgsl,
  "common/kv_f32.wgsl": kvF32Wgsl,
  "common/kv_f16.wgsl": kvF16Wgsl,
  "common/kv_q8.wgsl": kvQ8Wgsl,
  "common/kv_q4.wgsl": kvQ4Wgsl,
  "common/decode_split.wgsl": decodeSplitWgsl,
  "append_kv.wgsl": appendKvWgsl,
  "append_kv_quant.wgsl": appendKvQuantWgsl,
  "paged_attention_decode.wgsl": decodeWgsl,
  "paged_attention_decode_subgroup.wgsl": decodeSubgroupWgsl,
  "decode_reduce.wgsl": decodeReduceWgsl,
  "decode_metric.wgsl": decodeMetricWgsl,
  "paged_attention_prefill.wgsl": prefillWgsl,
  "prefill_metric_scores.wgsl": prefillScoresWgsl,
  "prefill_metric_pool.wgsl": prefillPoolWgsl,
  "order_gather.wgsl": orderGatherWgsl,
  "order_sort_local.wgsl": orderSortLocalWgsl,
  "order_sort_global.wgsl": orderSortGlobalWgsl,
  "order_chunk_keys.wgsl": orderChunkKeysWgsl,
  "order_mark_evicted.wgsl": orderMarkWgsl,
  "order_compact_evicted.wgsl": orderCompactWgsl,
  "execute_cache_moves.wgsl": movesWgsl,
  "table_patch.wgsl": tablePatchWgsl,
  "pass_histogram.wgsl": passHistogramWgsl,
  "pass_global_sum.wgsl": passGlobalSumWgsl,
  "pass_rank_global.wgsl": passRankGlobalWgsl,
  "pass_rank_head.wgsl": passRankHeadWgsl,
  "pass_tally.wgsl": passTallyWgsl,
  "pass_offsets.wgsl": passOffsetsWgsl,
  "pass_moves.wgsl": passMovesWgsl,
};

const kvFile = (dtype: KvDtype) => `common/kv_${dtype}.wgsl`;
const withKv = (dtype: KvDtype, file: string) => ["common/pool.wgsl", "common/batch.wgsl", kvFile(dtype), file];
const withPool = (file: string) => ["common/pool.wgsl", "common/batch.wgsl", file];
const withBatch = (file: string) => ["common/batch.wgsl", file];
const withPass = (file: string) => ["common/pool.wgsl", "common/batch.wgsl", "common/pass_head.wgsl", file];
/** The device pass's kernels: pool, batch, the pass head (for those that read KVs), the key, the state words. */
const withPassKeys = (file: string) => ["common/pool.wgsl", "common/batch.wgsl", "common/pass_head.wgsl", "common/pass_key.wgsl", "common/pass_state.wgsl", file];
const withPassState = (file: string) => ["common/pool.wgsl", "common/batch.wgsl", "common/pass_state.wgsl", file];

/** File lists per kernel, in concatenation order. */
export const KERNEL_FILES = {
  appendKv: (dtype: KvDtype) => withKv(dtype, "append_kv.wgsl"),
  /** q8/q4 only (the quantizer lives in their kv include). */
  appendKvQuant: (dtype: KvDtype) => withKv(dtype, "append_kv_quant.wgsl"),
  decode: (dtype: KvDtype) => ["common/pool.wgsl", "common/batch.wgsl", kvFile(dtype), "common/decode_split.wgsl", "paged_attention_decode.wgsl"],
  // The kernel first: its `enable subgroups;` must open the module (declarations are order-free).
  decodeSubgroup: (dtype: KvDtype) => ["paged_attention_decode_subgroup.wgsl", "common/pool.wgsl", "common/batch.wgsl", kvFile(dtype), "common/decode_split.wgsl"],
  decodeReduce: () => withBatch("decode_reduce.wgsl"),
  decodeMetric: () => withPool("decode_metric.wgsl"),
  prefill: (dtype: KvDtype) => withKv(dtype, "paged_attention_prefill.wgsl"),
  prefillScores: (dtype: KvDtype) => withKv(dtype, "prefill_metric_scores.wgsl"),
  prefillPool: () => withPool("prefill_metric_pool.wgsl"),
  orderGather: (dtype: KvDtype) => ["common/pool.wgsl", "common/batch.wgsl", kvFile(dtype), "common/pass_head.wgsl", "common/pass_key.wgsl", "order_gather.wgsl"],
  orderSortLocal: () => withBatch("order_sort_local.wgsl"),
  orderSortGlobal: () => withBatch("order_sort_global.wgsl"),
  orderChunkKeys: () => withPass("order_chunk_keys.wgsl"),
  orderMark: () => withPass("order_mark_evicted.wgsl"),
  orderCompact: () => withPass("order_compact_evicted.wgsl"),
  moves: (dtype: KvDtype) => withKv(dtype, "execute_cache_moves.wgsl"),
  tablePatch: () => withPool("table_patch.wgsl"),
  passHistogram: () => withPassKeys("pass_histogram.wgsl"),
  passGlobalSum: () => withPassState("pass_global_sum.wgsl"),
  passRankGlobal: () => withPassState("pass_rank_global.wgsl"),
  passRankHead: () => withPassState("pass_rank_head.wgsl"),
  passTally: () => withPassKeys("pass_tally.wgsl"),
  passOffsets: () => withPassState("pass_offsets.wgsl"),
  passMoves: () => withPassKeys("pass_moves.wgsl"),
} as const;

export const sourcesOf = (files: string[]) => files.map((f) => WGSL[f]);

type ConstFn = (d: PoolGeometry, blocksPerShard: number) => Record<string, number>;

/** The pipeline constants each kernel gets: wrappers and test/shaders/overrides.test.ts both use this. */
export const KERNEL_CONSTANTS: Record<keyof typeof KERNEL_FILES, ConstFn> = {
  appendKv: appendKvConstants,
  appendKvQuant: appendKvQuantConstants,
  decode: decodeConstants,
  decodeSubgroup: decodeSubgroupConstants,
  decodeReduce: (d) => decodeReduceConstants(d),
  decodeMetric: (d) => decodeMetricConstants(d),
  prefill: prefillConstants,
  prefillScores: prefillMetricConstants,
  prefillPool: (d) => prefillPoolConstants(d),
  orderGather: orderGatherConstants,
  orderSortLocal: () => orderSortConstants(),
  orderSortGlobal: () => orderSortConstants(),
  orderChunkKeys: (d) => orderConstants(d),
  orderMark: (d) => orderConstants(d),
  orderCompact: (d) => orderConstants(d),
  moves: movesConstants,
  tablePatch: (d) => tablePatchConstants(d),
  passHistogram: (d) => passItemsConstants(d),
  passGlobalSum: (d) => passConstants(d),
  passRankGlobal: (d) => passConstants(d),
  passRankHead: (d) => passConstants(d),
  passTally: (d) => passItemsConstants(d),
  passOffsets: (d) => passConstants(d),
  passMoves: (d) => passItemsConstants(d),
};
