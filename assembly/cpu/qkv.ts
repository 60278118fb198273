// The two memory-bound loops of paged attention (attention.ts has the plan): scores = Q·K and
// out = P·V over one KV head's blocks, for a group of 4 query heads at a time.
// Roofline (d = 128, r = 4): every 16 B of K or V (f32) meets 4 f32x4 mul + 4 add (one per
// query head; wasm SIMD has no FMA) — so these loops are issue-bound unless each load feeds
// all 4 heads and the adds run on ≥ 8 independent chains (f32x4.add latency, not memory,
// limited the first 4-chain version to ~5 GB/s on one core).
// Storage type T: f32; u16 = f16 halves known finite (4-op convert); i16 = f16 halves with
// inf/NaN somewhere in the block (exact 8-op convert). Each block is checked once
// (halvesFinite, ~0.4 op per half) so the common case skips the inf/NaN fix-up.
// u8 = q8 records and i8 = q4 records (docs/QUANTIZATION.md): each chunk of 4 is dequantized in
// registers, code · s + m, from its code bits and its group's scale word; no dequantized copy.
import { blockAddr, blockSize, headSize, rowBytes, positionsBase, quantGroups, keyRowAddr, storageCode, STORAGE_F16, STORAGE_Q8, STORAGE_Q4 } from "./pool";
import { loadHalf4, loadHalf4Finite, halvesFinite } from "./simd";
import { S, QS, ACC, INV, rPad, groups } from "./attention";

const NO_MASK: u32 = 0xffffffff;

/** Sink for touch(): keeps its loads alive (a value nobody reads could be optimised away). */
let touchSink: u32 = 0;

/**
 * Loads one word per 64-B line of [p, p + bytes) before the arithmetic reads it: the burst of
 * independent misses fetches the whole block in parallel. Without it the compute-heavy loops
 * keep only the few lines their reorder-buffer window covers in flight (wasm has no prefetch),
 * which measured at ~4 GB/s from DRAM against ~22 GB/s for a plain streaming sum (AMD EPYC
 * Zen 4: 32K-token decode 75 → 55 ms; neutral on the Intel Xeon host, docs/bench/cpu.md).
 */
// @ts-ignore: decorator
@inline function touch(p: usize, bytes: usize): void {
  let x: u32 = 0;
  for (let i: usize = 0; i < bytes; i += 64) x |= load<u32>(p + i);
  touchSink |= x;
}

/** 4 elements (dims c..c+3) of the row at p, as f32x4. */
// @ts-ignore: decorator
@inline function ld<T>(p: usize, c: usize): v128 {
  if (sizeof<T>() == 4) return v128.load(p + (c << 2));
  if (sizeof<T>() == 1) return ldQuant<T>(p, c);
  if (isSigned<T>()) return loadHalf4(p + (c << 1));
  return loadHalf4Finite(p + (c << 1));
}

/** Elements c..c+3 of a q8 (u8) or q4 (i8) record at p, dequantized: fl(fl(code · s) + m). */
// @ts-ignore: decorator
@inline function ldQuant<T>(p: usize, c: usize): v128 {
  const codes = p + (<usize>quantGroups << 2);
  // halves 0, 1 of the group's scale word: s, m (halves 2, 3 belong to the next word, unused)
  const sm = loadHalf4(p + ((c >> 5) << 2));
  const s = v128.shuffle<f32>(sm, sm, 0, 0, 0, 0), m = v128.shuffle<f32>(sm, sm, 1, 1, 1, 1);
  let q: v128;
  if (isSigned<T>()) { // q4: 16 bits, element c + e in bits 4e..4e+3
    const x = i32x4.splat(<i32>load<u16>(codes + (c >> 1)));
    q = v128.and(i32x4.shr_u(i32x4.mul(x, i32x4(1 << 12, 1 << 8, 1 << 4, 1)), 12), i32x4.splat(15));
  } else {             // q8: a byte each
    q = i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(codes + c)));
  }
  return f32x4.add(f32x4.mul(f32x4.convert_i32x4_u(q), s), m);
}

