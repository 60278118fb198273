// src/gpu/kernels/devicePass.ts — host wrapper of the device pass (docs/METHOD.md §3): the whole
// kvcompress decision of a pass on the GPU, without sorting and without reading per-KV data back.
//   1. global select (pass_histogram phase 0, pass_global_sum, pass_rank_global; 4 rounds of 8 bits): per
//      sequence the threshold T of assembly/schedule.ts's ranking, then e and n per head with its
//      tie rule (keys == T in flat layer, kvHead order);
//   2. per-head select (pass_histogram phase 1, pass_rank_head; 4 + posDigits rounds): each
//      head's n-th rank key (score bits, position), so it evicts exactly its n lowest;
//   3. pass_tally → pass_offsets → pass_moves: the compaction moves of assembly/plan_moves.ts.
// What comes back is one small buffer, `result` (u32 [1 + L·k·H]: the number of moves, then n per
// pass head): the wasm applies the counts to its tables; the moves stay on the GPU for the move
// executor. Built once, encode only (STYLE L3).

import { KERNEL_IO } from "../../contract";
import type { GpuKvPool } from "../pool";
import { BatchRing } from "../dispatch";
import { InvalidArgumentError } from "../../errors";
import { MAX_BATCH_SEQS, PASS_CHUNK } from "../layout";
import { KERNEL_CONSTANTS, KERNEL_FILES, sourcesOf } from "./sources";
import { type BuiltKernel, bindGroupCache, buildKernel, encodeLinear } from "./build";

export interface DevicePassArgs {
  /** Sequences of the pass (k ≤ MAX_BATCH_SEQS); heads are laid out [layer, k, kvHead]. */
  seqIds: readonly number[];
  /** seqLen of each (protection, queryAvg). */
  seqLens: readonly number[];
  /** E of each: blocks the sequence gives up at most (the control plane's passBudgets). */
  budgets: ArrayLike<number>;
  protectedWindow: number;
  sinks: number;
  queryAvg?: boolean;
  /** Largest ctxLen among the pass's heads (sets the chunks per head). */
  maxCtxLen: number;
  /** Upper bound on the pass's moves (Σ ⌊ctxLen/2⌋ over its heads). */
  maxMoves: number;
}

export interface DevicePass {
  /** Encodes the pass on `encoder` after clearing the histograms, as three compute passes (the
   *  global select, the per-head selects, the move plan). `timestamps` (bench/pass.bench.ts):
   *  their begin/end written at querySet indices first … first + 5. */
  encode(encoder: GPUCommandEncoder, args: DevicePassArgs, timestamps?: { querySet: GPUQuerySet; first: number }): void;
  /** u32 [1 + L·k·H] of the last encode: word 0 the number of moves, word 1 + head its n. */
  readonly result: GPUBuffer;
  /** u32 [numMoves, 2] (dstSlot, srcSlot) of the last encode, CSR by head in [layer, k, kvHead] order. */
  readonly moves: GPUBuffer;
  destroy(): void;
}

/** Bytes needed for position digits: positions are < seqLen. */
const posDigitsFor = (maxSeqLen: number) => Math.min(4, Math.max(1, Math.ceil(Math.log2(Math.max(2, maxSeqLen)) / 8)));

