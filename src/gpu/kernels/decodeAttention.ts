// src/gpu/kernels/decodeAttention.ts — host wrapper of the paged decode attention: the split-K
// partial kernel (shaders/paged_attention_decode_subgroup.wgsl where the device has subgroups
// that fit a key's lanes, else shaders/paged_attention_decode.wgsl), its reduce
// (decode_reduce.wgsl) and the metric pass (decode_metric.wgsl, skipped for metricMode 0).
// Built once, encode only (STYLE L3).

import { KERNEL_IO } from "../../contract";
import type { GpuKvPool } from "../pool";
import { BatchRing, batchChunks, maxBindingBytes } from "../dispatch";
import {
  DECODE_KEYS_PER_LANE, DECODE_MAX_SPLIT_BLOCKS, DECODE_MAX_SPLITS, DECODE_MAX_SPLIT_KEYS, DECODE_TARGET_WORKGROUPS, DEFAULT_DECODE_TUNING, type DecodeTuning, decodeDefaultTuning,
  MAX_GROUP_SIZE, WG, decodeConstants, decodeSubgroupConstants, decodeSubgroupFits, decodeSubgroupLanesPerKey,
  decodeSubgroupWgSize, decodeWgSize, groupSize, maxCtx, type PoolGeometry,
} from "../layout";
import { ConfigError, InternalError, InvalidArgumentError, LimitTooLowError } from "../../errors";
import { KERNEL_CONSTANTS, KERNEL_FILES, sourcesOf } from "./sources";
import { bindGroup, bufferId, buildKernel, encodeLinear, workgroupStorageBytes } from "./build";

export type MetricMode = 0 | 1 | 2;
export type GroupReduce = "sum" | "max";

export interface DecodeAttentionArgs {
  layer: number;
  /** Sequences of the batch; batch index k = position in this list. */
  seqIds: readonly number[];
  /** f32 [k, numQHeads, headSize], unscaled (the kernel applies 1/sqrt(d)). */
  queries: GPUBuffer;
  /** f32 [k, numQHeads, headSize], written. */
  out: GPUBuffer;
  /** 0 none, 1 L1 (+= Σ_group p), 2 L2 (+= Σ_group p²). */
  metricMode: MetricMode;
  /** How the r query heads of a group combine (default "sum", docs/METHOD.md §2.2; "max" is an ablation). */
  groupReduce?: GroupReduce;
  /** Upper bound on the ctxLen of these heads (default maxBlocksPerHead · b); sizes the split grid. */
  maxCtxLen?: number;
}

export interface DecodeAttentionOptions {
  /** Most sequences per encode (sizes the scratch). */
  maxBatchSeqs: number;
  /** Allocate raw-score scratch for metricMode ≠ 0 (default true). */
  withMetric?: boolean;
  /** Workgroups the split grid aims for (default DECODE_TARGET_WORKGROUPS). */
  targetWorkgroups?: number;
  /** Kernel knobs (default decodeDefaultTuning(d)); the bench sweeps them. */
  tuning?: Partial<DecodeTuning>;
}

/** Which partial kernel runs: paged_attention_decode_subgroup.wgsl or paged_attention_decode.wgsl. */
export type DecodeVariant = "subgroup" | "portable";

export interface DecodeAttention {
  encode(pass: GPUComputePassEncoder, args: DecodeAttentionArgs): void;
  readonly variant: DecodeVariant;
  /** Bytes of the internal scratch buffer. */
  readonly scratchBytes: number;
  destroy(): void;
}

/** Workgroups per (seq, kvHead, split): one per quad of the query group. */
const quadsOf = (d: PoolGeometry) => Math.ceil(groupSize(d) / 4);

/** Raw-score floats of the metric: [B, numKvHeads, quads, maxCtx, 4] (a key's 4 scores of a quad side by side). */
const scoreFloats = (d: PoolGeometry, B: number) => B * d.numKvHeads * quadsOf(d) * 4 * maxCtx(d);