/** [Σa0, Σa1, Σa2, Σa3] */
// @ts-ignore: decorator
@inline function sum4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const s01 = f32x4.add(v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), v128.shuffle<f32>(a0, a1, 2, 6, 3, 7));
  const s23 = f32x4.add(v128.shuffle<f32>(a2, a3, 0, 4, 1, 5), v128.shuffle<f32>(a2, a3, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(s01, s23, 0, 1, 4, 5), v128.shuffle<f32>(s01, s23, 2, 3, 6, 7));
}

/**
 * Step 1: S[i][h] = qs_h · k_i for the keys of blocks [jFrom, jTo); keys with position >
 * maxPos (causal mask by position) get −inf. T: f32 or u16 (f16 pool; blocks holding inf/NaN
 * halves switch to i16).
 */
export function scoreKeys<T>(row: usize, ctx: i32, maxPos: u32, jFrom: i32, jTo: i32): void {
  // globals copied to locals: neither binaryen -O3 nor V8 hoists global.get out of loops
  const b = blockSize, keyStride = <usize>rPad << 2, rb = rowBytes, G = groups, qs = QS, s = S;
  const qRow = <usize>headSize << 2, d = <usize>headSize;
  for (let j = jFrom, i = jFrom * b; i < ctx && j < jTo; j++, i += b) {
    const blk = load<i32>(row + (<usize>j << 2));
    const kp = blockAddr(blk);
    const n = min(b, ctx - i);
    const sOut = s + <usize>i * keyStride;
    // causal prefill: a block whose keys all come after the query costs a position scan only
    if (maxPos != NO_MASK && allAfter(positionsBase + (<usize>(blk * b) << 2), n, maxPos)) {
      for (let t = 0; t < n; t++) for (let g = 0; g < G; g++) v128.store(sOut + <usize>t * keyStride + (<usize>g << 4), f32x4.splat(-Infinity));
      continue;
    }
    // f16: the inf/NaN scan reads every line of the block, so it doubles as the touch
    if (sizeof<T>() != 2) touch(kp, <usize>n * rb);
    const exact = sizeof<T>() == 2 && !halvesFinite(kp, <usize>n * d);
    for (let g = 0; g < G; g++) {
      const q0 = qs + <usize>(g << 2) * qRow, so = sOut + (<usize>g << 4);
      if (exact) scoreBlock<i16>(kp, n, rb, q0, qRow, so, keyStride);
      else scoreBlock<T>(kp, n, rb, q0, qRow, so, keyStride);
    }
    if (maxPos != NO_MASK) {
      const posBase = positionsBase + (<usize>(blk * b) << 2);
      for (let t = 0; t < n; t++) {
        if (load<u32>(posBase + (<usize>t << 2)) <= maxPos) continue;
        for (let g = 0; g < G; g++) v128.store(sOut + <usize>t * keyStride + (<usize>g << 4), f32x4.splat(-Infinity));
      }
    }
  }
}

/** True when every one of the n positions at pos is > maxPos (the whole block is masked). */
function allAfter(pos: usize, n: i32, maxPos: u32): bool {
  for (let t = 0; t < n; t++) if (load<u32>(pos + (<usize>t << 2)) <= maxPos) return false;
  return true;
}

/** True when p = 0 for every key of the block and head (all masked, or underflowed). */
function allZero(sg: usize, n: i32, keyStride: usize, G: i32): bool {
  let any = f32x4.splat(0);
  for (let t = 0; t < n; t++) for (let g = 0; g < G; g++) any = v128.or(any, v128.load(sg + <usize>t * keyStride + (<usize>g << 4)));
  return !v128.any_true(any);
}

// @ts-ignore: decorator
@inline function scoreBlock<T>(kp: usize, n: i32, rb: usize, q0: usize, qRow: usize, so: usize, keyStride: usize): void {
  let t = 0;
  for (; t + 1 < n; t += 2) {
    dotPair<T>(kp + <usize>t * rb, kp + <usize>(t + 1) * rb, q0, qRow, so + <usize>t * keyStride, so + <usize>(t + 1) * keyStride);
  }
  // odd tail: pair the last key with itself (same result written twice)
  if (t < n) dotPair<T>(kp + <usize>t * rb, kp + <usize>t * rb, q0, qRow, so + <usize>t * keyStride, so + <usize>t * keyStride);
}