export async function createDevicePass(device: GPUDevice, pool: GpuKvPool): Promise<DevicePass> {
  const d = pool.dims;
  const build = (name: "passHistogram" | "passGlobalSum" | "passRankGlobal" | "passRankHead" | "passTally" | "passOffsets" | "passMoves", file: string) =>
    buildKernel(device, { file, sources: sourcesOf(KERNEL_FILES[name]()), io: KERNEL_IO[name], constants: KERNEL_CONSTANTS[name](d, pool.blocksPerShard) });
  const [histogram, globalSum, rankGlobal, rankHead, tallyK, offsets, movesK] = await Promise.all([
    build("passHistogram", "pass_histogram.wgsl"), build("passGlobalSum", "pass_global_sum.wgsl"), build("passRankGlobal", "pass_rank_global.wgsl"),
    build("passRankHead", "pass_rank_head.wgsl"), build("passTally", "pass_tally.wgsl"),
    build("passOffsets", "pass_offsets.wgsl"), build("passMoves", "pass_moves.wgsl"),
  ]);
  const ring = new BatchRing(device, 256, "pass-batch");
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const buffers = new Map<string, GPUBuffer>();
  /** A scratch buffer of at least `bytes`, grown by replacement (bind groups are cached by buffer). */
  const scratch = (name: string, bytes: number): GPUBuffer => {
    const need = Math.max(16, Math.ceil(bytes / 16) * 16);
    let b = buffers.get(name);
    if (!b || b.size < need) {
      b?.destroy();
      b = device.createBuffer({ label: `device-pass-${name}`, size: need, usage });
      buffers.set(name, b);
    }
    return b;
  };
  const groups = new Map<BuiltKernel, ReturnType<typeof bindGroupCache>>();
  const groupOf = (k: BuiltKernel, bufs: Record<string, GPUBuffer>) => {
    let g = groups.get(k);
    if (!g) groups.set(k, (g = bindGroupCache(device, k, 8)));
    return g(bufs);
  };
  let result = scratch("result", 16), moves = scratch("moves", 16);
  return {
    get result() { return result; },
    get moves() { return moves; },
    encode(encoder, a, timestamps) {
      const k = a.seqIds.length;
      if (k === 0) return;
      if (k > MAX_BATCH_SEQS) throw new InvalidArgumentError("seqIds.length", k, `at most ${MAX_BATCH_SEQS} per device pass`);
      const numSegs = d.numLayers * k * d.numKvHeads;
      const chunksPerHead = Math.max(1, Math.ceil(a.maxCtxLen / PASS_CHUNK));
      const posDigits = posDigitsFor(Math.max(...a.seqLens));
      const state = scratch("state", 4 * (4 * MAX_BATCH_SEQS + 8 * numSegs));
      const histBytes = 2 * 4 * 257 * numSegs, gsumBytes = 4 * 258 * k;
      const hist = scratch("hist", histBytes), gsum = scratch("gsum", gsumBytes);
      const tally = scratch("tally", 8 * numSegs * chunksPerHead);
      result = scratch("result", 4 * (1 + numSegs));
      moves = scratch("moves", 8 * a.maxMoves);
      const bufs = { ...pool.poolBuffers(), batch: ring.buffer, state, hist, gsum, tally, result, moves };
      const seqs = a.seqIds.map((seqId, i) => ({ seqId, seqLen: a.seqLens[i], budget: Math.max(0, Math.min(2 ** 31 - 1, a.budgets[i])) }));
      const key = { protectedWindow: a.protectedWindow, sinks: a.sinks, queryAvg: a.queryAvg ? 1 : 0 };
      const perKv = numSegs * chunksPerHead;
      encoder.clearBuffer(hist, 0, histBytes);
      encoder.clearBuffer(gsum, 0, gsumBytes);
      const begin = (i: number) => encoder.beginComputePass(timestamps ? {
        timestampWrites: { querySet: timestamps.querySet, beginningOfPassWriteIndex: timestamps.first + 2 * i, endOfPassWriteIndex: timestamps.first + 2 * i + 1 },
      } : {});
      let pass = begin(0);
      const hGroup = groupOf(histogram, bufs), gGroup = groupOf(rankGlobal, bufs), rGroup = groupOf(rankHead, bufs), sGroup = groupOf(globalSum, bufs);
      for (let round = 0; round < 4; round++) {
        encodeLinear(pass, histogram, hGroup, ring.write("passHistogram", { numSeqs: k, phase: 0, round, posDigits, chunksPerHead, ...key }, seqs), perKv);
        encodeLinear(pass, globalSum, sGroup, ring.write("passGlobalSum", { numSeqs: k, round }, seqs), numSegs);
        pass.setPipeline(rankGlobal.pipeline);
        pass.setBindGroup(0, gGroup, [ring.write("passRankGlobal", { numSeqs: k, round }, seqs)]);
        pass.dispatchWorkgroups(k);
      }
      pass.end();
      pass = begin(1);
      for (let round = 0; round < 4 + posDigits; round++) {
        encodeLinear(pass, histogram, hGroup, ring.write("passHistogram", { numSeqs: k, phase: 1, round, posDigits, chunksPerHead, ...key }, seqs), perKv);
        encodeLinear(pass, rankHead, rGroup, ring.write("passRankHead", { numSeqs: k, round, posDigits }), numSegs);
      }
      pass.end();
      pass = begin(2);
      encodeLinear(pass, tallyK, groupOf(tallyK, bufs), ring.write("passTally", { numSeqs: k, chunksPerHead, ...key }, seqs), perKv);
      encodeLinear(pass, offsets, groupOf(offsets, bufs), ring.write("passOffsets", { numSeqs: k, chunksPerHead }), 1);
      encodeLinear(pass, movesK, groupOf(movesK, bufs), ring.write("passMoves", { numSeqs: k, chunksPerHead, ...key }, seqs), perKv);
      pass.end();
    },
    destroy() {
      for (const b of buffers.values()) b.destroy();
      buffers.clear();
      ring.destroy();
    },
  };
}
