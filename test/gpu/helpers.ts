// test/gpu/helpers.ts — move a RefPool (test/reference/kernels.ts) to and from the GPU pool.

import { type GpuKvPool, f16BitsToF32, f32ToF16Bits, packShards } from "../../src/gpu/pool";
import type { PoolGeometry, KvDtype } from "../../src/gpu/layout";
import { type PoolDims, RefPool } from "../reference/kernels";

/** Fresh seed per run; suites put it in every assertion message so a failure can be replayed. */
export const freshSeed = () => (Math.random() * 2 ** 32) >>> 0;

export const kernelDims = (p: PoolDims, numQHeads: number, dtype: KvDtype): PoolGeometry => ({ ...p, numQHeads, dtype });

export function storageBuffer(device: GPUDevice, data: ArrayBufferView | number, label = "test"): GPUBuffer {
  const size = typeof data === "number" ? data : data.byteLength;
  const buf = device.createBuffer({
    label, size: Math.max(16, Math.ceil(size / 4) * 4),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
  if (typeof data !== "number") device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
  return buf;
}

/** A buffer of `numFloats` NaNs, so an unwritten output element fails the comparison. */
export const nanBuffer = (device: GPUDevice, numFloats: number, label = "poisoned") =>
  storageBuffer(device, new Float32Array(numFloats).fill(NaN), label);

export async function readBuffer(device: GPUDevice, buf: GPUBuffer, offset = 0, size = buf.size - offset): Promise<ArrayBuffer> {
  const staging = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buf, offset, staging, 0, size);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = staging.getMappedRange().slice(0);
  staging.destroy();
  return out;
}

/** Uploads KV data, tables, metrics and positions of `ref` into `gpu`. */
export function uploadPool(device: GPUDevice, gpu: GpuKvPool, ref: RefPool): void {
  const images = packShards(gpu.dims, gpu.blocksPerShard, ref);
  images.forEach((img, s) => device.queue.writeBuffer(gpu.kvShards[s], 0, img));
  gpu.writeHeadTables(ref.ctxLens as Int32Array<ArrayBuffer>, ref.blockTables as Int32Array<ArrayBuffer>);
  device.queue.writeBuffer(gpu.slotMeta, 0, Float32Array.from(ref.metrics));
  device.queue.writeBuffer(gpu.slotMeta, gpu.positionsOffsetBytes, ref.positions as Uint32Array<ArrayBuffer>);
}

/** Reads the GPU pool back into a RefPool shaped like `like` (keys/values by slot, metrics, positions). */
export async function readPool(device: GPUDevice, gpu: GpuKvPool, like: RefPool): Promise<RefPool> {
  const out = like.clone();
  const { headSize: d, blockSize: b, numBlocks } = gpu.dims;
  for (let s = 0; s < gpu.numShards; s++) {
    const raw = await readBuffer(device, gpu.kvShards[s]);
    const vals = gpu.dims.dtype === "f32" ? new Float32Array(raw) : Array.from(new Uint16Array(raw), f16BitsToF32);
    const blocks = Math.min(gpu.blocksPerShard, numBlocks - s * gpu.blocksPerShard);
    for (let lb = 0; lb < blocks; lb++) for (let kv = 0; kv < 2; kv++) for (let o = 0; o < b; o++) {
      const slot = (s * gpu.blocksPerShard + lb) * b + o;
      const dst = kv === 0 ? out.keys : out.values;
      for (let j = 0; j < d; j++) dst[slot * d + j] = vals[((lb * 2 + kv) * b + o) * d + j];
    }
  }
  const meta = await readBuffer(device, gpu.slotMeta);
  out.metrics.set(new Float32Array(meta, 0, numBlocks * b));
  out.positions.set(new Uint32Array(meta, gpu.positionsOffsetBytes, numBlocks * b));
  return out;
}

/** Runs `record` in one compute pass, submits, and waits. */
export async function runPass(device: GPUDevice, record: (pass: GPUComputePassEncoder) => void): Promise<void> {
  device.pushErrorScope("validation");
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  record(pass);
  pass.end();
  device.queue.submit([enc.finish()]);
  await device.queue.onSubmittedWorkDone();
  const err = await device.popErrorScope();
  if (err) throw new Error(`GPU validation: ${err.message}`);
}

/** Random f32 array in [-1, 1), optionally rounded to f16. */
export function randomArray(rng: () => number, n: number, f16 = false): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng() * 2 - 1;
  if (f16) for (let i = 0; i < n; i++) a[i] = f16BitsToF32(f32ToF16Bits(a[i]));
  return a;
}
