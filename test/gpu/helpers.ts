// test/gpu/helpers.ts — move a RefPool (test/reference/kernels.ts) to and from the GPU pool.

import { type GpuKvPool, f16BitsToF32, f32ToF16Bits, packShards } from "../../src/gpu/pool";
import type { PoolGeometry, KvDtype } from "../../src/gpu/layout";
import { type PoolDims, RefPool } from "../reference/kernels";
import { kvBlockBytes, kvRecordWords } from "../../src/contract";
import { type QuantDtype, refDequantizeVec, refQuantizeVec } from "../reference/quant";

const isQuant = (dtype: KvDtype): dtype is QuantDtype => dtype === "q8" || dtype === "q4";

/** Bytes of one block of `dims` (for maxBindingBytes in tests). */
export const testBlockBytes = (dims: Pick<PoolGeometry, "blockSize" | "headSize" | "dtype">) => kvBlockBytes(dims.blockSize, dims.headSize, dims.dtype);

/** q8/q4 shard images: each slot's key and value quantized by the reference (test/reference/quant.ts). */
function packQuantShards(dims: PoolGeometry, blocksPerShard: number, ref: RefPool, dtype: QuantDtype): ArrayBuffer[] {
  const { headSize: d, blockSize: b, numBlocks } = dims;
  const R = kvRecordWords(d, dtype);
  const out: ArrayBuffer[] = [];
  for (let s = 0; s * blocksPerShard < numBlocks; s++) {
    const blocks = Math.min(blocksPerShard, numBlocks - s * blocksPerShard);
    const w = new Uint32Array(blocks * 2 * b * R);
    for (let lb = 0; lb < blocks; lb++) for (let kv = 0; kv < 2; kv++) for (let o = 0; o < b; o++) {
      const slot = (s * blocksPerShard + lb) * b + o;
      const src = kv === 0 ? ref.keys : ref.values;
      w.set(refQuantizeVec(src.subarray(slot * d, slot * d + d), dtype), ((lb * 2 + kv) * b + o) * R);
    }
    out.push(w.buffer);
  }
  return out;
}

/** Raw u32 records of a q8/q4 GPU pool: [numBlocks · b (slot), 2 (key, value), R]. */
export async function readQuantRecords(device: GPUDevice, gpu: GpuKvPool): Promise<Uint32Array> {
  const { headSize: d, blockSize: b, numBlocks, dtype } = gpu.dims;
  const R = kvRecordWords(d, dtype);
  const out = new Uint32Array(numBlocks * b * 2 * R);
  for (let s = 0; s < gpu.numShards; s++) {
    const raw = new Uint32Array(await readBuffer(device, gpu.kvShards[s]));
    const blocks = Math.min(gpu.blocksPerShard, numBlocks - s * gpu.blocksPerShard);
    for (let lb = 0; lb < blocks; lb++) for (let kv = 0; kv < 2; kv++) for (let o = 0; o < b; o++) {
      const slot = (s * gpu.blocksPerShard + lb) * b + o;
      out.set(raw.subarray(((lb * 2 + kv) * b + o) * R, ((lb * 2 + kv) * b + o + 1) * R), (slot * 2 + kv) * R);
    }
  }
  return out;
}

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
  const dt = gpu.dims.dtype;
  const images = isQuant(dt) ? packQuantShards(gpu.dims, gpu.blocksPerShard, ref, dt) : packShards(gpu.dims, gpu.blocksPerShard, ref);
  images.forEach((img, s) => device.queue.writeBuffer(gpu.kvShards[s], 0, img));
  gpu.writeHeadTables(ref.ctxLens as Int32Array<ArrayBuffer>, ref.blockTables as Int32Array<ArrayBuffer>);
  device.queue.writeBuffer(gpu.slotMeta, 0, Float32Array.from(ref.metrics));
  device.queue.writeBuffer(gpu.slotMeta, gpu.positionsOffsetBytes, ref.positions as Uint32Array<ArrayBuffer>);
}

/** Reads the GPU pool back into a RefPool shaped like `like` (keys/values by slot, metrics, positions). */
export async function readPool(device: GPUDevice, gpu: GpuKvPool, like: RefPool): Promise<RefPool> {
  const out = like.clone();
  const { headSize: d, blockSize: b, numBlocks, dtype } = gpu.dims;
  if (isQuant(dtype)) {
    const rec = await readQuantRecords(device, gpu);
    const R = kvRecordWords(d, dtype);
    for (let slot = 0; slot < numBlocks * b; slot++) {
      out.keys.set(refDequantizeVec(rec.subarray(slot * 2 * R, slot * 2 * R + R), d, dtype), slot * d);
      out.values.set(refDequantizeVec(rec.subarray(slot * 2 * R + R, slot * 2 * R + 2 * R), d, dtype), slot * d);
    }
  }
  for (let s = 0; s < gpu.numShards && !isQuant(dtype); s++) {
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
