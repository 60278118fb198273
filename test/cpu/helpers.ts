// Shared by the CPU-backend tests: moves a RefPool (test/reference/kernels.ts) into a
// CpuKvPool and back, so every kernel is checked against the f64 straight-loop reference.
import cpuWasm from "kvcompress:wasm/cpu";
import { CpuKvPool, CPU_STAGE_OUT } from "../../src/cpu/pool";
import { RefPool, randomPool, type PoolDims } from "../reference/kernels";
import { refDequantizeVec, refQuantizeVec, roundPoolToQuant } from "../reference/quant";
import { kvRecordWords } from "../../src/contract";

export { CPU_STAGE_OUT };

export type Dtype = "f32" | "f16" | "q8" | "q4";
const isQuant = (dtype: Dtype): dtype is "q8" | "q4" => dtype === "q8" || dtype === "q4";

/** Poisons a staging region so a kernel that skips an element shows up as NaN. */
export function poison(pool: CpuKvPool, id: number, floats: number): void {
  const p = pool.scratch(id, floats * 4);
  new Float32Array(pool.wasm.memory.buffer, p, floats).fill(NaN);
}

export async function cpuPoolFor(dims: PoolDims, numQHeads: number, dtype: Dtype): Promise<CpuKvPool> {
  return CpuKvPool.create(cpuWasm, { ...dims, numQHeads, dtype });
}

/** Writes tables, lengths, K/V (f16: ref must hold f16-representable values), metrics, positions. */
export function loadPool(cpu: CpuKvPool, ref: RefPool): void {
  cpu.blockTablesView().set(ref.blockTables);
  cpu.ctxLensView().set(ref.ctxLens);
  cpu.seqLensView().set(ref.seqLens);
  const { headSize: d, blockSize: b, numBlocks: N } = ref.dims;
  const kv = cpu.kvView();
  const dtype = cpu.config.dtype;
  if (isQuant(dtype)) {
    const R = kvRecordWords(d, dtype);
    for (let slot = 0; slot < N * b; slot++) {
      const blk = Math.floor(slot / b), t = slot % b;
      kv.set(refQuantizeVec(ref.keys.subarray(slot * d, slot * d + d), dtype), ((blk * 2) * b + t) * R);
      kv.set(refQuantizeVec(ref.values.subarray(slot * d, slot * d + d), dtype), ((blk * 2 + 1) * b + t) * R);
    }
  }
  const enc = cpu.config.dtype === "f16" ? (x: number) => cpu.wasm.cpuF32ToF16(x) : (x: number) => x;
  for (let slot = 0; slot < N * b && !isQuant(dtype); slot++) {
    const blk = Math.floor(slot / b), t = slot % b;
    const k0 = ((blk * 2) * b + t) * d, v0 = ((blk * 2 + 1) * b + t) * d;
    for (let j = 0; j < d; j++) {
      kv[k0 + j] = enc(ref.keys[slot * d + j]);
      kv[v0 + j] = enc(ref.values[slot * d + j]);
    }
  }
  cpu.metricsView().set(ref.metrics);
  cpu.positionsView().set(ref.positions);
}

/** The CPU pool's K/V/metrics/positions in RefPool layout (f64). */
export function readPool(cpu: CpuKvPool, dims: PoolDims): RefPool {
  const out = new RefPool(dims);
  const { headSize: d, blockSize: b, numBlocks: N } = dims;
  const kv = cpu.kvView();
  const dtype = cpu.config.dtype;
  if (isQuant(dtype)) {
    const rec = readRecords(cpu), R = kvRecordWords(d, dtype);
    for (let slot = 0; slot < N * b; slot++) {
      out.keys.set(refDequantizeVec(rec.subarray(slot * 2 * R, slot * 2 * R + R), d, dtype), slot * d);
      out.values.set(refDequantizeVec(rec.subarray(slot * 2 * R + R, slot * 2 * R + 2 * R), d, dtype), slot * d);
    }
  }
  const dec = cpu.config.dtype === "f16" ? (h: number) => cpu.wasm.cpuF16ToF32(h) : (x: number) => x;
  for (let slot = 0; slot < N * b && !isQuant(dtype); slot++) {
    const blk = Math.floor(slot / b), t = slot % b;
    const k0 = ((blk * 2) * b + t) * d, v0 = ((blk * 2 + 1) * b + t) * d;
    for (let j = 0; j < d; j++) {
      out.keys[slot * d + j] = dec(kv[k0 + j]);
      out.values[slot * d + j] = dec(kv[v0 + j]);
    }
  }
  out.metrics.set(cpu.metricsView());
  out.positions.set(cpu.positionsView());
  return out;
}

/** q8/q4 records by slot: [numBlocks · b, 2 (key, value), R] u32 (a copy). */
export function readRecords(cpu: CpuKvPool): Uint32Array {
  const { headSize: d, blockSize: b, numBlocks: N, dtype } = cpu.config;
  const R = kvRecordWords(d, dtype), kv = cpu.kvView() as Uint32Array, out = new Uint32Array(N * b * 2 * R);
  for (let slot = 0; slot < N * b; slot++) for (let kvi = 0; kvi < 2; kvi++) {
    const src = ((Math.floor(slot / b) * 2 + kvi) * b + (slot % b)) * R;
    out.set(kv.subarray(src, src + R), (slot * 2 + kvi) * R);
  }
  return out;
}

/** Awkward per-head lengths: 0, 1, b−1, b, b+1, and long ones not a multiple of b. */
export function awkwardLen(rng: () => number, b: number, seqLen: number): number {
  const picks = [0, 1, b - 1, b, b + 1, 3 * b + 5, seqLen, Math.floor(rng() * (seqLen + 1))];
  return Math.min(seqLen, picks[Math.floor(rng() * picks.length)]);
}

/** A random pool with scattered blocks; f16 rounds K/V to f16 first. */
export function makeRefPool(rng: () => number, dims: PoolDims, seqLens: number[], dtype: Dtype,
  contiguousPositions = false, lenOf?: (l: number, s: number, h: number) => number): RefPool {
  const ref = randomPool(rng, {
    dims, seqLens, contiguousPositions,
    ctxLenOf: lenOf ?? ((_l, s) => awkwardLen(rng, dims.blockSize, seqLens[s])),
  });
  if (dtype === "f16") ref.roundToF16();
  if (isQuant(dtype)) roundPoolToQuant(ref, dtype);
  return ref;
}

export function randomF32(rng: () => number, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng() * 2 - 1;
  return a;
}

/**
 * Element-wise max |a − b| / max(|b|, floor) (NaN → Infinity): stricter than the norm-wise
 * maxRelErr of the reference for small entries such as p² metrics.
 */
export function elemRelErr(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-3): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let e = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = b[i];
    if (Number.isNaN(x) || Number.isNaN(y)) return Infinity;
    if (x !== y) e = Math.max(e, Math.abs(x - y) / Math.max(Math.abs(y), floor));
  }
  return e;
}

/** Norm-wise relative error (as the reference's maxRelErr) taken per row of `width`, worst row. */
export function rowRelErr(a: ArrayLike<number>, b: ArrayLike<number>, width: number): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let worst = 0;
  for (let r = 0; r < a.length; r += width) {
    let e = 0, m = 0;
    for (let i = r; i < r + width; i++) {
      if (Number.isNaN(a[i]) || Number.isNaN(b[i])) return Infinity;
      e = Math.max(e, Math.abs(a[i] - b[i]));
      m = Math.max(m, Math.abs(b[i]));
    }
    if (e > 0) worst = Math.max(worst, m === 0 ? Infinity : e / m);
  }
  return worst;
}
