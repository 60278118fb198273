// Dense math of a Llama-family forward pass on wasm SIMD (issue 13): W·x for weights kept in
// their stored 16-bit (bf16 / f16) or f32 form, RMSNorm, SwiGLU and embedding gather. Weights
// are widened to f32 in registers only, so host memory for a model stays about its file size.
// Layout: W [outDim, inDim] row-major, activations [n, dim] row-major f32. Accumulation f32.
// Every region (tensors, activations) comes from topAlloc (assembly/cpu/pool.ts): the top of
// linear memory, never the control plane's heap.
import { topAlloc, lastError } from "./pool";
import { f16ToF32 } from "./simd";

/** Weight storage codes shared with src/cpu/dense.ts. */
export const DT_F32: i32 = 0;
export const DT_F16: i32 = 1;
export const DT_BF16: i32 = 2;
/** f16 whose halves were all checked finite at upload: the 4-op widening (no inf/NaN fix-up). */
export const DT_F16_FINITE: i32 = 3;

/** `bytes` (rounded up to 64 KiB pages) from the top of memory; 0 when it cannot grow. */
export function cpuDenseAlloc(bytes: u32): usize { return topAlloc(<u64>bytes); }
/** Why the last cpuDenseAlloc returned 0 (1 past 4 GiB, 2 grow refused). */
export function cpuDenseAllocError(): i32 { return lastError; }

// ── widening: 4 stored elements at p -> f32x4 ───────────────────────────────────────────
// bf16 is the top half of an f32: zero-extend and shift. f16: sign-extend, << 13 puts the
// exponent and mantissa at the f32 positions (bits 28..30 junk, masked); the f32 multiply by
// 2^112 rebiases the exponent and normalises subnormals exactly. Exponent 31 (inf/NaN) would
// come out finite-large, so the general form forces the f32 exponent to all ones there.
// @ts-ignore: decorator
@inline function wide4(p: usize, dt: i32): v128 {
  if (dt == DT_F32) return v128.load(p);
  if (dt == DT_BF16) return i32x4.shl(v128.load16x4_u(p), 16);
  const y = v128.and(i32x4.shl(v128.load16x4_s(p), 13), i32x4.splat(0x8fffe000));
  const f = f32x4.mul(y, f32x4.splat(reinterpret<f32>(0x77800000)));
  if (dt == DT_F16_FINITE) return f;
  const big = i32x4.ge_u(v128.and(y, i32x4.splat(0x0fffe000)), i32x4.splat(0x0f800000));
  return v128.or(f, v128.and(big, i32x4.splat(0x7f800000)));
}

// @ts-ignore: decorator
@inline function wide1(p: usize, dt: i32): f32 {
  if (dt == DT_F32) return load<f32>(p);
  if (dt == DT_BF16) return reinterpret<f32>(<u32>load<u16>(p) << 16);
  return f16ToF32(<u32>load<u16>(p));
}

// @ts-ignore: decorator
@inline function esize(dt: i32): usize { return dt == DT_F32 ? 4 : 2; }

// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** Tokens per weight-row pass: every weight chunk is widened once and used TB times. */
const TB: i32 = 4;

