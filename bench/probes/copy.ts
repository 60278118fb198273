// bench/probes/copy.ts — the copy baseline every GPU bench measures in the same run
// (bench/probes/copy_buffer.wgsl): a bench probe, not a production kernel, so its bindings and
// uniform fields live here rather than in src/contract.ts.
import type { KernelIo } from "../../src/contract";
import { BatchRing } from "../../src/gpu/dispatch";
import { bindGroup, buildKernel, encodeLinear } from "../../src/gpu/kernels/build";
import { WGSL } from "../../src/gpu/kernels/sources";
import copyWgsl from "./copy_buffer.wgsl";

/** Invocations per workgroup of the copy baseline. */
const COPY_WG_SIZE = 256;
const COPY_IO: KernelIo = {
  bindings: { batch: [6, "batch"], src: [7, "read-only-storage"], dst: [8, "storage"] }, args: ["numVec4"], seq: ["_pad0", "_pad1", "_pad2", "_pad3"],
};

export interface CopyProbe {
  /** Encodes one copy of `bytes` from src to dst (2 · bytes moved). */
  encode(pass: GPUComputePassEncoder): void;
  destroy(): void;
}

/** A copy of `bytes` (a multiple of 16) between two fresh storage buffers; `src` filled by `fill`. */
export async function createCopyProbe(device: GPUDevice, bytes: number, fill?: (bufs: GPUBuffer[]) => Promise<void>): Promise<CopyProbe> {
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  const src = device.createBuffer({ size: bytes, usage }), dst = device.createBuffer({ size: bytes, usage });
  if (fill) await fill([src]);
  const built = await buildKernel(device, {
    file: "copy_buffer.wgsl", sources: [WGSL["common/batch.wgsl"], copyWgsl], io: COPY_IO, constants: { WG_SIZE: COPY_WG_SIZE },
  });
  const ring = new BatchRing(device, 4, "copy-batch");
  const group = bindGroup(device, built, { batch: ring.buffer, src, dst });
  const off = ring.writeIo(COPY_IO, { numVec4: bytes / 16 });
  return {
    encode(pass) { encodeLinear(pass, built, group, off, Math.ceil(bytes / 16 / (COPY_WG_SIZE * 4))); },
    destroy() { src.destroy(); dst.destroy(); ring.destroy(); },
  };
}
