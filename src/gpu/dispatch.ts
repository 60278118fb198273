// src/gpu/dispatch.ts — the per-dispatch Batch uniform ring and 2-D grids (shaders/common/batch.wgsl).

import { BATCH_UNIFORM_BYTES, MAX_BATCH_SEQS } from "./layout";

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
   * Writes args (≤ 8 u32) and seqs (≤ MAX_BATCH_SEQS rows of ≤ 4 u32) into the next slot;
   * returns its byte offset for `setBindGroup(0, group, [offset])`.
   */
  write(args: ArrayLike<number>, seqs: ArrayLike<ArrayLike<number>> = []): number {
    if (args.length > 8) throw new Error("BatchRing: at most 8 args");
    if (seqs.length > MAX_BATCH_SEQS) throw new Error(`BatchRing: at most ${MAX_BATCH_SEQS} seqs`);
    const s = this.staging;
    s.fill(0);
    for (let i = 0; i < args.length; i++) s[i] = args[i];
    for (let k = 0; k < seqs.length; k++) for (let j = 0; j < seqs[k].length; j++) s[8 + 4 * k + j] = seqs[k][j];
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
