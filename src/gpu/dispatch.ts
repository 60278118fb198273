// src/gpu/dispatch.ts — the per-dispatch Batch uniform ring and 2-D grids (shaders/common/batch.wgsl).

import { type ArgsOf, BATCH_UNIFORM_BYTES, KERNEL_IO, type KernelIo, type KernelName, MAX_BATCH_SEQS, type SeqOf, packUniform } from "../contract";

/** Uniform slots are 256-byte aligned for dynamic offsets. */
const SLOT_BYTES = Math.ceil(BATCH_UNIFORM_BYTES / 256) * 256;

/**
 * A ring of Batch uniforms, one slot per encoded dispatch, bound with a dynamic offset.
 * `queue.writeBuffer` lands before the next submit, so one slot must not be reused by two
 * dispatches of the same submit: a wrapper may encode at most `numSlots` dispatches per submit.
 */
export class BatchRing {
  readonly buffer: GPUBuffer;
  private next = 0;
  private readonly staging = new Uint32Array(BATCH_UNIFORM_BYTES / 4);

  constructor(private readonly device: GPUDevice, readonly numSlots = 256, label = "batch-ring") {
    this.buffer = device.createBuffer({
      label, size: SLOT_BYTES * numSlots, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
  }

  /**
   * Writes kernel `kernel`'s Args and Seq rows, by field name (src/contract.ts KERNEL_IO), into
   * the next slot; returns its byte offset for `setBindGroup(0, group, [offset])`.
   */
  write<K extends KernelName>(kernel: K, args: ArgsOf<K>, seqs: readonly SeqOf<K>[] = []): number {
    return this.writeIo(KERNEL_IO[kernel], args, seqs);
  }

  /** write() for a kernel outside KERNEL_IO (the bench probes), given its field lists. */
  writeIo(io: KernelIo, args: Readonly<Record<string, number>>, seqs: readonly Readonly<Record<string, number>>[] = []): number {
    const s = this.staging;
    packUniform(io, args, seqs, s);
    const offset = this.next * SLOT_BYTES;
    this.next = (this.next + 1) % this.numSlots;
    this.device.queue.writeBuffer(this.buffer, offset, s);
    return offset;
  }

  destroy(): void { this.buffer.destroy(); }
}

/** Splits a workgroup count into a 2-D grid (x ≤ maxPerDim); kernels linearise with linearWorkgroup. */
export function grid2d(numWorkgroups: number, maxPerDim = 65535): [number, number] {
  if (numWorkgroups <= maxPerDim) return [Math.max(1, numWorkgroups), 1];
  const y = Math.ceil(numWorkgroups / maxPerDim);
  return [Math.ceil(numWorkgroups / y), y];
}

/** Dispatches `numWorkgroups` (≥ 1 after clamping) as a 2-D grid. */
export function dispatchLinear(pass: GPUComputePassEncoder, numWorkgroups: number, maxPerDim = 65535): void {
  if (numWorkgroups <= 0) return;
  const [x, y] = grid2d(numWorkgroups, maxPerDim);
  pass.dispatchWorkgroups(x, y);
}

/** Splits a list into runs of at most MAX_BATCH_SEQS. */
export function batchChunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += MAX_BATCH_SEQS) out.push(items.slice(i, i + MAX_BATCH_SEQS));
  return out;
}

/** Largest buffer a kernel can bind whole: min(maxStorageBufferBindingSize, maxBufferSize). */
export const maxBindingBytes = (device: GPUDevice) =>
  Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
