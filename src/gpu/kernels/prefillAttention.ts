// src/gpu/kernels/prefillAttention.ts — host wrapper of the paged prefill attention
// (shaders/paged_attention_prefill.wgsl) and its metric (prefill_metric_scores.wgsl, then
// prefill_metric_pool.wgsl; skipped for metricMode 0). Built once, encode only (STYLE L3).

import type { GpuKvPool } from "../pool";
import { BatchRing, batchChunks } from "../dispatch";
import { MAX_PREFILL_HEAD_SIZE, PREFILL_TILE_KEYS, WG, maxCtx } from "../layout";
import { LimitTooLowError } from "../../errors";
import type { GroupReduce, MetricMode } from "./decodeAttention";
import { KERNEL_CONSTANTS, KERNEL_FILES, sourcesOf } from "./sources";
import { bindGroup, buildKernel, encodeLinear } from "./build";

/** One sequence's prompt chunk: query rows [tokenStart, tokenStart + numNew), positions firstPos + t. */
export interface PrefillSeq { seqId: number; tokenStart: number; numNew: number; firstPos: number }

export interface PrefillAttentionArgs {
  layer: number;
  seqs: readonly PrefillSeq[];
  /** Total query rows of the queries buffer (≥ every tokenStart + numNew). */
  numTokens: number;
  /** f32 [numTokens, numQHeads, headSize]. */
  queries: GPUBuffer;
  /** f32, at least outBytes(numTokens, seqs.length) bytes: output [numTokens, numQHeads, d] first. */
  out: GPUBuffer;
  metricMode: MetricMode;
  /** Last obsWindow queries of each chunk count in the metric, 0 = all (DESIGN.md §2.2; reference code 32). */
  obsWindow: number;
  /** Max-pool width along key order, odd (DESIGN.md §2.2: 7); 1 = no pooling. */
  poolWidth?: number;
  /** How the r query heads of a group combine after pooling (default "sum"; "max" is an ablation). */
  groupReduce?: GroupReduce;
}

export interface PrefillAttention {
  encode(pass: GPUComputePassEncoder, args: PrefillAttentionArgs): void;
  /** Bytes `out` needs: output, then lse [numTokens, numQHeads], then metric scratch [min(numSeqs, 64), numQHeads, maxCtx]. */
  outBytes(numTokens: number, numSeqs: number): number;
  destroy(): void;
}

export async function createPrefillAttention(device: GPUDevice, pool: GpuKvPool): Promise<PrefillAttention> {
  const d = pool.dims;
  if (d.headSize > MAX_PREFILL_HEAD_SIZE) throw new RangeError(`prefill: headSize ${d.headSize} > ${MAX_PREFILL_HEAD_SIZE}`);
  const wgBytes = 4 * (PREFILL_TILE_KEYS * d.headSize + 2 * PREFILL_TILE_KEYS + 1);
  if (wgBytes > device.limits.maxComputeWorkgroupStorageSize) {
    throw new LimitTooLowError("maxComputeWorkgroupStorageSize", wgBytes, device.limits.maxComputeWorkgroupStorageSize);
  }
  const kvBindings = { 0: "storage", 1: "storage", 2: "storage", 3: "storage", 4: "storage", 5: "storage", 6: "batch" } as const;
  const [attn, scores, pooled] = await Promise.all([
    buildKernel(device, {
      file: "paged_attention_prefill.wgsl", sources: sourcesOf(KERNEL_FILES.prefill(d.dtype)),
      bindings: { ...kvBindings, 7: "read-only-storage", 8: "storage" }, constants: KERNEL_CONSTANTS.prefill(d, pool.blocksPerShard),
    }),
    buildKernel(device, {
      file: "prefill_metric_scores.wgsl", sources: sourcesOf(KERNEL_FILES.prefillScores(d.dtype)),
      bindings: { ...kvBindings, 7: "read-only-storage", 8: "storage" }, constants: KERNEL_CONSTANTS.prefillScores(d, pool.blocksPerShard),
    }),
    buildKernel(device, {
      file: "prefill_metric_pool.wgsl", sources: sourcesOf(KERNEL_FILES.prefillPool()),
      bindings: { 4: "storage", 5: "storage", 6: "batch", 7: "read-only-storage" }, constants: KERNEL_CONSTANTS.prefillPool(d, pool.blocksPerShard),
    }),
  ]);
  const ring = new BatchRing(device, 256, "prefill-batch");
  const H = d.numQHeads, C = maxCtx(d);
  const lseOffset = (numTokens: number) => numTokens * H * d.headSize;
  const scoresOffset = (numTokens: number) => lseOffset(numTokens) + numTokens * H;
  const outBytes = (numTokens: number, numSeqs: number) => 4 * (scoresOffset(numTokens) + Math.min(numSeqs, 64) * H * C);
  return {
    outBytes,
    encode(pass, args) {
      const need = outBytes(args.numTokens, args.metricMode === 0 ? 0 : args.seqs.length);
      if (args.out.size < need) throw new RangeError(`prefill: out has ${args.out.size} bytes, needs ${need}`);
      const bufs = { ...pool.poolBuffers(), 6: ring.buffer, 7: args.queries, 8: args.out };
      const gAttn = bindGroup(device, attn, bufs);
      const lse = lseOffset(args.numTokens), sc = scoresOffset(args.numTokens);
      for (const part of batchChunks(args.seqs)) {
        const seqs = part.map((s) => [s.seqId, s.tokenStart, s.numNew, s.firstPos]);
        const maxTiles = Math.max(1, Math.ceil(Math.max(...part.map((s) => s.numNew)) / WG.prefill));
        const o1 = ring.write([args.layer, part.length, maxTiles, lse], seqs);
        encodeLinear(pass, attn, gAttn, o1, part.length * H * maxTiles);
        if (args.metricMode === 0) continue;
        const keyGroups = Math.ceil(C / WG.prefillMetric);
        const o2 = ring.write([args.layer, part.length, args.obsWindow, args.metricMode, lse, sc, C], seqs);
        pass.setPipeline(scores.pipeline);
        pass.setBindGroup(0, bindGroup(device, scores, bufs), [o2]);
        pass.dispatchWorkgroups(keyGroups, part.length * H);
        const o3 = ring.write([args.layer, part.length, Math.floor((args.poolWidth ?? 7) / 2), args.groupReduce === "max" ? 1 : 0, 0, sc, C], seqs);
        pass.setPipeline(pooled.pipeline);
        pass.setBindGroup(0, bindGroup(device, pooled, { ...bufs, 7: args.out }), [o3]);
        pass.dispatchWorkgroups(keyGroups, part.length * d.numKvHeads);
      }
    },
    destroy() { ring.destroy(); },
  };
}
