// test/reference/quant.ts — straight-loop q8/q4 quantizer of docs/QUANTIZATION.md, in f32
// (Math.fround after every operation, as WGSL computes), and the record layout of one slot.
import { QUANT_GROUP, kvRecordWords } from "../../src/contract";
import { f16BitsToF32, f32ToF16Bits } from "../../src/gpu/pool";

export type QuantDtype = "q8" | "q4";
const f = Math.fround;
export const levelsOf = (dtype: QuantDtype) => (dtype === "q8" ? 255 : 15);

/** The scale word of a group with range [lo, hi]: pack2x16float((hi − lo) / L, lo). */
export function refScaleWord(lo: number, hi: number, dtype: QuantDtype): number {
  const s = f(f(hi - lo) / levelsOf(dtype));
  return (f32ToF16Bits(s) | (f32ToF16Bits(lo) << 16)) >>> 0;
}

export const unpackScale = (w: number): [number, number] => [f16BitsToF32(w & 0xffff), f16BitsToF32(w >>> 16)];

/** Dequantized value of code q: fl(fl(q·s) + m). */
export const refDequant = (q: number, s: number, m: number) => f(f(q * s) + m);

/** The code of x given the stored (s, m): the level in [0, L] whose dequantized value is
 *  nearest x, ties to the lower level; found by scanning every level (no division at all). */
export function refCode(x: number, s: number, m: number, dtype: QuantDtype): number {
  if (s === 0) return 0;
  let best = 0, err = Infinity;
  for (let q = 0; q <= levelsOf(dtype); q++) {
    const e = Math.abs(f(refDequant(q, s, m) - x));
    if (e < err) { best = q; err = e; }
  }
  return best;
}

/** One slot's key or value record (u32 words: scales, then codes) of the d values x. */
export function refQuantizeVec(x: ArrayLike<number>, dtype: QuantDtype): Uint32Array {
  const d = x.length, G = Math.ceil(d / QUANT_GROUP);
  const rec = new Uint32Array(kvRecordWords(d, dtype));
  const bits = dtype === "q8" ? 8 : 4, perWord = 32 / bits;
  for (let g = 0; g < G; g++) {
    let lo = Infinity, hi = -Infinity;
    for (let j = g * QUANT_GROUP; j < Math.min(d, (g + 1) * QUANT_GROUP); j++) { lo = Math.min(lo, f(x[j])); hi = Math.max(hi, f(x[j])); }
    rec[g] = refScaleWord(f(lo), f(hi), dtype);
    const [s, m] = unpackScale(rec[g]);
    for (let j = g * QUANT_GROUP; j < Math.min(d, (g + 1) * QUANT_GROUP); j++) {
      const w = G + Math.floor(j / perWord);
      rec[w] = (rec[w] | (refCode(f(x[j]), s, m, dtype) << (bits * (j % perWord)))) >>> 0;
    }
  }
  return rec;
}

/** The d dequantized values of a record. */
export function refDequantizeVec(rec: ArrayLike<number>, d: number, dtype: QuantDtype): Float64Array {
  const G = Math.ceil(d / QUANT_GROUP), bits = dtype === "q8" ? 8 : 4, perWord = 32 / bits;
  const out = new Float64Array(d);
  for (let j = 0; j < d; j++) {
    const [s, m] = unpackScale(rec[Math.floor(j / QUANT_GROUP)]);
    const q = (rec[G + Math.floor(j / perWord)] >>> (bits * (j % perWord))) & ((1 << bits) - 1);
    out[j] = refDequant(q, s, m);
  }
  return out;
}

/** Replaces every slot's key and value by its dequantized quantization (what q8/q4 storage holds). */
export function roundPoolToQuant(pool: { keys: Float64Array; values: Float64Array; dims: { headSize: number } }, dtype: QuantDtype): void {
  const d = pool.dims.headSize;
  for (const a of [pool.keys, pool.values]) {
    for (let o = 0; o < a.length; o += d) a.set(refDequantizeVec(refQuantizeVec(a.subarray(o, o + d), dtype), d, dtype), o);
  }
}

/** The f32 next to x (≠ 0) above it (dir 1) or below it (dir −1). */
function ulpStep(x: number, dir: number): number {
  if (x === 0) return x;
  const b = new Float32Array([x]), u = new Uint32Array(b.buffer);
  u[0] += (x < 0 ? -dir : dir);
  return b[0];
}

/**
 * n values of one group placed on the quantizer's rounding boundaries. kind 0: (hi − lo) / L
 * exactly on a midpoint of two f16 values or an f32 ulp either side (the scale's f16 rounding
 * ties or nearly ties), the other elements on midpoints between levels or an ulp either side (the
 * code ties or nearly ties); kind 1 and 2: groups whose levels collapse (s below an ulp of m, near
 * 1 and near −1000), where the division's guess can be several levels off.
 */
export function boundaryGroup(rng: () => number, dtype: QuantDtype, n: number, kind: number): number[] {
  const L = levelsOf(dtype);
  let lo: number, hi: number;
  if (kind === 0) {
    const bits = 0x2c00 + Math.floor(rng() * 0x1000);
    const mid = (f16BitsToF32(bits) + f16BitsToF32(bits + 1)) / 2;
    lo = 0;
    hi = [f(mid * L), ulpStep(f(mid * L), 1), ulpStep(f(mid * L), -1)][Math.floor(rng() * 3)];
  } else {
    lo = kind === 1 ? f(1 + Math.floor(rng() * 64) * 2 ** -23) : f(-1000 + rng() * 0.01);
    hi = f(lo + (kind === 1 ? L * (6e-8 + rng() * 6e-8) : L * (1e-5 + rng() * 2e-5)));
  }
  const [s, m] = unpackScale(refScaleWord(lo, hi, dtype));
  const out = [lo, hi];
  while (out.length < n) {
    let x = kind === 0 ? f(m + (Math.floor(rng() * L) + 0.5) * s) : f(lo + rng() * (hi - lo));
    const r = rng();
    if (r < 0.25) x = ulpStep(x, 1); else if (r < 0.5) x = ulpStep(x, -1);
    out.push(Math.min(hi, Math.max(lo, x)));
  }
  return out.slice(0, n);
}
