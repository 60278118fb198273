// Straight-loop reference of the schedule (docs/METHOD.md §2.4, CONTRACTS.md tie-breaks) and of the
// per-head orderings the GPU produces (chunk keys, evicted indices). No cleverness: sort
// everything, take a prefix. Tests compare control.wasm against these, never against itself.

/** One head's KVs in logical order: score and token position of each. */
export interface HeadKvs {
  scores: number[];
  positions: number[];
}

/** Protected iff p ≥ seqLen − protectedWindow or p < sinks (CONTRACTS.md, Protection). */
export function isProtected(position: number, seqLen: number, protectedWindow: number, sinks: number): boolean {
  return position >= seqLen - protectedWindow || position < sinks;
}

/** Logical indices of the head's KVs in eviction order: (score asc, position asc), protected
 *  KVs last (their score counts as +∞). */
export function evictionOrder(head: HeadKvs, seqLen: number, protectedWindow: number, sinks: number): number[] {
  const order: number[] = [];
  for (let i = 0; i < head.scores.length; i++) order.push(i);
  const key = (i: number) => (isProtected(head.positions[i], seqLen, protectedWindow, sinks) ? Infinity : head.scores[i]);
  order.sort((x, y) => {
    if (key(x) !== key(y)) return key(x) < key(y) ? -1 : 1;
    return head.positions[x] - head.positions[y];
  });
  return order;
}

/** Chunk keys of one head, +∞ padded to maxBlocksPerHead: key j = sorted[j·b + a − 1]. */
export function chunkKeysOfHead(head: HeadKvs, seqLen: number, protectedWindow: number, sinks: number, blockSize: number, maxBlocksPerHead: number): number[] {
  const ctxLen = head.scores.length;
  const keys: number[] = [];
  for (let j = 0; j < maxBlocksPerHead; j++) keys.push(Infinity);
  if (ctxLen === 0) return keys;
  const order = evictionOrder(head, seqLen, protectedWindow, sinks);
  const numHeadBlocks = Math.ceil(ctxLen / blockSize);
  const a = ctxLen - (numHeadBlocks - 1) * blockSize;
  for (let j = 0; j < numHeadBlocks; j++) {
    const i = order[j * blockSize + a - 1];
    keys[j] = isProtected(head.positions[i], seqLen, protectedWindow, sinks) ? Infinity : head.scores[i];
  }
  return keys;
}

/** The n KVs a head evicts: the first n of evictionOrder, as ascending logical indices. */
export function evictedIndicesOfHead(head: HeadKvs, seqLen: number, protectedWindow: number, sinks: number, n: number): number[] {
  return evictionOrder(head, seqLen, protectedWindow, sinks).slice(0, n).sort((x, y) => x - y);
}

/** n = (e − 1)·b + a, or 0 when e = 0 (b=4, ctxLen 10 → a = 2; e = 2 → n = 6). */
export function evictCountOf(ctxLen: number, e: number, blockSize: number): number {
  if (e === 0) return 0;
  const a = ctxLen - (Math.ceil(ctxLen / blockSize) - 1) * blockSize;
  return (e - 1) * blockSize + a;
}

/** One sequence of a pass: per [layer][kvHead], its ctxLen and chunk keys. */
export interface PassSeq {
  ctxLens: number[][];
  keys: number[][][];
}

/** kvcompress ranking over layers [layerFrom, layerTo): candidates sorted by (key, layer,
 *  kvHead, j), the first `budget` finite ones taken. Returns e per [layer][kvHead].
 *  floorMilli F: each head keeps f = floor(max(0, Σ blocks − budget) · F / (1000 · heads))
 *  blocks, i.e. only its blocks j < blocks − f are candidates. */
export function rankAndTake(seq: PassSeq, blockSize: number, layerFrom: number, layerTo: number, budget: number, floorMilli = 0): number[][] {
  let held = 0, heads = 0;
  for (let l = layerFrom; l < layerTo; l++) {
    for (const c of seq.ctxLens[l]) { held += Math.ceil(c / blockSize); heads++; }
  }
  const floorBlocks = Math.floor((Math.max(0, held - budget) * floorMilli) / (1000 * heads));
  const candidates: { key: number; layer: number; kvHead: number; j: number }[] = [];
  for (let l = layerFrom; l < layerTo; l++) {
    for (let h = 0; h < seq.ctxLens[l].length; h++) {
      const numHeadBlocks = Math.ceil(seq.ctxLens[l][h] / blockSize);
      for (let j = 0; j < numHeadBlocks - floorBlocks; j++) candidates.push({ key: seq.keys[l][h][j], layer: l, kvHead: h, j });
    }
  }
  candidates.sort((x, y) => x.key - y.key || x.layer - y.layer || x.kvHead - y.kvHead || x.j - y.j);
  const e = seq.ctxLens.map((row) => row.map(() => 0));
  for (let t = 0; t < budget && t < candidates.length; t++) {
    const c = candidates[t];
    if (c.key === Infinity) break;
    e[c.layer][c.kvHead]++;
  }
  return e;
}

export function refScheduleKvCompress(seq: PassSeq, blockSize: number, budget: number, floorMilli = 0): number[][] {
  return rankAndTake(seq, blockSize, 0, seq.ctxLens.length, budget, floorMilli);
}

/** Per-layer ranking: E_l = max(0, blocks of layer l − H·ceil(cap_l / b)). */
export function refScheduleByLayer(seq: PassSeq, blockSize: number, layerCaps: number[], floorMilli = 0): number[][] {
  const e: number[][] = [];
  for (let l = 0; l < seq.ctxLens.length; l++) {
    let held = 0;
    for (const c of seq.ctxLens[l]) held += Math.ceil(c / blockSize);
    const allowed = Math.ceil(layerCaps[l] / blockSize) * seq.ctxLens[l].length;
    e.push(rankAndTake(seq, blockSize, l, l + 1, Math.max(0, held - allowed), floorMilli)[l]);
  }
  return e;
}

/** Uniform: each head keeps ceil(cap_l / b) blocks, but never gives up a +∞ key. */
export function refScheduleUniform(seq: PassSeq, blockSize: number, layerCaps: number[]): number[][] {
  return seq.ctxLens.map((row, l) =>
    row.map((ctxLen, h) => {
      const numHeadBlocks = Math.ceil(ctxLen / blockSize);
      let e = Math.max(0, numHeadBlocks - Math.ceil(layerCaps[l] / blockSize));
      let finite = 0;
      for (let j = 0; j < numHeadBlocks; j++) if (seq.keys[l][h][j] !== Infinity) finite++;
      if (e > finite) e = finite;
      return e;
    }),
  );
}