// One dtype per instantiation: dt is a constant in each caller, so the branches in wide4 fold
// away after inlining (the release build specialises every loop below per dtype).
// @ts-ignore: decorator
@inline function matmulDt(dt: i32, w: usize, inDim: i32, outDim: i32, x: usize, n: i32, out: usize,
  bias: usize, biasDt: i32, acc: i32): void {
  const es = esize(dt);
  const rowBytes = <usize>inDim * es;
  const in16 = inDim & ~15, in4 = inDim & ~3;
  const xs = <usize>inDim << 2, os = <usize>outDim << 2;
  let t0: i32 = 0;
  // blocks of TB tokens: the weight row streams once per block (prefill is bandwidth-bound)
  for (; t0 + TB <= n; t0 += TB) {
    const x0 = x + <usize>t0 * xs, x1 = x0 + xs, x2 = x1 + xs, x3 = x2 + xs;
    const ob = out + <usize>t0 * os;
    for (let o: i32 = 0; o < outDim; o++) {
      const wr = w + <usize>o * rowBytes;
      let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
      let i: i32 = 0;
      for (; i < in4; i += 4) {
        const wv = wide4(wr + <usize>i * es, dt);
        const xo = <usize>i << 2;
        a0 = f32x4.add(a0, f32x4.mul(wv, v128.load(x0 + xo)));
        a1 = f32x4.add(a1, f32x4.mul(wv, v128.load(x1 + xo)));
        a2 = f32x4.add(a2, f32x4.mul(wv, v128.load(x2 + xo)));
        a3 = f32x4.add(a3, f32x4.mul(wv, v128.load(x3 + xo)));
      }
      let s0 = hsum(a0), s1 = hsum(a1), s2 = hsum(a2), s3 = hsum(a3);
      for (; i < inDim; i++) {
        const wv = wide1(wr + <usize>i * es, dt);
        const xo = <usize>i << 2;
        s0 += wv * load<f32>(x0 + xo); s1 += wv * load<f32>(x1 + xo);
        s2 += wv * load<f32>(x2 + xo); s3 += wv * load<f32>(x3 + xo);
      }
      if (bias != 0) {
        const b = wide1(bias + <usize>o * esize(biasDt), biasDt);
        s0 += b; s1 += b; s2 += b; s3 += b;
      }
      const op = ob + (<usize>o << 2);
      if (acc) {
        s0 += load<f32>(op); s1 += load<f32>(op + os);
        s2 += load<f32>(op + 2 * os); s3 += load<f32>(op + 3 * os);
      }
      store<f32>(op, s0); store<f32>(op + os, s1); store<f32>(op + 2 * os, s2); store<f32>(op + 3 * os, s3);
    }
  }
  // left-over tokens (and decode, n = 1): one token per pass
  for (; t0 < n; t0++) {
    const x0 = x + <usize>t0 * xs;
    const ob = out + <usize>t0 * os;
    for (let o: i32 = 0; o < outDim; o++) {
      const wr = w + <usize>o * rowBytes;
      // four chains: with one or two, the f32x4.add latency (not memory) bounds the rate
      let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
      let i: i32 = 0;
      for (; i < in16; i += 16) {
        const xo = <usize>i << 2, wp = wr + <usize>i * es;
        a0 = f32x4.add(a0, f32x4.mul(wide4(wp, dt), v128.load(x0 + xo)));
        a1 = f32x4.add(a1, f32x4.mul(wide4(wp + 4 * es, dt), v128.load(x0 + xo, 16)));
        a2 = f32x4.add(a2, f32x4.mul(wide4(wp + 8 * es, dt), v128.load(x0 + xo, 32)));
        a3 = f32x4.add(a3, f32x4.mul(wide4(wp + 12 * es, dt), v128.load(x0 + xo, 48)));
      }
      for (; i < in4; i += 4) a0 = f32x4.add(a0, f32x4.mul(wide4(wr + <usize>i * es, dt), v128.load(x0 + (<usize>i << 2))));
      let s0 = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
      for (; i < inDim; i++) s0 += wide1(wr + <usize>i * es, dt) * load<f32>(x0 + (<usize>i << 2));
      if (bias != 0) s0 += wide1(bias + <usize>o * esize(biasDt), biasDt);
      const op = ob + (<usize>o << 2);
      if (acc) s0 += load<f32>(op);
      store<f32>(op, s0);
    }
  }
}

/**
 * out[t, o] (+)= Σ_i W[o, i]·x[t, i] + bias[o] for t < n. W at w ([outDim, inDim], dtype dt),
 * x f32 [n, inDim], out f32 [n, outDim] (must not overlap x); bias = 0 for none (dtype biasDt);
 * acc != 0 adds into out (residual). Returns 0, or 1 for a bad dtype code.
 */
export function cpuDenseMatmul(w: usize, dt: i32, inDim: i32, outDim: i32, x: usize, n: i32, out: usize,
  bias: usize, biasDt: i32, acc: i32): i32 {
  if (dt == DT_F32) matmulDt(DT_F32, w, inDim, outDim, x, n, out, bias, biasDt, acc);
  else if (dt == DT_BF16) matmulDt(DT_BF16, w, inDim, outDim, x, n, out, bias, biasDt, acc);
  else if (dt == DT_F16_FINITE) matmulDt(DT_F16_FINITE, w, inDim, outDim, x, n, out, bias, biasDt, acc);
  else if (dt == DT_F16) matmulDt(DT_F16, w, inDim, outDim, x, n, out, bias, biasDt, acc);
  else return 1;
  return 0;
}

