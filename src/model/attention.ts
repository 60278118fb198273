// The seam between the decoder and the KV cache. The model computes q/k/v (keys already
// rotated by RoPE) and hands them over; how keys and values are stored — all of them here,
// a compressed paged cache on the GPU or CPU elsewhere — is the cache's business. `attend`
// may return a Promise because a GPU cache has to read its output back.
//
// One AttentionCache instance holds ONE sequence. Shapes (row-major, f32):
//   k, v : [numTokens, numKvHeads, headSize]
//   q    : [numTokens, numQHeads, headSize]   query head h reads KV head floor(h / groupSize)
//   out  : [numTokens, numQHeads, headSize]

export interface AttentionCache {
  /** Positions already committed to the sequence; the next token's position. */
  readonly seqLen: number;
  /** Stores the chunk's keys (after RoPE) and values for `layer`. */
  append(layer: number, k: Float32Array, v: Float32Array, numTokens: number): void | Promise<void>;
  /**
   * Causal attention of the chunk's queries (positions seqLen .. seqLen+numTokens-1) over
   * everything the cache holds for `layer`, including the chunk just appended.
   */
  attend(layer: number, q: Float32Array, numTokens: number): Float32Array | Promise<Float32Array>;
  /** Called once after every layer ran for the chunk: its numTokens positions now count. */
  commit(numTokens: number): void | Promise<void>;
}

export interface AttentionShape {
  numLayers: number;
  numQHeads: number;
  numKvHeads: number;
  headSize: number;
}

/** Keeps every key and value in f32: the uncompressed baseline every other cache is checked against. */
export class FullAttentionCache implements AttentionCache {
  private committedLen = 0;
  private capacityTokens: number;
  private readonly keysByLayer: Float32Array[] = [];   // [layer][capacityTokens, numKvHeads, headSize]
  private readonly valuesByLayer: Float32Array[] = [];
  private readonly lenByLayer: Int32Array;              // tokens stored per layer (≥ seqLen mid-chunk)
  private readonly tokenWords: number;                  // numKvHeads * headSize

  constructor(private readonly shape: AttentionShape, initialCapacityTokens = 64) {
    this.capacityTokens = Math.max(1, initialCapacityTokens);
    this.tokenWords = shape.numKvHeads * shape.headSize;
    this.lenByLayer = new Int32Array(shape.numLayers);
    for (let l = 0; l < shape.numLayers; l++) {
      this.keysByLayer.push(new Float32Array(this.capacityTokens * this.tokenWords));
      this.valuesByLayer.push(new Float32Array(this.capacityTokens * this.tokenWords));
    }
  }

  get seqLen(): number {
    return this.committedLen;
  }

  append(layer: number, k: Float32Array, v: Float32Array, numTokens: number): void {
    const startToken = this.lenByLayer[layer]!;
    this.reserve(startToken + numTokens);
    const numWords = numTokens * this.tokenWords;
    this.keysByLayer[layer]!.set(k.subarray(0, numWords), startToken * this.tokenWords);
    this.valuesByLayer[layer]!.set(v.subarray(0, numWords), startToken * this.tokenWords);
    this.lenByLayer[layer] = startToken + numTokens;
  }

  attend(layer: number, q: Float32Array, numTokens: number): Float32Array {
    return causalAttention(q, this.keysByLayer[layer]!, this.valuesByLayer[layer]!,
      numTokens, this.lenByLayer[layer]!, this.shape);
  }

  commit(numTokens: number): void {
    this.committedLen += numTokens;
  }

  /** Forget everything (reuse the buffers for a new sequence). */
  reset(): void {
    this.committedLen = 0;
    this.lenByLayer.fill(0);
  }

  private reserve(numTokens: number): void {
    if (numTokens <= this.capacityTokens) return;
    let capacity = this.capacityTokens;
    while (capacity < numTokens) capacity *= 2;
    for (let l = 0; l < this.keysByLayer.length; l++) {
      const keys = new Float32Array(capacity * this.tokenWords);
      keys.set(this.keysByLayer[l]!);
      this.keysByLayer[l] = keys;
      const values = new Float32Array(capacity * this.tokenWords);
      values.set(this.valuesByLayer[l]!);
      this.valuesByLayer[l] = values;
    }
    this.capacityTokens = capacity;
  }
}

/**
 * Straight causal softmax attention. Query i of the chunk sits at key index
 * numKeys - numTokens + i and sees keys 0..that index (inclusive).
 * Exported as the reference for other caches' tests.
 */
export function causalAttention(
  q: Float32Array,           // [numTokens, numQHeads, headSize]
  keys: Float32Array,        // [≥numKeys, numKvHeads, headSize]
  values: Float32Array,      // [≥numKeys, numKvHeads, headSize]
  numTokens: number,
  numKeys: number,
  shape: AttentionShape,
): Float32Array {
  const { numQHeads, numKvHeads, headSize } = shape;
  const groupSize = numQHeads / numKvHeads;
  const kvTokenWords = numKvHeads * headSize;
  const scale = 1 / Math.sqrt(headSize);
  const out = new Float32Array(numTokens * numQHeads * headSize);
  const scores = new Float64Array(numKeys);
  const acc = new Float64Array(headSize); // f64 so long contexts don't lose small terms
  for (let t = 0; t < numTokens; t++) {
    const lastKey = numKeys - numTokens + t;
    for (let h = 0; h < numQHeads; h++) {
      const qOff = (t * numQHeads + h) * headSize;
      const kvHeadOff = Math.floor(h / groupSize) * headSize;
      let maxScore = -Infinity;
      for (let j = 0; j <= lastKey; j++) {
        const kOff = j * kvTokenWords + kvHeadOff;
        let dot = 0;
        for (let d = 0; d < headSize; d++) dot += q[qOff + d]! * keys[kOff + d]!;
        scores[j] = dot * scale;
        if (scores[j]! > maxScore) maxScore = scores[j]!;
      }
      let sum = 0;
      for (let j = 0; j <= lastKey; j++) {
        scores[j] = Math.exp(scores[j]! - maxScore);
        sum += scores[j]!;
      }
      acc.fill(0);
      for (let j = 0; j <= lastKey; j++) {
        const p = scores[j]! / sum;
        const vOff = j * kvTokenWords + kvHeadOff;
        for (let d = 0; d < headSize; d++) acc[d] += p * values[vOff + d]!;
      }
      for (let d = 0; d < headSize; d++) out[qOff + d] = acc[d]!;
    }
  }
  return out;
}
