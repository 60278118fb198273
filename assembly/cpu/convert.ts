// Scalar f16 conversions exported so the TS wrapper and tests use the exact kernel rounding,
// and a streaming-read probe for the benchmark.
import { f32ToF16, f16ToF32 } from "./simd";
export function cpuF32ToF16(f: f32): u32 { return f32ToF16(f); }
export function cpuF16ToF32(h: u32): f32 { return f16ToF32(h); }

/**
 * Sums `bytes` (a multiple of 64) at p with 4 independent f32x4 chains: a plain streaming
 * read, the single-core memory-bandwidth probe bench/cpu_decode.bench.ts sets the kernels
 * against (a JS loop can be JIT-bound rather than memory-bound).
 */
export function cpuStreamRead(p: usize, bytes: usize): f32 {
  let a = f32x4.splat(0), b = a, c = a, d = a;
  for (let i: usize = 0; i < bytes; i += 64) {
    a = f32x4.add(a, v128.load(p + i)); b = f32x4.add(b, v128.load(p + i, 16));
    c = f32x4.add(c, v128.load(p + i, 32)); d = f32x4.add(d, v128.load(p + i, 48));
  }
  return f32x4.extract_lane(f32x4.add(f32x4.add(a, b), f32x4.add(c, d)), 0);
}
