// src/gpu/kernels/scoreOrdering.ts — host wrapper of the score ordering (docs/METHOD.md §2.4):
// order_gather → segmented bitonic sort (order_sort_local fused stages + order_sort_global
// wide steps) → order_chunk_keys; then, once the scheduler has chosen n per head,
// order_mark_evicted → order_compact_evicted. Built once, encode only (STYLE L3).

import { KERNEL_IO } from "../../contract";
import type { GpuKvPool } from "../pool";
import { BatchRing, maxBindingBytes } from "../dispatch";
import { InternalError, InvalidArgumentError, LimitTooLowError } from "../../errors";
import { type PoolGeometry, MAX_BATCH_SEQS, ORDER_LOCAL_ELEMS, WG, maxCtx, nextPow2 } from "../layout";
import { KERNEL_CONSTANTS, KERNEL_FILES, sourcesOf } from "./sources";
import { bindGroup, bindGroupCache, buildKernel, encodeLinear } from "./build";

export interface ScoreOrderingSortArgs {
  /** Sequences of the pass (k ≤ maxSeqsPerPass); segment order is [layer, k, kvHead]. */
  seqIds: readonly number[];
  /** seqLen of each listed sequence (positions ≥ seqLen − protectedWindow are protected). */
  seqLens: readonly number[];
  protectedWindow: number;
  sinks: number;
  /** Rank by the metric over the number of queries that could see each KV (seqLen − position). @default false */
  queryAvg?: boolean;
  /** Multiply each score by ‖v‖₂ of the KV's stored value (value-aware ranking). @default false */
  valueNorm?: boolean;
  /** Upper bound on these heads' ctxLen (default maxBlocksPerHead · b); sets the segment length. */
  maxCtxLen?: number;
  /** f32 [numLayers, k, numKvHeads, maxBlocksPerHead], written (+inf padded). */
  chunkKeys: GPUBuffer;
}

export interface ScoreOrderingEvictArgs {
  /** i32 [numLayers, k, numKvHeads]: n per head, as chosen by the scheduler. */
  evictCounts: GPUBuffer;
  /** u32 [numLayers · k · numKvHeads + 1]: exclusive prefix sum of evictCounts. */
  evictedOffsets: GPUBuffer;
  /** u32 [total n], written: ascending logical indices per head (CSR). */
  evictedIdx: GPUBuffer;
}

export interface ScoreOrdering {
  /** Gathers, sorts and writes chunk keys. The sorted segments stay in the wrapper's scratch. */
  encodeSort(pass: GPUComputePassEncoder, args: ScoreOrderingSortArgs): void;
  /** Uses the segments of the LAST encodeSort (same pass or a later submit, before the next encodeSort). */
  encodeEvicted(pass: GPUComputePassEncoder, args: ScoreOrderingEvictArgs): void;
  readonly scratchBytes: number;
  destroy(): void;
}

/** Sort-buffer bytes per sequence of a pass (the scratch is maxSeqsPerPass times this, plus 1/4 for flags). */
export const orderingBytesPerSeq = (d: PoolGeometry) =>
  16 * d.numLayers * d.numKvHeads * Math.max(ORDER_LOCAL_ELEMS, nextPow2(maxCtx(d)));

