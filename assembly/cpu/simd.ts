// Numeric helpers for the CPU kernels: f16 <-> f32 by bit manipulation (AssemblyScript has
// no f16 type) and a 4-lane exp. Bit-exact with WGSL pack2x16float / unpack2x16float for
// every finite input (round-to-nearest-even, subnormals kept, overflow -> inf).

/** f32 -> f16 bits, round to nearest even. NaN -> quiet NaN (WGSL leaves it indeterminate). */
export function f32ToF16(f: f32): u32 {
  const x = reinterpret<u32>(f);
  const sign = (x >>> 16) & 0x8000;
  let a = x & 0x7fffffff;
  if (a >= 0x7f800000) return sign | (a > 0x7f800000 ? 0x7e00 : 0x7c00);
  if (a >= 0x477ff000) return sign | 0x7c00; // >= 65520 rounds (to even) past 65504: inf
  if (a < 0x38800000) {
    // below 2^-14: half subnormal. Adding 0.5 puts the value's 2^-24 units (the half
    // subnormal ulp) into the f32 mantissa with IEEE round-to-nearest-even done for us.
    const t = reinterpret<u32>(reinterpret<f32>(a) + 0.5);
    return sign | (t - 0x3f000000);
  }
  // normal: rebias the exponent (-112 << 23) and round at bit 13 (+0xfff, +1 when odd)
  a += 0xc8000fff + ((a >>> 13) & 1);
  return sign | (a >>> 13);
}

/** f16 bits -> f32 (exact). */
export function f16ToF32(h: u32): f32 {
  const sign = (h & 0x8000) << 16;
  const em = h & 0x7fff;
  if (em >= 0x7c00) return reinterpret<f32>(sign | 0x7f800000 | ((em & 0x3ff) << 13));
  // exponent rebias by multiplying with 2^112; also normalises half subnormals exactly
  return reinterpret<f32>(sign | reinterpret<u32>(reinterpret<f32>(em << 13) * reinterpret<f32>(0x77800000)));
}

/**
 * Four halves at p (8 bytes) -> f32x4, the vector form of f16ToF32.
 * load16x4_s sign-extends, so after << 13 the sign sits in bit 31 (bits 28..30 are junk and
 * masked off); the f32 multiply by 2^112 rebiases and keeps the sign.
 */
// @ts-ignore: decorator
@inline export function loadHalf4(p: usize): v128 {
  const y = v128.and(i32x4.shl(v128.load16x4_s(p), 13), i32x4.splat(0x8fffe000));
  const f = f32x4.mul(y, f32x4.splat(reinterpret<f32>(0x77800000)));
  // exponent 31 (inf / NaN): force the f32 exponent to all ones
  const big = i32x4.ge_u(v128.and(y, i32x4.splat(0x0fffe000)), i32x4.splat(0x0f800000));
  return v128.or(f, v128.and(big, i32x4.splat(0x7f800000)));
}

/** loadHalf4 for halves known finite (exponent < 31): the same bits, 4 ops instead of 8. */
// @ts-ignore: decorator
@inline export function loadHalf4Finite(p: usize): v128 {
  const y = v128.and(i32x4.shl(v128.load16x4_s(p), 13), i32x4.splat(0x8fffe000));
  return f32x4.mul(y, f32x4.splat(reinterpret<f32>(0x77800000)));
}

/** True when none of the n halves at p (n a multiple of 4) is inf or NaN (exponent 31). */
export function halvesFinite(p: usize, n: usize): bool {
  const m = i16x8.splat(0x7c00);
  let bad = i16x8.splat(0);
  let i: usize = 0;
  for (; i + 8 <= n; i += 8) bad = v128.or(bad, i16x8.eq(v128.and(v128.load(p + (i << 1)), m), m));
  // 4 left (d ≡ 4 mod 8, odd row count): the zeroed upper lanes compare unequal to 0x7c00
  if (i < n) bad = v128.or(bad, i16x8.eq(v128.and(v128.load64_zero(p + (i << 1)), m), m));
  return !v128.any_true(bad);
}

/** Inputs below this give 0: e^-87.3 is under the smallest normal f32. */
export const EXP_MIN: f32 = -87.3;

/**
 * e^x on 4 lanes (Cephes expf: n = round(x·log2 e), 2-term ln 2 reduction, degree-6
 * polynomial, 2^n built in the exponent bits); max rel. error about 2 ulp on [-87.3, 0].
 * x < EXP_MIN (including -inf, used for masked keys) gives exactly 0. Inputs are ≤ 0 here
 * (scores minus their max), so overflow handling is a clamp only.
 * Cheap forms on purpose: pmin/pmax (one minps/maxps; wasm's min/max need a NaN/−0 fix-up
 * sequence on x86) and rounding by adding 1.5·2^23, whose low mantissa bits are then n
 * itself (no nearest + trunc_sat, both multi-instruction on x86 without AVX-512).
 */
// @ts-ignore: decorator
@inline export function exp4(x: v128): v128 {
  const keep = f32x4.ge(x, f32x4.splat(EXP_MIN));
  const xc = f32x4.pmin(f32x4.pmax(x, f32x4.splat(EXP_MIN)), f32x4.splat(88.3));
  const t = f32x4.add(f32x4.mul(xc, f32x4.splat(1.44269504088896341)), f32x4.splat(12582912.0));
  const n = f32x4.sub(t, f32x4.splat(12582912.0));
  let r = f32x4.sub(xc, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  p = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1.0));
  // t's bits are 0x4B400000 + n; << 23 drops the 0x4B4 part, leaving n << 23 (mod 2^32)
  const pow2n = i32x4.add(i32x4.shl(t, 23), i32x4.splat(127 << 23));
  return v128.and(f32x4.mul(p, pow2n), keep);
}