/** Two keys against 4 query rows: each query load serves both keys; 8 add chains. */
// @ts-ignore: decorator
@inline function dotPair<T>(ka: usize, kb: usize, q0: usize, qRow: usize, outA: usize, outB: usize): void {
  const d = qRow >> 2;
  const q1 = q0 + qRow, q2 = q1 + qRow, q3 = q2 + qRow;
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  for (let c: usize = 0; c < d; c += 4) {
    const o = c << 2;
    const x = ld<T>(ka, c), y = ld<T>(kb, c);
    let q = v128.load(q0 + o); a0 = f32x4.add(a0, f32x4.mul(q, x)); b0 = f32x4.add(b0, f32x4.mul(q, y));
    q = v128.load(q1 + o); a1 = f32x4.add(a1, f32x4.mul(q, x)); b1 = f32x4.add(b1, f32x4.mul(q, y));
    q = v128.load(q2 + o); a2 = f32x4.add(a2, f32x4.mul(q, x)); b2 = f32x4.add(b2, f32x4.mul(q, y));
    q = v128.load(q3 + o); a3 = f32x4.add(a3, f32x4.mul(q, x)); b3 = f32x4.add(b3, f32x4.mul(q, y));
  }
  v128.store(outA, sum4(a0, a1, a2, a3));
  v128.store(outB, sum4(b0, b1, b2, b3));
}

/**
 * Step 3a: ACC_h += Σ_i p_ih · v_i over the keys of blocks [jFrom, jTo) (the caller zeroes
 * ACC first). sparse (prefill): skip blocks whose p are all 0 (keys after the query).
 */
export function weightValues<T>(row: usize, ctx: i32, jFrom: i32, jTo: i32, sparse: bool): void {
  const b = blockSize, d = <usize>headSize, accRow = <usize>headSize << 2, rb = rowBytes, G = groups;
  const keyStride = <usize>rPad << 2, acc = ACC, s = S;
  for (let j = jFrom, i0 = jFrom * b; i0 < ctx && j < jTo; j++, i0 += b) {
    const vBase = blockAddr(load<i32>(row + (<usize>j << 2))) + <usize>b * rb;
    const n = min(b, ctx - i0);
    if (sparse && allZero(s + <usize>i0 * keyStride, n, keyStride, G)) continue;
    if (sizeof<T>() != 2) touch(vBase, <usize>n * rb);
    const exact = sizeof<T>() == 2 && !halvesFinite(vBase, <usize>n * d);
    for (let g = 0; g < G; g++) {
      const sg = s + <usize>i0 * keyStride + (<usize>g << 4), acc0 = acc + <usize>(g << 2) * accRow;
      if (exact) valueBlock<i16>(vBase, n, rb, sg, keyStride, acc0, accRow, d);
      else valueBlock<T>(vBase, n, rb, sg, keyStride, acc0, accRow, d);
    }
  }
}

/** Step 3b: out_h (f32[d], h < r, head stride outStride bytes) = inv_h · ACC_h. */
export function finishValues(r: i32, out: usize, outStride: usize): void {
  const d = <usize>headSize, accRow = <usize>headSize << 2;
  for (let h = 0; h < r; h++) {
    const inv = v128.load32_splat(INV + (<usize>h << 2));
    const src = ACC + <usize>h * accRow, dst = out + <usize>h * outStride;
    for (let c: usize = 0; c < d; c += 4) v128.store(dst + (c << 2), f32x4.mul(v128.load(src + (c << 2)), inv));
  }
}

/**
 * acc_h[c..c+8) += Σ_t p_th · v_t[c..c+8) for the 4 heads at acc0 (rows accRow apart): two
 * 4-dim chunks per pass, so 8 accumulators stay in registers over the block's rows.
 */