/** Most (batch index, split) pairs any split choice produces (see chooseSplitKeys). */
function maxRowsSplits(d: PoolGeometry, maxBatchSeqs: number, target: number, maxSplitKeys: number): number {
  return Math.max(maxBatchSeqs * Math.ceil(maxCtx(d) / maxSplitKeys), Math.ceil(target / (d.numKvHeads * quadsOf(d))) + maxBatchSeqs);
}

/** Scratch bytes of createDecodeAttention for a batch size (lets a caller pick maxBatchSeqs that fits). */
export function decodeScratchBytes(d: PoolGeometry, maxBatchSeqs: number, withMetric = true, targetWorkgroups = DECODE_TARGET_WORKGROUPS,
  maxSplitKeys = DEFAULT_DECODE_TUNING.maxSplitKeys): number {
  const B = maxBatchSeqs, C = maxCtx(d);
  const rowsSplits = maxRowsSplits(d, B, targetWorkgroups, maxSplitKeys);
  return 4 * (rowsSplits * d.numQHeads * (d.headSize + 2) + B * d.numQHeads * 2 + (withMetric ? scoreFloats(d, B) : 0));
}

/**
 * Keys per split: maxSplitKeys when the grid of numSeqs · numKvHeads · quads workgroups per split
 * already reaches `target`, else fewer (a multiple of 32) so one sequence still fills the GPU;
 * never so few that a head needs more than DECODE_MAX_SPLITS splits.
 */
export function chooseSplitKeys(numSeqs: number, numKvHeads: number, quads: number, ctxLen: number, target: number, maxSplitKeys: number): number {
  const heads = numSeqs * numKvHeads * quads;
  if (heads * Math.ceil(ctxLen / maxSplitKeys) >= target) return maxSplitKeys;
  const keys = Math.ceil((heads * ctxLen) / target / 32) * 32;
  const fewest = Math.ceil(ctxLen / DECODE_MAX_SPLITS / 32) * 32;
  return Math.min(maxSplitKeys, Math.max(32, fewest, keys));
}

/**
 * chooseSplitKeys for the batch chunk of `numSeqs` sequences whose rows start at `rowBase`: its
 * scratch rows are (rowBase + numSeqs) · splits, so a later chunk of a batch over MAX_BATCH_SEQS
 * may not take the many splits a small chunk alone would (that overflowed the scratch, 2026-12-02,
 * 65+ sequences of 1 280 tokens); then keys per split grow until it fits `rowsSplits`.
 */
export function batchChunkSplitKeys(rowBase: number, numSeqs: number, numKvHeads: number, quads: number, ctxLen: number, target: number,
  maxSplitKeys: number, rowsSplits: number): number {
  const keys = chooseSplitKeys(numSeqs, numKvHeads, quads, ctxLen, target, maxSplitKeys);
  const cap = Math.floor(rowsSplits / (rowBase + numSeqs));
  if (Math.ceil(ctxLen / keys) <= cap) return keys;
  return Math.min(maxSplitKeys, Math.ceil(ctxLen / Math.max(1, cap) / 32) * 32);
}

