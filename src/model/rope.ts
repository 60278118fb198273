// Rotary position embeddings. Both conventions rotate pairs of a head's components by
// pos * invFreq[j], j < headSize/2; they differ only in WHICH components form pair j:
//   interleaved (llama2.c run.c, Meta's original): (2j, 2j+1)
//   rotate-half (Hugging Face transformers):       (j, j + headSize/2)
// A checkpoint trained with one convention is garbage under the other (HF's conversion
// script permutes wq/wk rows to switch), so the loader picks the style, never the user.

export type RopeStyle = "interleaved" | "rotate-half";

/** Llama-3 `rope_scaling` with `rope_type: "llama3"` (HF config field names, camelCased). */
export interface Llama3RopeScaling {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

/** invFreq[j] = theta^(-2j/headSize), in f64, with Llama-3 frequency-dependent scaling if given. */
export function ropeInvFrequencies(headSize: number, theta: number, scaling: Llama3RopeScaling | null): Float64Array {
  const invFreq = new Float64Array(headSize / 2);
  for (let j = 0; j < invFreq.length; j++) invFreq[j] = 1 / theta ** ((2 * j) / headSize);
  if (scaling !== null) applyLlama3Scaling(invFreq, scaling);
  return invFreq;
}

// Llama 3.1: long wavelengths (low frequencies) are slowed by `factor`, short ones are kept,
// and the band between is interpolated smoothly — same as transformers' _compute_llama3_parameters.
function applyLlama3Scaling(invFreq: Float64Array, s: Llama3RopeScaling): void {
  const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  for (let j = 0; j < invFreq.length; j++) {
    const freq = invFreq[j]!;
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highFreqWavelen) continue;
    if (wavelen > lowFreqWavelen) {
      invFreq[j] = freq / s.factor;
      continue;
    }
    const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    invFreq[j] = (1 - smooth) * (freq / s.factor) + smooth * freq;
  }
}

/**
 * Rotates, in place, x: [numTokens, numHeads, headSize] whose token t sits at position startPos + t.
 */
export function applyRope(
  x: Float32Array,
  numTokens: number,
  numHeads: number,
  headSize: number,
  startPos: number,
  invFreq: Float64Array,
  style: RopeStyle,
): void {
  const halfSize = headSize / 2;
  // Pair j is (j*stride0, j*stride0 + partnerOffset) within a head.
  const stride0 = style === "interleaved" ? 2 : 1;
  const partnerOffset = style === "interleaved" ? 1 : halfSize;
  const cos = new Float64Array(halfSize);
  const sin = new Float64Array(halfSize);
  for (let t = 0; t < numTokens; t++) {
    const pos = startPos + t;
    for (let j = 0; j < halfSize; j++) {
      const angle = pos * invFreq[j]!;
      cos[j] = Math.cos(angle);
      sin[j] = Math.sin(angle);
    }
    for (let h = 0; h < numHeads; h++) {
      const headOff = (t * numHeads + h) * headSize;
      for (let j = 0; j < halfSize; j++) {
        const i0 = headOff + j * stride0;
        const i1 = i0 + partnerOffset;
        const x0 = x[i0]!;
        const x1 = x[i1]!;
        x[i0] = x0 * cos[j]! - x1 * sin[j]!;
        x[i1] = x1 * cos[j]! + x0 * sin[j]!;
      }
    }
  }
}
