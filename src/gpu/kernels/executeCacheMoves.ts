// src/gpu/kernels/executeCacheMoves.ts — host wrapper of shaders/execute_cache_moves.wgsl.

import type { GpuKvPool } from "../pool";
import { BatchRing } from "../dispatch";
import { WG } from "../layout";
import { KERNEL_CONSTANTS, KERNEL_FILES, sourcesOf } from "./sources";
import { bindGroup, buildKernel, encodeLinear } from "./build";

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
    bindings: { 0: "storage", 1: "storage", 2: "storage", 3: "storage", 5: "storage", 6: "batch", 7: "read-only-storage" },
    constants: KERNEL_CONSTANTS.moves(d, pool.blocksPerShard),
  });
  const ring = new BatchRing(device, 64, "moves-batch");
  return {
    encode(pass, args) {
      if (args.numMoves <= 0) return;
      const group = bindGroup(device, built, { ...pool.poolBuffers(), 6: ring.buffer, 7: args.moves });
      const off = ring.write([args.firstMove ?? 0, args.numMoves]);
      encodeLinear(pass, built, group, off, Math.ceil((args.numMoves * d.headSize) / 4 / WG.moves));
    },
    destroy() { ring.destroy(); },
  };
}