export async function createDecodeAttention(device: GPUDevice, pool: GpuKvPool, opts: DecodeAttentionOptions): Promise<DecodeAttention> {
  const d = pool.dims;
  const r = groupSize(d);
  const numQHeads = d.numQHeads;
  if (r > MAX_GROUP_SIZE) throw new ConfigError("numQHeads", `numQHeads / numKvHeads = ${r} query heads per KV head; the decode kernel takes at most ${MAX_GROUP_SIZE}`);
  const tune: DecodeTuning = { ...decodeDefaultTuning(d), ...opts.tuning };
  const MSK = tune.maxSplitKeys;
  // Splits start on block boundaries: splitKeys is a multiple of 32 and of b (b ∈ {8, 16, 32}).
  if (!(MSK >= 32 && MSK <= DECODE_MAX_SPLIT_KEYS && MSK % 32 === 0 && MSK % d.blockSize === 0)) {
    throw new ConfigError("maxSplitKeys", `${MSK}: must be a multiple of 32 and of blockSize ${d.blockSize} in [32, ${DECODE_MAX_SPLIT_KEYS}]`);
  }
  const variant = decodeVariant(device, d, tune.subgroups);
  const wgSize = variant === "subgroup" ? decodeSubgroupWgSize(d, tune.wgSize) : decodeWgSize(d, tune.wgSize);
  if (wgSize > device.limits.maxComputeInvocationsPerWorkgroup) {
    throw new LimitTooLowError("maxComputeInvocationsPerWorkgroup", wgSize, device.limits.maxComputeInvocationsPerWorkgroup);
  }
  const quads = quadsOf(d);
  if (MSK / d.blockSize > DECODE_MAX_SPLIT_BLOCKS) throw new ConfigError("maxSplitKeys", `${MSK} keys are more than ${DECODE_MAX_SPLIT_BLOCKS} blocks of ${d.blockSize}`);
  const partialSpec = variant === "subgroup" ? {
    file: "paged_attention_decode_subgroup.wgsl", sources: sourcesOf(KERNEL_FILES.decodeSubgroup(d.dtype)),
    io: KERNEL_IO.decodeSubgroup, constants: decodeSubgroupConstants(d, pool.blocksPerShard, tune),
  } : {
    file: "paged_attention_decode.wgsl", sources: sourcesOf(KERNEL_FILES.decode(d.dtype)),
    io: KERNEL_IO.decode, constants: decodeConstants(d, pool.blocksPerShard, tune),
  };
  const wgBytes = workgroupStorageBytes(partialSpec.sources.join("\n"), partialSpec.constants);
  if (wgBytes > device.limits.maxComputeWorkgroupStorageSize) {
    throw new LimitTooLowError("maxComputeWorkgroupStorageSize", wgBytes, device.limits.maxComputeWorkgroupStorageSize);
  }
  const target = opts.targetWorkgroups ?? DECODE_TARGET_WORKGROUPS;
  const B = opts.maxBatchSeqs, C = maxCtx(d);
  // chooseSplitKeys never makes more splits than this; checked here so that a context the
  // kernel cannot cover fails when the cache is created, not when a step is encoded.
  if (Math.ceil(C / MSK) > DECODE_MAX_SPLITS) {
    throw new ConfigError("maxContextTokens", `${C} tokens need ${Math.ceil(C / MSK)} decode splits of ${MSK} keys; the decode kernel takes at most ${DECODE_MAX_SPLITS}`);
  }
  const rowsSplits = maxRowsSplits(d, B, target, MSK);
  const mlOffset = rowsSplits * numQHeads * d.headSize;
  const finalOffset = mlOffset + rowsSplits * numQHeads * 2;
  const scoresOffset = finalOffset + B * numQHeads * 2;
  const withMetric = opts.withMetric ?? true;
  const scratchFloats = scoresOffset + (withMetric ? scoreFloats(d, B) : 0);
  const scratchBytes = 4 * scratchFloats;
  // A validation error from createBuffer would only surface later, asynchronously: check here.
  if (scratchBytes > maxBindingBytes(device)) {
    throw new LimitTooLowError("maxStorageBufferBindingSize (decode scratch: lower maxBatchSeqs or use withMetric: false)", scratchBytes, maxBindingBytes(device));
  }
  const [partial, reduce, metric] = await Promise.all([
    buildKernel(device, partialSpec),
    buildKernel(device, {
      file: "decode_reduce.wgsl", sources: sourcesOf(KERNEL_FILES.decodeReduce()),
      io: KERNEL_IO.decodeReduce,
      constants: KERNEL_CONSTANTS.decodeReduce(d, pool.blocksPerShard),
    }),
    buildKernel(device, {
      file: "decode_metric.wgsl", sources: sourcesOf(KERNEL_FILES.decodeMetric()),
      io: KERNEL_IO.decodeMetric,
      constants: KERNEL_CONSTANTS.decodeMetric(d, pool.blocksPerShard),
    }),
  ]);
  const scratch = device.createBuffer({ label: "decode-scratch", size: Math.max(16, scratchBytes), usage: GPUBufferUsage.STORAGE });
  const ring = new BatchRing(device, 256, "decode-batch");
  const groups = new Map<string, GPUBindGroup[]>();
  const groupsFor = (args: DecodeAttentionArgs) => {
    const key = `${bufferId(args.queries)}:${bufferId(args.out)}`;
    let g = groups.get(key);
    if (!g) {
      const bufs = { ...pool.poolBuffers(), batch: ring.buffer, queries: args.queries, scratch, out: args.out };
      g = [bindGroup(device, partial, bufs), bindGroup(device, reduce, bufs), bindGroup(device, metric, bufs)];
      if (groups.size > 64) groups.clear();
      groups.set(key, g);
    }
    return g;
  };
  return {
    scratchBytes,
    variant,
    encode(pass, args) {
      if (args.metricMode !== 0 && !withMetric) throw new InternalError("decode attention built with withMetric: false was asked for a metric");
      const [gPartial, gReduce, gMetric] = groupsFor(args);
      const ctx = Math.min(args.maxCtxLen ?? C, C);
      let base = 0;
      for (const part of batchChunks(args.seqIds)) {
        if (base + part.length > B) throw new InvalidArgumentError("seqIds.length", args.seqIds.length, `at most maxBatchSeqs ${B}`);
        const seqs = part.map((seqId, i) => ({ seqId, qRow: base + i }));
        const splitKeys = batchChunkSplitKeys(base, part.length, d.numKvHeads, quads, ctx, target, MSK, rowsSplits);
        const maxSplits = Math.max(1, Math.ceil(ctx / splitKeys));
        if (maxSplits > DECODE_MAX_SPLITS) throw new InternalError(`decode: ${maxSplits} splits > ${DECODE_MAX_SPLITS} (checked at creation)`);
        if ((base + part.length) * maxSplits > rowsSplits) throw new InternalError("decode: split grid exceeds scratch");
        const o1 = ring.write("decode", {
          layer: args.layer, numSeqs: part.length, splitKeys, maxSplits, metricMode: args.metricMode, scoresOffset, mlOffset, scoresStride: C,
        }, seqs);
        encodeLinear(pass, partial, gPartial, o1, part.length * d.numKvHeads * maxSplits * quads);
        const o2 = ring.write("decodeReduce", { numSeqs: part.length, maxSplits, mlOffset, finalOffset }, seqs);
        encodeLinear(pass, reduce, gReduce, o2, part.length * numQHeads);
        if (args.metricMode !== 0) {
          const o3 = ring.write("decodeMetric", {
            layer: args.layer, numSeqs: part.length, metricMode: args.metricMode, scoresStride: C, scoresOffset, finalOffset,
            groupMax: args.groupReduce === "max" ? 1 : 0,
          }, seqs);
          pass.setPipeline(metric.pipeline);
          pass.setBindGroup(0, gMetric, [o3]);
          pass.dispatchWorkgroups(Math.max(1, Math.ceil(ctx / WG.decodeMetric)), part.length * d.numKvHeads);
        }
        base += part.length;
      }
    },
    destroy() { scratch.destroy(); ring.destroy(); groups.clear(); },
  };
}

/** The partial kernel createDecodeAttention builds for head size `headSize` on `device`: the
 *  subgroup one where the adapter has subgroups and a key's lanes fit in its smallest subgroup. */
export function decodeVariant(device: GPUDevice, d: { headSize: number }, subgroups = true): DecodeVariant {
  return subgroups && device.features.has("subgroups") && decodeSubgroupFits(d, subgroupMinSize(device)) ? "subgroup" : "portable";
}

/** The adapter's smallest subgroup size (0 when the runtime does not say). */
export function subgroupMinSize(device: GPUDevice): number {
  const info = (device as GPUDevice & { adapterInfo?: { subgroupMinSize?: number } }).adapterInfo;
  return info?.subgroupMinSize ?? 0;
}

