// src/kernels/decodeAttention.ts — host wrapper of the paged decode attention: the split-K
// partial kernel (shaders/paged_attention_decode.wgsl), its reduce (decode_reduce.wgsl) and the
// metric pass (decode_metric.wgsl, skipped for metricMode 0). Built once, encode only (STYLE L3).

import type { GpuKvPool } from "../gpu/pool";
import { BatchRing, batchChunks, maxBindingBytes } from "../gpu/dispatch";
import {
  DEFAULT_DECODE_TUNING, DECODE_MAX_SPLITS, type DecodeTuning, MAX_GROUP_SIZE, WG, decodeConstants, groupSize, maxCtx, type KernelDims,
} from "../layout";
import { LimitTooLowError } from "../errors";
import { KERNEL_CONSTANTS, KERNEL_FILES, sourcesOf } from "./sources";
import { bindGroup, buildKernel, encodeLinear } from "./build";

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
  /** How the r query heads of a group combine (default "sum", DESIGN.md §2.2; "max" is an ablation). */
  groupReduce?: GroupReduce;
  /** Upper bound on the ctxLen of these heads (default maxBlocksPerHead · b); sizes the split grid. */
  maxCtxLen?: number;
}

export interface DecodeAttentionOptions {
  /** Most sequences per encode (sizes the scratch). */
  maxBatchSeqs: number;
  /** Allocate raw-score scratch for metricMode ≠ 0 (default true). */
  withMetric?: boolean;
  /** Workgroups the split grid aims for (default 1024). */
  targetWorkgroups?: number;
  /** Kernel knobs (default DEFAULT_DECODE_TUNING); the bench sweeps them. */
  tuning?: Partial<DecodeTuning>;
}

export interface DecodeAttention {
  encode(pass: GPUComputePassEncoder, args: DecodeAttentionArgs): void;
  /** Bytes of the internal scratch buffer. */
  readonly scratchBytes: number;
  destroy(): void;
}

/** Scratch bytes of createDecodeAttention for a batch size (lets a caller pick maxBatchSeqs that fits). */
export function decodeScratchBytes(d: KernelDims, maxBatchSeqs: number, withMetric = true, targetWorkgroups = 1024,
  maxSplitKeys = DEFAULT_DECODE_TUNING.maxSplitKeys): number {
  const B = maxBatchSeqs, C = maxCtx(d);
  const rowsSplits = Math.max(B * Math.ceil(C / maxSplitKeys), Math.ceil(targetWorkgroups / d.numKvHeads) + B);
  return 4 * (rowsSplits * d.numQHeads * (d.headSize + 2) + B * d.numQHeads * 2 + (withMetric ? B * d.numQHeads * C : 0));
}

/** Keys per split: maxSplitKeys when there is enough work, fewer (multiple of 32) to fill the GPU. */
export function chooseSplitKeys(numSeqs: number, numKvHeads: number, ctxLen: number, target: number, maxSplitKeys: number): number {
  const full = numSeqs * numKvHeads * Math.ceil(ctxLen / maxSplitKeys);
  if (full >= target) return maxSplitKeys;
  const keys = Math.ceil((numSeqs * numKvHeads * ctxLen) / target / 32) * 32;
  return Math.min(maxSplitKeys, Math.max(32, keys));
}

