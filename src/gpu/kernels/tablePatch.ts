// src/gpu/kernels/tablePatch.ts — host wrapper of shaders/table_patch.wgsl: scattered words of
// the pool's headTables (lengths, block-table entries) written on the device from one list.

import { KERNEL_IO } from "../../contract";
import type { GpuKvPool } from "../pool";
import { BatchRing } from "../dispatch";
import { WG } from "../layout";
import { KERNEL_CONSTANTS, KERNEL_FILES, sourcesOf } from "./sources";
import { bindGroupCache, buildKernel, encodeLinear } from "./build";

export interface TablePatchArgs {
  /** u32 pairs (word index into headTables, value's bits); indices distinct within a dispatch. */
  patches: GPUBuffer;
  numPatches: number;
  firstPatch?: number;
}

export interface TablePatcher {
  /** Records the writes into `pass`. Never submits, never reads back. */
  encode(pass: GPUComputePassEncoder, args: TablePatchArgs): void;
  destroy(): void;
}

export async function createTablePatcher(device: GPUDevice, pool: GpuKvPool): Promise<TablePatcher> {
  const built = await buildKernel(device, {
    file: "table_patch.wgsl",
    sources: sourcesOf(KERNEL_FILES.tablePatch()),
    io: KERNEL_IO.tablePatch,
    constants: KERNEL_CONSTANTS.tablePatch(pool.dims, pool.blocksPerShard),
  });
  const ring = new BatchRing(device, 64, "table-patch-batch");
  const groupFor = bindGroupCache(device, built);
  return {
    encode(pass, args) {
      if (args.numPatches <= 0) return;
      const group = groupFor({ headTables: pool.headTables, batch: ring.buffer, patches: args.patches });
      const off = ring.write("tablePatch", { firstPatch: args.firstPatch ?? 0, numPatches: args.numPatches });
      encodeLinear(pass, built, group, off, Math.ceil(args.numPatches / WG.tablePatch));
    },
    destroy() { ring.destroy(); },
  };
}
