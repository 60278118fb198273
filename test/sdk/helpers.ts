// Random tokens for the SDK tests and a straight-loop f64 attention over any chosen subset
// of positions (the reference for "attention over exactly the kept KVs").

export const SHAPE = { numLayers: 2, numQHeads: 4, numKvHeads: 2, headSize: 16 } as const;

/** Per layer: k, v f32 [numTokens, numKvHeads, headSize], q f32 [numTokens, numQHeads, headSize]. */
export interface Tokens {
  numTokens: number;
  k: Float32Array[];
  v: Float32Array[];
  q: Float32Array[];
  slice(from: number, to: number): Tokens;
}

/** `qScales[h]` scales query head h (cycled): large scales give sharp attention, small diffuse. */
export function makeTokens(rand: () => number, numTokens: number, qScales: number[] = [1]): Tokens {
  const { numLayers, numQHeads, numKvHeads, headSize } = SHAPE;
  const sym = () => rand() * 2 - 1;
  const k: Float32Array[] = [], v: Float32Array[] = [], q: Float32Array[] = [];
  for (let l = 0; l < numLayers; l++) {
    k.push(Float32Array.from({ length: numTokens * numKvHeads * headSize }, sym));
    v.push(Float32Array.from({ length: numTokens * numKvHeads * headSize }, sym));
    const ql = new Float32Array(numTokens * numQHeads * headSize);
    for (let i = 0; i < ql.length; i++) {
      const h = Math.floor(i / headSize) % numQHeads;
      ql[i] = sym() * qScales[(h + l) % qScales.length];
    }
    q.push(ql);
  }
  return wrap(numTokens, k, v, q);
}

function wrap(numTokens: number, k: Float32Array[], v: Float32Array[], q: Float32Array[]): Tokens {
  const { numQHeads, numKvHeads, headSize } = SHAPE;
  return {
    numTokens, k, v, q,
    slice(from, to) {
      const kvw = numKvHeads * headSize, qw = numQHeads * headSize;
      return wrap(to - from, k.map((a) => a.slice(from * kvw, to * kvw)), v.map((a) => a.slice(from * kvw, to * kvw)), q.map((a) => a.slice(from * qw, to * qw)));
    },
  };
}

/**
 * f64 causal attention for queries at positions [qFrom, qTo) of layer `layer`, over the keys at
 * `kept` positions (one list for all KV heads, or one per KV head) that are ≤ the query position.
 * `tok` holds every token from position 0. Returns [qTo − qFrom, numQHeads, headSize].
 */
export function attendOver(tok: Tokens, layer: number, qFrom: number, qTo: number, kept: number[] | number[][]): Float64Array {
  const { numQHeads, numKvHeads, headSize } = SHAPE;
  const r = numQHeads / numKvHeads;
  const out = new Float64Array((qTo - qFrom) * numQHeads * headSize);
  for (let t = qFrom; t < qTo; t++) {
    for (let h = 0; h < numQHeads; h++) {
      const kvh = Math.floor(h / r);
      const list = (Array.isArray(kept[0]) ? (kept as number[][])[kvh] : (kept as number[])).filter((p) => p <= t);
      const qOff = (t * numQHeads + h) * headSize;
      const scores = list.map((p) => {
        let s = 0;
        for (let d = 0; d < headSize; d++) s += tok.q[layer][qOff + d] * tok.k[layer][(p * numKvHeads + kvh) * headSize + d];
        return s / Math.sqrt(headSize);
      });
      const m = Math.max(...scores);
      const w = scores.map((s) => Math.exp(s - m));
      const z = w.reduce((a, b) => a + b, 0);
      const o = ((t - qFrom) * numQHeads + h) * headSize;
      list.forEach((p, i) => {
        for (let d = 0; d < headSize; d++) out[o + d] += (w[i] / z) * tok.v[layer][(p * numKvHeads + kvh) * headSize + d];
      });
    }
  }
  return out;
}