export async function createDecodeAttention(device: GPUDevice, pool: GpuKvPool, opts: DecodeAttentionOptions): Promise<DecodeAttention> {
  const d = pool.dims;
  const r = groupSize(d);
  const numQHeads = d.numQHeads;
  if (r > MAX_GROUP_SIZE) throw new RangeError(`groupSize ${r} > ${MAX_GROUP_SIZE}`);
  const tune: DecodeTuning = { ...DEFAULT_DECODE_TUNING, ...opts.tuning };
  const MSK = tune.maxSplitKeys;
  if (d.headSize > 4 * tune.wgSize) throw new RangeError(`headSize ${d.headSize} > ${4 * tune.wgSize}`);
  const quads = Math.ceil(r / 4);
  if (tune.wgSize < 16) throw new RangeError(`decode wgSize ${tune.wgSize} < 16`);
  const singleShard = decodeConstants(d, pool.blocksPerShard, tune).SINGLE_SHARD === 1;
  const wgBytes = 16 * (quads * d.headSize + quads * MSK + (singleShard ? 4 : 1) * tune.wgSize + d.headSize) + 4 * (MSK + 1);
  if (wgBytes > device.limits.maxComputeWorkgroupStorageSize) {
    throw new LimitTooLowError("maxComputeWorkgroupStorageSize", wgBytes, device.limits.maxComputeWorkgroupStorageSize);
  }
  const target = opts.targetWorkgroups ?? 1024;
  const B = opts.maxBatchSeqs, C = maxCtx(d);
  // Most (batch index, split) pairs any split choice produces (see chooseSplitKeys).
  const maxRowsSplits = Math.max(B * Math.ceil(C / MSK), Math.ceil(target / d.numKvHeads) + B);
  const mlOffset = maxRowsSplits * numQHeads * d.headSize;
  const finalOffset = mlOffset + maxRowsSplits * numQHeads * 2;
  const scoresOffset = finalOffset + B * numQHeads * 2;
  const withMetric = opts.withMetric ?? true;
  const scratchFloats = scoresOffset + (withMetric ? B * numQHeads * C : 0);
  const scratchBytes = 4 * scratchFloats;
  // A validation error from createBuffer would only surface later, asynchronously: check here.
  if (scratchBytes > maxBindingBytes(device)) {
    throw new LimitTooLowError("maxStorageBufferBindingSize (decode scratch: lower maxBatchSeqs or use withMetric: false)", scratchBytes, maxBindingBytes(device));
  }
  const [partial, reduce, metric] = await Promise.all([
    buildKernel(device, {
      file: "paged_attention_decode.wgsl", sources: sourcesOf(KERNEL_FILES.decode(d.dtype)),
      bindings: { 0: "storage", 1: "storage", 2: "storage", 3: "storage", 4: "storage", 6: "batch", 7: "read-only-storage", 8: "storage" },
      constants: decodeConstants(d, pool.blocksPerShard, tune),
    }),
    buildKernel(device, {
      file: "decode_reduce.wgsl", sources: sourcesOf(KERNEL_FILES.decodeReduce()),
      bindings: { 6: "batch", 7: "storage", 8: "storage" },
      constants: KERNEL_CONSTANTS.decodeReduce(d, pool.blocksPerShard),
    }),
    buildKernel(device, {
      file: "decode_metric.wgsl", sources: sourcesOf(KERNEL_FILES.decodeMetric()),
      bindings: { 4: "storage", 5: "storage", 6: "batch", 7: "read-only-storage" },
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
      const bufs = { ...pool.poolBuffers(), 6: ring.buffer, 7: args.queries, 8: scratch };
      g = [bindGroup(device, partial, bufs), bindGroup(device, reduce, { 6: ring.buffer, 7: scratch, 8: args.out }),
        bindGroup(device, metric, { ...pool.poolBuffers(), 6: ring.buffer, 7: scratch })];
      if (groups.size > 64) groups.clear();
      groups.set(key, g);
    }
    return g;
  };
  return {
    scratchBytes,
    encode(pass, args) {
      if (args.metricMode !== 0 && !withMetric) throw new Error("decode attention built with withMetric: false");
      const [gPartial, gReduce, gMetric] = groupsFor(args);
      const ctx = Math.min(args.maxCtxLen ?? C, C);
      let base = 0;
      for (const part of batchChunks(args.seqIds)) {
        if (base + part.length > B) throw new RangeError(`decode batch of ${args.seqIds.length} > maxBatchSeqs ${B}`);
        const seqs = part.map((s, i) => [s, base + i]);
        const splitKeys = chooseSplitKeys(part.length, d.numKvHeads, ctx, target, MSK);
        const maxSplits = Math.max(1, Math.ceil(ctx / splitKeys));
        if (maxSplits > DECODE_MAX_SPLITS) throw new RangeError(`decode: ${maxSplits} splits > ${DECODE_MAX_SPLITS} (ctxLen too long)`);
        if ((base + part.length) * maxSplits > maxRowsSplits) throw new RangeError("decode: split grid exceeds scratch");
        const o1 = ring.write([args.layer, part.length, splitKeys, maxSplits, args.metricMode, scoresOffset, mlOffset, C], seqs);
        encodeLinear(pass, partial, gPartial, o1, part.length * d.numKvHeads * maxSplits);
        const o2 = ring.write([part.length, maxSplits, mlOffset, finalOffset], seqs);
        encodeLinear(pass, reduce, gReduce, o2, part.length * numQHeads);
        if (args.metricMode !== 0) {
          const o3 = ring.write([args.layer, part.length, args.metricMode, C, scoresOffset, finalOffset, args.groupReduce === "max" ? 1 : 0], seqs);
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

const ids = new WeakMap<GPUBuffer, number>();
let nextId = 0;
function bufferId(b: GPUBuffer): number {
  let id = ids.get(b);
  if (id === undefined) ids.set(b, (id = nextId++));
  return id;
}
