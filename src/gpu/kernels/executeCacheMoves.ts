// src/gpu/kernels/executeCacheMoves.ts — host wrapper of shaders/execute_cache_moves.wgsl.

import { KERNEL_IO, isQuantized, kvRecordWords } from "../../contract";
import type { GpuKvPool } from "../pool";
import { BatchRing } from "../dispatch";
import { WG } from "../layout";
import { KERNEL_CONSTANTS, KERNEL_FILES, sourcesOf } from "./sources";
import { bindGroupCache, buildKernel, encodeLinear } from "./build";

export interface CacheMoveArgs {
  /** u32 pairs (dstSlot, srcSlot), CSR by head (CONTRACTS.md); the kernel ignores the CSR split. */
  moves: GPUBuffer;
  /** Pairs to execute, starting at pair `firstMove` (default 0). */
  numMoves: number;
  firstMove?: number;
}

export interface CacheMoveExecutor {
  /** Records the moves into `pass`. Never submits, never reads back. */
  encode(pass: GPUComputePassEncoder, args: CacheMoveArgs): void;
  destroy(): void;
}

export async function createCacheMoveExecutor(device: GPUDevice, pool: GpuKvPool): Promise<CacheMoveExecutor> {
  const d = pool.dims;
  const built = await buildKernel(device, {
    file: "execute_cache_moves.wgsl",
    sources: sourcesOf(KERNEL_FILES.moves(d.dtype)),
    io: KERNEL_IO.moves,
    constants: KERNEL_CONSTANTS.moves(d, pool.blocksPerShard),
  });
  const ring = new BatchRing(device, 64, "moves-batch");
  // One invocation per stored unit of a record: a 4-element chunk, or a u32 word for q8/q4.
  const unitsPerVec = isQuantized(d.dtype) ? kvRecordWords(d.headSize, d.dtype) : d.headSize / 4;
  const groupFor = bindGroupCache(device, built);
  return {
    encode(pass, args) {
      if (args.numMoves <= 0) return;
      const group = groupFor({ ...pool.poolBuffers(), batch: ring.buffer, moves: args.moves });
      const off = ring.write("moves", { firstMove: args.firstMove ?? 0, numMoves: args.numMoves });
      encodeLinear(pass, built, group, off, Math.ceil((args.numMoves * unitsPerVec) / WG.moves));
    },
    destroy() { ring.destroy(); },
  };
}
