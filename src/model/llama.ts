// A Llama-family decoder (Llama 2/3, Mistral, Qwen2, llama2.c checkpoints) in plain
// TypeScript on Float32Array, structured like llama2.c's forward(): embed, then per layer
// RMSNorm → q/k/v → RoPE → attention (through the pluggable AttentionCache) → o → residual,
// RMSNorm → SwiGLU FFN → residual; final RMSNorm and classifier. It processes a chunk of
// tokens at once, so one call prefills a prompt and a one-token call decodes.
//
// Every matrix is row-major [out, in] (PyTorch nn.Linear.weight): y = W x.

import { ConfigError, InvalidArgumentError } from "../errors";
import type { AttentionCache } from "./attention";
import { type Llama3RopeScaling, type RopeStyle, applyRope, ropeInvFrequencies } from "./rope";

export interface LlamaConfig {
  dim: number;              // residual stream width (hidden_size)
  hiddenDim: number;        // FFN width (intermediate_size)
  numLayers: number;
  numQHeads: number;
  numKvHeads: number;       // numQHeads % numKvHeads == 0 (GQA)
  headSize: number;         // usually dim / numQHeads, but HF allows an explicit head_dim
  vocabSize: number;
  maxSeqLen: number;        // trained context; informational, forward() does not enforce it
  normEps: number;
  ropeTheta: number;
  ropeStyle: RopeStyle;
  ropeScaling: Llama3RopeScaling | null;
  qkvBias: boolean;         // Qwen2 has biases on q/k/v projections
}

export interface LlamaLayerWeights {
  attnNorm: Float32Array;   // [dim]
  wq: Float32Array;         // [numQHeads*headSize, dim]
  wk: Float32Array;         // [numKvHeads*headSize, dim]
  wv: Float32Array;         // [numKvHeads*headSize, dim]
  wo: Float32Array;         // [dim, numQHeads*headSize]
  bq: Float32Array | null;  // [numQHeads*headSize] when qkvBias
  bk: Float32Array | null;  // [numKvHeads*headSize]
  bv: Float32Array | null;
  ffnNorm: Float32Array;    // [dim]
  wGate: Float32Array;      // [hiddenDim, dim]  (llama2.c w1)
  wUp: Float32Array;        // [hiddenDim, dim]  (llama2.c w3)
  wDown: Float32Array;      // [dim, hiddenDim]  (llama2.c w2)
}

export interface LlamaWeights {
  tokenEmbedding: Float32Array; // [vocabSize, dim]
  layers: LlamaLayerWeights[];
  finalNorm: Float32Array;      // [dim]
  classifier: Float32Array;     // [vocabSize, dim]; the same array as tokenEmbedding when tied
}

export interface ForwardOptions {
  /** Return logits for every token of the chunk ([numTokens, vocabSize]) instead of the last one. */
  allLogits?: boolean;
}

export class LlamaModel {
  private readonly invFreq: Float64Array;

  constructor(readonly config: Readonly<LlamaConfig>, readonly weights: LlamaWeights) {
    if (config.numQHeads % config.numKvHeads !== 0) {
      throw new ConfigError("numQHeads", `${config.numQHeads} must be a multiple of numKvHeads (${config.numKvHeads})`);
    }
    if (config.headSize % 2 !== 0) throw new ConfigError("headSize", `must be even for RoPE, got ${config.headSize}`);
    this.invFreq = ropeInvFrequencies(config.headSize, config.ropeTheta, config.ropeScaling);
  }

