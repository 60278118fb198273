// src/gpu/kernels/prefillAttention.ts — host wrapper of the paged prefill attention
// (shaders/paged_attention_prefill.wgsl) and its metric (prefill_metric_scores.wgsl, then
// prefill_metric_pool.wgsl; skipped for metricMode 0). Built once, encode only (STYLE L3).

import { KERNEL_IO } from "../../contract";
import type { GpuKvPool } from "../pool";
import { BatchRing, batchChunks } from "../dispatch";
import { MAX_PREFILL_HEAD_SIZE, PREFILL_TILE_ROWS, WG, groupSize, maxCtx, prefillTileTokens } from "../layout";
import { ConfigError, InvalidArgumentError, LimitTooLowError } from "../../errors";
import type { GroupReduce, MetricMode } from "./decodeAttention";
import { KERNEL_CONSTANTS, KERNEL_FILES, sourcesOf } from "./sources";
import { bindGroupCache, buildKernel, encodeLinear, workgroupStorageBytes } from "./build";

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
  /** Last obsWindow queries of each chunk count in the metric, 0 = all (docs/METHOD.md §2.2; reference code 32). */
  obsWindow: number;
  /** Max-pool width along key order, odd (docs/METHOD.md §2.2: 7); 1 = no pooling. */
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
  if (d.headSize > MAX_PREFILL_HEAD_SIZE) throw new ConfigError("headSize", `${d.headSize} > ${MAX_PREFILL_HEAD_SIZE}, the most the prefill kernel stages`);
  if (groupSize(d) > PREFILL_TILE_ROWS) throw new ConfigError("numQHeads", `${groupSize(d)} query heads per KV head > ${PREFILL_TILE_ROWS}, the rows of a prefill tile`);
  const attnSpec = {
    file: "paged_attention_prefill.wgsl", sources: sourcesOf(KERNEL_FILES.prefill(d.dtype)),
    io: KERNEL_IO.prefill, constants: KERNEL_CONSTANTS.prefill(d, pool.blocksPerShard),
  };
  const wgBytes = workgroupStorageBytes(attnSpec.sources.join("\n"), attnSpec.constants);
  if (wgBytes > device.limits.maxComputeWorkgroupStorageSize) {
    throw new LimitTooLowError("maxComputeWorkgroupStorageSize", wgBytes, device.limits.maxComputeWorkgroupStorageSize);
  }
  const tileTokens = prefillTileTokens(d);
  const [attn, scores, pooled] = await Promise.all([
    buildKernel(device, attnSpec),
    buildKernel(device, {
      file: "prefill_metric_scores.wgsl", sources: sourcesOf(KERNEL_FILES.prefillScores(d.dtype)),
      io: KERNEL_IO.prefillScores, constants: KERNEL_CONSTANTS.prefillScores(d, pool.blocksPerShard),
    }),
    buildKernel(device, {
      file: "prefill_metric_pool.wgsl", sources: sourcesOf(KERNEL_FILES.prefillPool()),
      io: KERNEL_IO.prefillPool, constants: KERNEL_CONSTANTS.prefillPool(d, pool.blocksPerShard),
    }),
  ]);
  const ring = new BatchRing(device, 256, "prefill-batch");
  const attnGroup = bindGroupCache(device, attn), scoresGroup = bindGroupCache(device, scores), pooledGroup = bindGroupCache(device, pooled);
  const H = d.numQHeads, C = maxCtx(d);
  const lseOffset = (numTokens: number) => numTokens * H * d.headSize;
  const scoresOffset = (numTokens: number) => lseOffset(numTokens) + numTokens * H;
  const outBytes = (numTokens: number, numSeqs: number) => 4 * (scoresOffset(numTokens) + Math.min(numSeqs, 64) * H * C);
  return {
    outBytes,
    encode(pass, args) {
      const need = outBytes(args.numTokens, args.metricMode === 0 ? 0 : args.seqs.length);
      if (args.out.size < need) throw new InvalidArgumentError("out.size", args.out.size, `at least ${need} bytes for the prefill output and metric work area`);
      // out doubles as the metric kernels' work area: scores write it, the pool pass reads it.
      const bufs = { ...pool.poolBuffers(), batch: ring.buffer, queries: args.queries, out: args.out, work: args.out };
      const gAttn = attnGroup(bufs);
      const lse = lseOffset(args.numTokens), sc = scoresOffset(args.numTokens);
      for (const part of batchChunks(args.seqs)) {
        const seqs = part.map(({ seqId, tokenStart, numNew, firstPos }) => ({ seqId, tokenStart, numNew, firstPos }));
        const maxTiles = Math.max(1, Math.ceil(Math.max(...part.map((s) => s.numNew)) / tileTokens));
        const o1 = ring.write("prefill", { layer: args.layer, numSeqs: part.length, maxTiles, lseOffset: lse }, seqs);
        encodeLinear(pass, attn, gAttn, o1, part.length * d.numKvHeads * maxTiles);
        if (args.metricMode === 0) continue;
        const keyGroups = Math.ceil(C / WG.prefillMetric);
        const o2 = ring.write("prefillScores", {
          layer: args.layer, numSeqs: part.length, obsWindow: args.obsWindow, metricMode: args.metricMode,
          lseOffset: lse, scoresOffset: sc, scoresStride: C,
        }, seqs);
        pass.setPipeline(scores.pipeline);
        pass.setBindGroup(0, scoresGroup(bufs), [o2]);
        pass.dispatchWorkgroups(keyGroups, part.length * H);
        const o3 = ring.write("prefillPool", {
          layer: args.layer, numSeqs: part.length, poolHalf: Math.floor((args.poolWidth ?? 7) / 2),
          groupMax: args.groupReduce === "max" ? 1 : 0, scoresOffset: sc, scoresStride: C,
        }, seqs);
        pass.setPipeline(pooled.pipeline);
        pass.setBindGroup(0, pooledGroup(bufs), [o3]);
        pass.dispatchWorkgroups(keyGroups, part.length * d.numKvHeads);
      }
    },
    destroy() { ring.destroy(); },
  };
}
