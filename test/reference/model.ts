// test/reference/model.ts — straight-loop f64 references for the GPU model kernels
// (src/gpu/model), and weight encoders producing a tensor's bytes in each stored dtype together
// with the exact values the GPU will read back from them.

import { f16BitsToF32, f32ToF16Bits } from "../../src/gpu/pool";
import type { WeightDtype } from "../../src/gpu/model";

/** Bytes of `values` in `dtype` plus the values as stored (rounded), for the reference. */
export function encodeWeights(values: Float32Array, dtype: WeightDtype): { bytes: Uint8Array; stored: Float64Array } {
  const stored = new Float64Array(values.length);
  if (dtype === "f32") {
    stored.set(values);
    return { bytes: new Uint8Array(values.buffer.slice(0)), stored };
  }
  const u = new Uint16Array(values.length);
  const f = new Float32Array(1), fu = new Uint32Array(f.buffer);
  for (let i = 0; i < values.length; i++) {
    if (dtype === "f16") {
      u[i] = f32ToF16Bits(values[i]!);
      stored[i] = f16BitsToF32(u[i]!);
    } else {
      f[0] = values[i]!;
      u[i] = fu[0]! >>> 16; // truncation: what the reference sees is exactly what is stored
      fu[0] = u[i]! << 16;
      stored[i] = f[0]!;
    }
  }
  return { bytes: new Uint8Array(u.buffer), stored };
}

export function refEmbed(table: ArrayLike<number>, dim: number, ids: ArrayLike<number>): Float64Array {
  const out = new Float64Array(ids.length * dim);
  for (let t = 0; t < ids.length; t++) for (let c = 0; c < dim; c++) out[t * dim + c] = table[ids[t]! * dim + c]!;
  return out;
}

export function refRmsNorm(x: ArrayLike<number>, w: ArrayLike<number>, n: number, dim: number, eps: number): Float64Array {
  const out = new Float64Array(n * dim);
  for (let t = 0; t < n; t++) {
    let s = 0;
    for (let i = 0; i < dim; i++) s += x[t * dim + i]! ** 2;
    const r = 1 / Math.sqrt(s / dim + eps);
    for (let i = 0; i < dim; i++) out[t * dim + i] = x[t * dim + i]! * r * w[i]!;
  }
  return out;
}

/** y[t, o] = (accumulate ? y0[t, o] : 0) + sum_i W[o, i] x[t, i] + (bias ? bias[o] : 0). */
export function refMatmul(x: ArrayLike<number>, W: ArrayLike<number>, n: number, inDim: number, outDim: number,
  bias?: ArrayLike<number>, y0?: ArrayLike<number>): Float64Array {
  const y = new Float64Array(n * outDim);
  for (let t = 0; t < n; t++) for (let o = 0; o < outDim; o++) {
    let s = 0;
    for (let i = 0; i < inDim; i++) s += W[o * inDim + i]! * x[t * inDim + i]!;
    y[t * outDim + o] = s + (bias ? bias[o]! : 0) + (y0 ? y0[t * outDim + o]! : 0);
  }
  return y;
}

export function refRope(x: ArrayLike<number>, n: number, heads: number, headSize: number, startPos: number,
  invFreq: ArrayLike<number>, style: "interleaved" | "rotate-half"): Float64Array {
  const out = Float64Array.from(x);
  const half = headSize / 2;
  for (let t = 0; t < n; t++) for (let h = 0; h < heads; h++) for (let j = 0; j < half; j++) {
    const base = (t * heads + h) * headSize;
    const i0 = style === "interleaved" ? base + 2 * j : base + j;
    const i1 = style === "interleaved" ? i0 + 1 : i0 + half;
    const a = (startPos + t) * invFreq[j]!;
    const x0 = out[i0]!, x1 = out[i1]!;
    out[i0] = x0 * Math.cos(a) - x1 * Math.sin(a);
    out[i1] = x0 * Math.sin(a) + x1 * Math.cos(a);
  }
  return out;
}

export const refSwiglu = (g: ArrayLike<number>, u: ArrayLike<number>) =>
  Float64Array.from(g, (v, i) => (v / (1 + Math.exp(-v))) * u[i]!);

export const refAdd = (x: ArrayLike<number>, y: ArrayLike<number>) => Float64Array.from(y, (v, i) => v + x[i]!);

/** Lowest index of the largest value (NaN never wins), per row. */
export function refArgmax(logits: ArrayLike<number>, rows: number, vocab: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    let best = -1;
    for (let i = 0; i < vocab; i++) {
      const v = logits[r * vocab + i]!;
      if (Number.isNaN(v)) continue;
      if (best < 0 || v > logits[r * vocab + best]!) best = i;
    }
    out.push(Math.max(best, 0));
  }
  return out;
}