  /**
   * Runs `tokens` (positions cache.seqLen ..) through the decoder, appending their K/V to
   * `cache` and committing them. Returns logits [vocabSize] for the last token, or
   * [numTokens, vocabSize] with `allLogits`.
   */
  async forward(tokens: readonly number[], cache: AttentionCache, options: ForwardOptions = {}): Promise<Float32Array> {
    const c = this.config;
    const w = this.weights;
    const numTokens = tokens.length;
    if (numTokens === 0) throw new InvalidArgumentError("tokens.length", 0, "at least one token");
    const startPos = cache.seqLen;
    const qDim = c.numQHeads * c.headSize;
    const kvDim = c.numKvHeads * c.headSize;

    const x = new Float32Array(numTokens * c.dim); // residual stream [numTokens, dim]
    tokens.forEach((tokenId, t) => {
      if (!(tokenId >= 0 && tokenId < c.vocabSize)) throw new InvalidArgumentError("token id", tokenId, `an integer in [0, ${c.vocabSize})`);
      x.set(w.tokenEmbedding.subarray(tokenId * c.dim, (tokenId + 1) * c.dim), t * c.dim);
    });
    const xNorm = new Float32Array(numTokens * c.dim);
    const q = new Float32Array(numTokens * qDim);
    const k = new Float32Array(numTokens * kvDim);
    const v = new Float32Array(numTokens * kvDim);
    const delta = new Float32Array(numTokens * c.dim);
    const gate = new Float32Array(numTokens * c.hiddenDim);
    const up = new Float32Array(numTokens * c.hiddenDim);

    for (let l = 0; l < c.numLayers; l++) {
      const lw = w.layers[l]!;
      // ---- attention
      rmsNorm(xNorm, x, lw.attnNorm, numTokens, c.dim, c.normEps);
      matmul(q, xNorm, lw.wq, lw.bq, numTokens, c.dim, qDim);
      matmul(k, xNorm, lw.wk, lw.bk, numTokens, c.dim, kvDim);
      matmul(v, xNorm, lw.wv, lw.bv, numTokens, c.dim, kvDim);
      applyRope(q, numTokens, c.numQHeads, c.headSize, startPos, this.invFreq, c.ropeStyle);
      applyRope(k, numTokens, c.numKvHeads, c.headSize, startPos, this.invFreq, c.ropeStyle);
      await cache.append(l, k, v, numTokens);
      const attnOut = await cache.attend(l, q, numTokens);
      matmul(delta, attnOut, lw.wo, null, numTokens, qDim, c.dim);
      addInPlace(x, delta);
      // ---- SwiGLU feed-forward: down(silu(gate x) * up x)
      rmsNorm(xNorm, x, lw.ffnNorm, numTokens, c.dim, c.normEps);
      matmul(gate, xNorm, lw.wGate, null, numTokens, c.dim, c.hiddenDim);
      matmul(up, xNorm, lw.wUp, null, numTokens, c.dim, c.hiddenDim);
      for (let i = 0; i < gate.length; i++) {
        const g = gate[i]!;
        gate[i] = (g / (1 + Math.exp(-g))) * up[i]!;
      }
      matmul(delta, gate, lw.wDown, null, numTokens, c.hiddenDim, c.dim);
      addInPlace(x, delta);
    }
    await cache.commit(numTokens);

    // ---- head: only the rows the caller wants
    const firstRow = options.allLogits ? 0 : numTokens - 1;
    const numRows = numTokens - firstRow;
    const xLast = x.subarray(firstRow * c.dim);
    const xFinal = new Float32Array(numRows * c.dim);
    rmsNorm(xFinal, xLast, w.finalNorm, numRows, c.dim, c.normEps);
    const logits = new Float32Array(numRows * c.vocabSize);
    matmul(logits, xFinal, w.classifier, null, numRows, c.dim, c.vocabSize);
    return logits;
  }
}

/** out[t] = x[t] / rms(x[t]) * weight, per token. */
function rmsNorm(out: Float32Array, x: Float32Array, weight: Float32Array, numTokens: number, dim: number, eps: number): void {
  for (let t = 0; t < numTokens; t++) {
    const off = t * dim;
    let sumSquares = 0;
    for (let i = 0; i < dim; i++) sumSquares += x[off + i]! * x[off + i]!;
    const invRms = 1 / Math.sqrt(sumSquares / dim + eps);
    for (let i = 0; i < dim; i++) out[off + i] = x[off + i]! * invRms * weight[i]!;
  }
}

/**
 * out[t, o] = Σ_i W[o, i] · x[t, i] (+ bias[o]); x: [numTokens, inDim], W: [outDim, inDim].
 * The weight row stays hot in cache while every token of the chunk uses it; the dot product
 * accumulates in f64 (JS numbers) with four partial sums to shorten the dependency chain.
 */
export function matmul(
  out: Float32Array, x: Float32Array, weight: Float32Array, bias: Float32Array | null,
  numTokens: number, inDim: number, outDim: number,
): void {
  const inDim4 = inDim & ~3;
  for (let o = 0; o < outDim; o++) {
    const rowOff = o * inDim;
    const b = bias === null ? 0 : bias[o]!;
    for (let t = 0; t < numTokens; t++) {
      const xOff = t * inDim;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      let i = 0;
      for (; i < inDim4; i += 4) {
        s0 += weight[rowOff + i]! * x[xOff + i]!;
        s1 += weight[rowOff + i + 1]! * x[xOff + i + 1]!;
        s2 += weight[rowOff + i + 2]! * x[xOff + i + 2]!;
        s3 += weight[rowOff + i + 3]! * x[xOff + i + 3]!;
      }
      for (; i < inDim; i++) s0 += weight[rowOff + i]! * x[xOff + i]!;
      out[t * outDim + o] = s0 + s1 + s2 + s3 + b;
    }
  }
}

function addInPlace(x: Float32Array, delta: Float32Array): void {
  for (let i = 0; i < x.length; i++) x[i] += delta[i]!;
}

/** Expected length of every weight, in floats; loaders check against it before building a model. */
export function expectedWeightShapes(c: LlamaConfig): Record<keyof LlamaLayerWeights, number[]> {
  const qDim = c.numQHeads * c.headSize;
  const kvDim = c.numKvHeads * c.headSize;
  return {
    attnNorm: [c.dim], wq: [qDim, c.dim], wk: [kvDim, c.dim], wv: [kvDim, c.dim], wo: [c.dim, qDim],
    bq: [qDim], bk: [kvDim], bv: [kvDim], ffnNorm: [c.dim],
    wGate: [c.hiddenDim, c.dim], wUp: [c.hiddenDim, c.dim], wDown: [c.dim, c.hiddenDim],
  };
}