export async function createScoreOrdering(device: GPUDevice, pool: GpuKvPool, opts: { maxSeqsPerPass: number }): Promise<ScoreOrdering> {
  const d = pool.dims;
  const maxK = Math.min(opts.maxSeqsPerPass, MAX_BATCH_SEQS);
  const maxSegLen = Math.max(ORDER_LOCAL_ELEMS, nextPow2(maxCtx(d)));
  const maxElems = d.numLayers * maxK * d.numKvHeads * maxSegLen;
  const scratchBytes = maxElems * 20;
  if (16 * maxElems > maxBindingBytes(device)) {
    throw new LimitTooLowError("maxStorageBufferBindingSize (score ordering: lower maxSeqsPerPass)", 16 * maxElems, maxBindingBytes(device));
  }
  const oc = KERNEL_CONSTANTS.orderChunkKeys(d, pool.blocksPerShard), gc = KERNEL_CONSTANTS.orderGather(d, pool.blocksPerShard), sc = KERNEL_CONSTANTS.orderSortLocal(d, pool.blocksPerShard);
  const [gather, local, global, chunk, mark, compact] = await Promise.all([
    buildKernel(device, { file: "order_gather.wgsl", sources: sourcesOf(KERNEL_FILES.orderGather(d.dtype)), io: KERNEL_IO.orderGather, constants: gc }),
    buildKernel(device, { file: "order_sort_local.wgsl", sources: sourcesOf(KERNEL_FILES.orderSortLocal()), io: KERNEL_IO.orderSortLocal, constants: sc }),
    buildKernel(device, { file: "order_sort_global.wgsl", sources: sourcesOf(KERNEL_FILES.orderSortGlobal()), io: KERNEL_IO.orderSortGlobal, constants: sc }),
    buildKernel(device, { file: "order_chunk_keys.wgsl", sources: sourcesOf(KERNEL_FILES.orderChunkKeys()), io: KERNEL_IO.orderChunkKeys, constants: oc }),
    buildKernel(device, { file: "order_mark_evicted.wgsl", sources: sourcesOf(KERNEL_FILES.orderMark()), io: KERNEL_IO.orderMark, constants: oc }),
    buildKernel(device, { file: "order_compact_evicted.wgsl", sources: sourcesOf(KERNEL_FILES.orderCompact()), io: KERNEL_IO.orderCompact, constants: oc }),
  ]);
  const usage = GPUBufferUsage.STORAGE;
  const sortBuf = device.createBuffer({ label: "order-sort", size: 16 * maxElems, usage });
  const flags = device.createBuffer({ label: "order-flags", size: 4 * maxElems, usage });
  const ring = new BatchRing(device, 1024, "order-batch");
  // The sort kernels' buffers never change: one group each, built here.
  const sortBufs = { ...pool.poolBuffers(), batch: ring.buffer, sortBuf };
  const gGather = bindGroup(device, gather, sortBufs), gLocal = bindGroup(device, local, sortBufs);
  const gGlobal = bindGroup(device, global, sortBufs);
  const chunkGroup = bindGroupCache(device, chunk), markGroup = bindGroupCache(device, mark), compactGroup = bindGroupCache(device, compact);
  let last: { seqs: { seqId: number; seqLen: number }[]; segLen: number } | undefined;
  return {
    scratchBytes,
    encodeSort(pass, a) {
      const k = a.seqIds.length;
      if (k === 0) return;
      if (k > maxK) throw new InvalidArgumentError("seqIds.length", k, `at most maxSeqsPerPass ${maxK} per score ordering`);
      const segLen = Math.max(ORDER_LOCAL_ELEMS, nextPow2(Math.min(a.maxCtxLen ?? maxCtx(d), maxCtx(d))));
      const seqs = a.seqIds.map((seqId, i) => ({ seqId, seqLen: a.seqLens[i] }));
      const total = d.numLayers * k * d.numKvHeads * segLen;
      const orderArgs = { numSeqs: k, segLen };
      encodeLinear(pass, gather, gGather, ring.write("orderGather", { ...orderArgs, protectedWindow: a.protectedWindow, sinks: a.sinks, queryAvg: a.queryAvg ? 1 : 0, valueNorm: a.valueNorm ? 1 : 0 }, seqs),
        Math.ceil(total / WG.order));
      const localGroups = total / ORDER_LOCAL_ELEMS;
      encodeLinear(pass, local, gLocal, ring.write("orderSortLocal", { firstBlockLen: 2, lastBlockLen: ORDER_LOCAL_ELEMS }), localGroups);
      for (let blk = 2 * ORDER_LOCAL_ELEMS; blk <= segLen; blk *= 2) {
        for (let j = blk / 2; j >= ORDER_LOCAL_ELEMS; j /= 2) {
          encodeLinear(pass, global, gGlobal, ring.write("orderSortGlobal", { blockLen: blk, stride: j, numPairs: total / 2 }),
            Math.ceil(total / 2 / WG.order));
        }
        encodeLinear(pass, local, gLocal, ring.write("orderSortLocal", { firstBlockLen: blk, lastBlockLen: blk }), localGroups);
      }
      const gChunk = chunkGroup({ ...sortBufs, chunkKeys: a.chunkKeys });
      const numKeys = d.numLayers * k * d.numKvHeads * d.maxBlocksPerHead;
      encodeLinear(pass, chunk, gChunk, ring.write("orderChunkKeys", orderArgs, seqs), Math.ceil(numKeys / WG.order));
      last = { seqs, segLen };
    },
    encodeEvicted(pass, a) {
      if (!last) throw new InternalError("score ordering: encodeEvicted before encodeSort");
      const { seqs, segLen } = last;
      const k = seqs.length, numSegs = d.numLayers * k * d.numKvHeads;
      const bufs = { ...sortBufs, evictCounts: a.evictCounts, flags, evictedOffsets: a.evictedOffsets, evictedIdx: a.evictedIdx };
      const orderArgs = { numSeqs: k, segLen };
      encodeLinear(pass, mark, markGroup(bufs), ring.write("orderMark", orderArgs, seqs), Math.ceil((numSegs * segLen) / WG.order));
      encodeLinear(pass, compact, compactGroup(bufs), ring.write("orderCompact", orderArgs, seqs), numSegs);
    },
    destroy() { sortBuf.destroy(); flags.destroy(); ring.destroy(); },
  };
}