// @ts-ignore: decorator
@inline function valueBlock<T>(vBase: usize, n: i32, rb: usize, sg: usize, keyStride: usize, acc0: usize, accRow: usize, d: usize): void {
  const acc1 = acc0 + accRow, acc2 = acc1 + accRow, acc3 = acc2 + accRow;
  let c: usize = 0;
  for (; c + 8 <= d; c += 8) {
    const o = c << 2;
    let x0 = v128.load(acc0 + o), y0 = v128.load(acc0 + o, 16);
    let x1 = v128.load(acc1 + o), y1 = v128.load(acc1 + o, 16);
    let x2 = v128.load(acc2 + o), y2 = v128.load(acc2 + o, 16);
    let x3 = v128.load(acc3 + o), y3 = v128.load(acc3 + o, 16);
    let vp = vBase, sp = sg;
    for (let t = 0; t < n; t++, vp += rb, sp += keyStride) {
      const v0 = ld<T>(vp, c), v1 = ld<T>(vp, c + 4);
      let p = v128.load32_splat(sp);
      x0 = f32x4.add(x0, f32x4.mul(p, v0)); y0 = f32x4.add(y0, f32x4.mul(p, v1));
      p = v128.load32_splat(sp, 4);
      x1 = f32x4.add(x1, f32x4.mul(p, v0)); y1 = f32x4.add(y1, f32x4.mul(p, v1));
      p = v128.load32_splat(sp, 8);
      x2 = f32x4.add(x2, f32x4.mul(p, v0)); y2 = f32x4.add(y2, f32x4.mul(p, v1));
      p = v128.load32_splat(sp, 12);
      x3 = f32x4.add(x3, f32x4.mul(p, v0)); y3 = f32x4.add(y3, f32x4.mul(p, v1));
    }
    v128.store(acc0 + o, x0); v128.store(acc0 + o, y0, 16);
    v128.store(acc1 + o, x1); v128.store(acc1 + o, y1, 16);
    v128.store(acc2 + o, x2); v128.store(acc2 + o, y2, 16);
    v128.store(acc3 + o, x3); v128.store(acc3 + o, y3, 16);
  }
  if (c < d) { // d ≡ 4 (mod 8)
    const o = c << 2;
    let x0 = v128.load(acc0 + o), x1 = v128.load(acc1 + o);
    let x2 = v128.load(acc2 + o), x3 = v128.load(acc3 + o);
    let vp = vBase, sp = sg;
    for (let t = 0; t < n; t++, vp += rb, sp += keyStride) {
      const v0 = ld<T>(vp, c);
      x0 = f32x4.add(x0, f32x4.mul(v128.load32_splat(sp), v0));
      x1 = f32x4.add(x1, f32x4.mul(v128.load32_splat(sp, 4), v0));
      x2 = f32x4.add(x2, f32x4.mul(v128.load32_splat(sp, 8), v0));
      x3 = f32x4.add(x3, f32x4.mul(v128.load32_splat(sp, 12), v0));
    }
    v128.store(acc0 + o, x0); v128.store(acc1 + o, x1);
    v128.store(acc2 + o, x2); v128.store(acc3 + o, x3);
  }
}

/**
 * ‖v‖₂ of the value stored at physical slot `slot` (value-aware ranking, order.ts), as read by
 * attention: lane j sums v[4c + j]² over c in order, then (s0 + s1) + (s2 + s3), then √.
 */
export function valueNormAt(slot: i32): f32 {
  const p = keyRowAddr(slot) + <usize>blockSize * rowBytes;
  if (storageCode == STORAGE_F16) return normRow<i16>(p);
  if (storageCode == STORAGE_Q8) return normRow<u8>(p);
  if (storageCode == STORAGE_Q4) return normRow<i8>(p);
  return normRow<f32>(p);
}

// @ts-ignore: decorator
@inline function normRow<T>(p: usize): f32 {
  let acc = f32x4.splat(0);
  for (let c: usize = 0; c < <usize>headSize; c += 4) {
    const x = ld<T>(p, c);
    acc = f32x4.add(acc, f32x4.mul(x, x));
  }
  const s = (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
  return Mathf.sqrt(s);
}