/** 1 when none of the n halves at p is inf/NaN (exponent 31), so DT_F16_FINITE applies. */
export function cpuDenseHalvesFinite(p: usize, n: u32): i32 {
  const m = i16x8.splat(0x7c00);
  let bad = i16x8.splat(0);
  let i: u32 = 0;
  for (; i + 8 <= n; i += 8) bad = v128.or(bad, i16x8.eq(v128.and(v128.load(p + (<usize>i << 1)), m), m));
  let tail = false;
  for (; i < n; i++) tail = tail || (load<u16>(p + (<usize>i << 1)) & 0x7c00) == 0x7c00;
  return v128.any_true(bad) || tail ? 0 : 1;
}

/**
 * out[t] = x[t] · (1/√(mean(x[t]²) + eps)) · (weight + addOne), per token; weight [dim] of
 * dtype dt. addOne is 0 for Llama (1 for the Gemma form). out may equal x.
 */
export function cpuDenseRmsNorm(x: usize, weight: usize, dt: i32, n: i32, dim: i32, eps: f32, out: usize, addOne: f32): void {
  const d4 = dim & ~3;
  const es = esize(dt);
  for (let t: i32 = 0; t < n; t++) {
    const xr = x + (<usize>t * <usize>dim << 2), orow = out + (<usize>t * <usize>dim << 2);
    let a = f32x4.splat(0);
    let i: i32 = 0;
    for (; i < d4; i += 4) { const v = v128.load(xr + (<usize>i << 2)); a = f32x4.add(a, f32x4.mul(v, v)); }
    let ss = hsum(a);
    for (; i < dim; i++) { const v = load<f32>(xr + (<usize>i << 2)); ss += v * v; }
    const inv: f32 = 1.0 / Mathf.sqrt(ss / <f32>dim + eps);
    const invv = f32x4.splat(inv), one = f32x4.splat(addOne);
    i = 0;
    if (dt == DT_F32) {
      for (; i < d4; i += 4) v128.store(orow + (<usize>i << 2), f32x4.mul(f32x4.mul(v128.load(xr + (<usize>i << 2)), invv), f32x4.add(wide4(weight + <usize>i * 4, DT_F32), one)));
    } else if (dt == DT_BF16) {
      for (; i < d4; i += 4) v128.store(orow + (<usize>i << 2), f32x4.mul(f32x4.mul(v128.load(xr + (<usize>i << 2)), invv), f32x4.add(wide4(weight + <usize>i * 2, DT_BF16), one)));
    } else {
      for (; i < d4; i += 4) v128.store(orow + (<usize>i << 2), f32x4.mul(f32x4.mul(v128.load(xr + (<usize>i << 2)), invv), f32x4.add(wide4(weight + <usize>i * 2, DT_F16), one)));
    }
    for (; i < dim; i++) store<f32>(orow + (<usize>i << 2), load<f32>(xr + (<usize>i << 2)) * inv * (wide1(weight + <usize>i * es, dt) + addOne));
  }
}

/** out[i] = silu(gate[i]) · up[i] = gate/(1 + e^-gate) · up, count floats; out may alias either. */
export function cpuDenseSwiglu(gate: usize, up: usize, out: usize, count: u32): void {
  for (let i: u32 = 0; i < count; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(gate + o);
    store<f32>(out + o, g / (1.0 + Mathf.exp(-g)) * load<f32>(up + o));
  }
}

/** out[k] = f32(table[ids[k]]) rows of dim; ids i32 [count], already range-checked by the caller. */
export function cpuDenseEmbed(table: usize, dt: i32, dim: i32, ids: usize, count: i32, out: usize): void {
  const es = esize(dt), d4 = dim & ~3;
  for (let k: i32 = 0; k < count; k++) {
    const src = table + <usize>load<i32>(ids + (<usize>k << 2)) * <usize>dim * es;
    const dst = out + (<usize>k * <usize>dim << 2);
    let i: i32 = 0;
    if (dt == DT_F32) memory.copy(dst, src, <usize>dim << 2);
    else {
      if (dt == DT_BF16) for (; i < d4; i += 4) v128.store(dst + (<usize>i << 2), wide4(src + (<usize>i << 1), DT_BF16));
      else for (; i < d4; i += 4) v128.store(dst + (<usize>i << 2), wide4(src + (<usize>i << 1), DT_F16));
      for (; i < dim; i++) store<f32>(dst + (<usize>i << 2), wide1(src + (<usize>i << 1), dt));
    }
  }
}
