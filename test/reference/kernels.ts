// test/reference/kernels.ts — straight-loop f64 references for every KV kernel
// (docs/CONTRACTS.md, docs/METHOD.md §2). No cleverness: each function is the
// definition, written as loops over a plain-JS model of the pool (`RefPool`).
// Both backends (WGSL and the Wasm CPU path) test against these.

import type { PoolGeometry } from "../../src/contract";

/** The pool geometry the references need: src/contract.ts PoolGeometry without the query heads
 *  and dtype, which each reference call takes itself. */
export type PoolDims = Omit<PoolGeometry, "numQHeads" | "dtype">;

/** Deterministic PRNG (mulberry32); tests seed it freshly each run and print the seed. */
export { createRng as makeRng } from "../../src/model/sample";

/** Uniform in [-1, 1). */
export const randSym = (rng: () => number) => rng() * 2 - 1;

/**
 * Plain-JS model of the KV pool. Keys and values are f64 per physical slot
 * (`slot = blockId * b + offset`), shape [numBlocks, b, d]; metrics and positions [numBlocks, b].
 */
export class RefPool {
  readonly keys: Float64Array;
  readonly values: Float64Array;
  readonly metrics: Float64Array;
  readonly positions: Uint32Array;
  /** i32 [numLayers, maxSeqs, numKvHeads, maxBlocksPerHead], −1 unused. */
  readonly blockTables: Int32Array;
  /** i32 [numLayers, maxSeqs, numKvHeads]. */
  readonly ctxLens: Int32Array;
  /** i32 [maxSeqs]. */
  readonly seqLens: Int32Array;

  constructor(readonly dims: PoolDims) {
    const { numLayers: L, maxSeqs: S, numKvHeads: H, headSize: d, blockSize: b, numBlocks: N } = dims;
    this.keys = new Float64Array(N * b * d);
    this.values = new Float64Array(N * b * d);
    this.metrics = new Float64Array(N * b);
    this.positions = new Uint32Array(N * b);
    this.blockTables = new Int32Array(L * S * H * dims.maxBlocksPerHead).fill(-1);
    this.ctxLens = new Int32Array(L * S * H);
    this.seqLens = new Int32Array(S);
  }

  /** Flat index of (layer, seq, kvHead) into ctxLens. */
  headIdx(layer: number, seqId: number, kvHead: number): number {
    return (layer * this.dims.maxSeqs + seqId) * this.dims.numKvHeads + kvHead;
  }

  /** Physical slot of logical index i of a head. */
  slotOf(layer: number, seqId: number, kvHead: number, i: number): number {
    const { blockSize: b, maxBlocksPerHead: M } = this.dims;
    const blockId = this.blockTables[this.headIdx(layer, seqId, kvHead) * M + Math.floor(i / b)];
    if (blockId < 0) throw new Error(`RefPool: no block for logical index ${i}`);
    return blockId * b + (i % b);
  }

  clone(): RefPool {
    const p = new RefPool(this.dims);
    p.keys.set(this.keys); p.values.set(this.values); p.metrics.set(this.metrics);
    p.positions.set(this.positions); p.blockTables.set(this.blockTables);
    p.ctxLens.set(this.ctxLens); p.seqLens.set(this.seqLens);
    return p;
  }

  /** Rounds keys and values to f16 (what the packed-f16 GPU storage holds). */
  roundToF16(): void {
    for (let i = 0; i < this.keys.length; i++) {
      this.keys[i] = roundF16(this.keys[i]);
      this.values[i] = roundF16(this.values[i]);
    }
  }
}

export interface RandomPoolSpec {
  dims: PoolDims;
  /** seqLens per seqId (length maxSeqs; 0 for unused seqs). */
  seqLens: number[];
  /** ctxLen of each (layer, seq, kvHead), ≤ seqLens[seq]; called per head. */
  ctxLenOf: (layer: number, seqId: number, kvHead: number) => number;
  /** Keep logical order == position order (as right after a prefill); default false = scrambled subset. */
  contiguousPositions?: boolean;
}

/**
 * A random pool with blocks scattered over the pool (shuffled free list), random keys and
 * values in [-1, 1) and metrics in [0, 4) (all f32-representable, so an f32 GPU copy is exact), and per head a random subset of the
 * positions [0, seqLen) in random logical order (as after cache moves).
 */
export function randomPool(rng: () => number, spec: RandomPoolSpec): RefPool {
  const { dims } = spec;
  const pool = new RefPool(dims);
  const { numLayers: L, maxSeqs: S, numKvHeads: H, headSize: d, blockSize: b, maxBlocksPerHead: M } = dims;
  const free = Array.from({ length: dims.numBlocks }, (_, i) => i);
  shuffle(rng, free);
  for (let s = 0; s < S; s++) pool.seqLens[s] = spec.seqLens[s] ?? 0;
  for (let l = 0; l < L; l++) for (let s = 0; s < S; s++) for (let h = 0; h < H; h++) {
    const c = spec.ctxLenOf(l, s, h);
    const seqLen = pool.seqLens[s];
    if (c > seqLen) throw new Error(`randomPool: ctxLen ${c} > seqLen ${seqLen}`);
    const nb = Math.ceil(c / b);
    if (nb > M || nb > free.length) throw new Error("randomPool: pool too small");
    const hIdx = pool.headIdx(l, s, h);
    for (let j = 0; j < nb; j++) pool.blockTables[hIdx * M + j] = free.pop()!;
    pool.ctxLens[hIdx] = c;
    let pos: number[];
    if (spec.contiguousPositions) pos = Array.from({ length: c }, (_, i) => seqLen - c + i);
    else {
      const all = Array.from({ length: seqLen }, (_, i) => i);
      shuffle(rng, all);
      pos = all.slice(0, c);
    }
    for (let i = 0; i < c; i++) {
      const slot = pool.slotOf(l, s, h, i);
      pool.positions[slot] = pos[i];
      pool.metrics[slot] = Math.fround(rng() * 4);
      for (let k = 0; k < d; k++) {
        pool.keys[slot * d + k] = Math.fround(randSym(rng));
        pool.values[slot * d + k] = Math.fround(randSym(rng));
      }
    }
  }
  return pool;
}

export function shuffle<T>(rng: () => number, a: T[]): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
}

const f16Scratch = new DataView(new ArrayBuffer(4));
/** Round to the nearest f16 (ties to even), returned as a number; what pack2x16float stores. */
export function roundF16(x: number): number {
  const mf = (Math as unknown as { f16round?: (x: number) => number }).f16round;
  if (mf) return mf(x);
  f16Scratch.setFloat32(0, x);
  const bits = f16Scratch.getUint32(0);
  const sign = bits >>> 31 ? -1 : 1;
  const ax = Math.abs(Math.fround(x));
  if (ax === 0 || !Number.isFinite(ax)) return x;
  if (ax >= 65520) return sign * Infinity;
  const e = Math.max(Math.floor(Math.log2(ax)), -14);
  const ulp = 2 ** (e - 10);
  let q = ax / ulp;
  const fl = Math.floor(q);
  const fr = q - fl;
  q = fr > 0.5 || (fr === 0.5 && fl % 2 === 1) ? fl + 1 : fl;
  return sign * q * ulp;
}

// ---------------------------------------------------------------- append

/**
 * Append numNew tokens per listed sequence to one layer. ctxLens/blockTables ALREADY include
 * the new rows (the control plane grew them); new row t of a seq goes to logical index
 * ctxLen − (numNew − t) of every KV head. keys/values: [numTokens, numKvHeads, d] (tokens of
 * seqIds[0] first, CSR by tokenOffsets [k+1]); positions: [numTokens]. Metric starts at 0.
 */
export function refAppend(pool: RefPool, layer: number, seqIds: number[], tokenOffsets: number[],
  keys: ArrayLike<number>, values: ArrayLike<number>, positions: ArrayLike<number>): void {
  const { numKvHeads: H, headSize: d } = pool.dims;
  seqIds.forEach((s, k) => {
    const t0 = tokenOffsets[k], numNew = tokenOffsets[k + 1] - t0;
    for (let h = 0; h < H; h++) {
      const c = pool.ctxLens[pool.headIdx(layer, s, h)];
      for (let t = 0; t < numNew; t++) {
        const slot = pool.slotOf(layer, s, h, c - (numNew - t));
        const src = ((t0 + t) * H + h) * d;
        for (let j = 0; j < d; j++) {
          pool.keys[slot * d + j] = keys[src + j];
          pool.values[slot * d + j] = values[src + j];
        }
        pool.positions[slot] = positions[t0 + t];
        pool.metrics[slot] = 0;
      }
    }
  });
}

// ---------------------------------------------------------------- decode

/** How the r query heads of a group combine their metric terms (docs/METHOD.md §2.2; "max" is an ablation). */
export type GroupReduce = "sum" | "max";
const reduceGroup = (how: GroupReduce, acc: number, x: number): number => (how === "max" ? Math.max(acc, x) : acc + x);

/**
 * Decode attention of one query per seq per query head on one layer, and metric accumulation.
 * queries: [k, numQHeads, d]; returns out [k, numQHeads, d] (zeros for an empty head).
 * metricMode 0 none, 1 L1 (+= Σ_group p), 2 L2 (+= Σ_group p²); groupReduce "max" takes the max
 * over the group instead of the sum. Mutates pool.metrics.
 */
export function refDecode(pool: RefPool, layer: number, seqIds: number[], numQHeads: number,
  queries: ArrayLike<number>, metricMode: 0 | 1 | 2, groupReduce: GroupReduce = "sum"): Float64Array {
  const { numKvHeads: H, headSize: d } = pool.dims;
  const r = numQHeads / H, scale = 1 / Math.sqrt(d);
  const out = new Float64Array(seqIds.length * numQHeads * d);
  seqIds.forEach((s, k) => {
    for (let h = 0; h < H; h++) {
      const c = pool.ctxLens[pool.headIdx(layer, s, h)];
      const slots = Array.from({ length: c }, (_, i) => pool.slotOf(layer, s, h, i));
      const add = new Float64Array(c);
      for (let g = 0; g < r; g++) {
        const qh = h * r + g, qOff = (k * numQHeads + qh) * d;
        const p = softmax(slots.map((slot) => dot(queries, qOff, pool.keys, slot * d, d) * scale));
        for (let i = 0; i < c; i++) {
          for (let j = 0; j < d; j++) out[qOff + j] += p[i] * pool.values[slots[i] * d + j];
          add[i] = reduceGroup(groupReduce, add[i], metricMode === 2 ? p[i] * p[i] : p[i]);
        }
      }
      if (metricMode !== 0) for (let i = 0; i < c; i++) pool.metrics[slots[i]] += add[i];
    }
  });
  return out;
}

// ---------------------------------------------------------------- prefill

/**
 * Prefill attention on one layer, causal by position: query token t sees key i iff
 * position(i) ≤ queryPos(t). queries: [numTokens, numQHeads, d] CSR by tokenOffsets over
 * seqIds; queryPositions: [numTokens]. Metric (mode ≠ 0): only each seq's last `obsWindow`
 * tokens count (0 = all); per query head s_h[i] = Σ_q p (L1) or p² (L2); max-pool of width
 * `poolWidth` (odd, default 7: pad 3, clipped) along logical key order; group sum (or max, for
 * groupReduce "max") added to the metric. Returns out [numTokens, numQHeads, d].
 */
export function refPrefill(pool: RefPool, layer: number, seqIds: number[], tokenOffsets: number[],
  numQHeads: number, queries: ArrayLike<number>, queryPositions: ArrayLike<number>,
  metricMode: 0 | 1 | 2, obsWindow: number, poolWidth = 7, groupReduce: GroupReduce = "sum"): Float64Array {
  const { numKvHeads: H, headSize: d } = pool.dims;
  const half = Math.floor(poolWidth / 2);
  const r = numQHeads / H, scale = 1 / Math.sqrt(d);
  const out = new Float64Array(tokenOffsets[seqIds.length] * numQHeads * d);
  seqIds.forEach((s, k) => {
    const t0 = tokenOffsets[k], t1 = tokenOffsets[k + 1];
    for (let h = 0; h < H; h++) {
      const c = pool.ctxLens[pool.headIdx(layer, s, h)];
      const slots = Array.from({ length: c }, (_, i) => pool.slotOf(layer, s, h, i));
      const add = new Float64Array(c);
      for (let g = 0; g < r; g++) {
        const qh = h * r + g;
        const acc = new Float64Array(c);
        for (let t = t0; t < t1; t++) {
          const qOff = (t * numQHeads + qh) * d, qPos = queryPositions[t];
          const vis = slots.map((slot) => pool.positions[slot] <= qPos);
          const sc = slots.map((slot, i) => (vis[i] ? dot(queries, qOff, pool.keys, slot * d, d) * scale : -Infinity));
          const p = softmax(sc);
          for (let i = 0; i < c; i++) for (let j = 0; j < d; j++) out[qOff + j] += p[i] * pool.values[slots[i] * d + j];
          if (obsWindow === 0 || t >= t1 - obsWindow) for (let i = 0; i < c; i++) acc[i] += metricMode === 2 ? p[i] * p[i] : p[i];
        }
        for (let i = 0; i < c; i++) {
          let m = 0;
          for (let w = Math.max(0, i - half); w <= Math.min(c - 1, i + half); w++) m = Math.max(m, acc[w]);
          add[i] = reduceGroup(groupReduce, add[i], m);
        }
      }
      if (metricMode !== 0) for (let i = 0; i < c; i++) pool.metrics[slots[i]] += add[i];
    }
  });
  return out;
}

// ---------------------------------------------------------------- score ordering

/** One head's KVs sorted by (score ascending, position ascending); protected score = +inf.
 *  queryAvg: the score is the metric over the number of queries that could see the KV, seqLen − position.
 *  valueNorm: the score (after queryAvg) times ‖v‖₂ of the stored value, in f32 and the kernels'
 *  order (lane j = Σ_c v[4c + j]², then (s0 + s1) + (s2 + s3), then √). */
export function refSortedHead(pool: RefPool, layer: number, seqId: number, kvHead: number,
  protectedWindow: number, sinks: number, queryAvg = false, valueNorm = false): { score: number; position: number; logicalIdx: number }[] {
  const c = pool.ctxLens[pool.headIdx(layer, seqId, kvHead)];
  const seqLen = pool.seqLens[seqId];
  const rows = [];
  for (let i = 0; i < c; i++) {
    const slot = pool.slotOf(layer, seqId, kvHead, i);
    const position = pool.positions[slot];
    const prot = position >= seqLen - protectedWindow || position < sinks;
    const m = Math.fround(pool.metrics[slot]);
    const avg = queryAvg ? Math.fround(m / Math.max(1, seqLen - position)) : m;
    const score = prot ? Infinity : valueNorm ? Math.fround(avg * refValueNorm(pool, slot)) : avg;
    rows.push({ score, position, logicalIdx: i });
  }
  rows.sort((x, y) => (x.score - y.score) || (x.position - y.position));
  return rows;
}

/** ‖v‖₂ of the value at `slot` in f32, in the kernels' summation order (refSortedHead). */
export function refValueNorm(pool: RefPool, slot: number): number {
  const d = pool.dims.headSize;
  const lane = [0, 0, 0, 0];
  for (let c = 0; c < d; c += 4) {
    for (let j = 0; j < 4; j++) {
      const x = Math.fround(pool.values[slot * d + c + j]);
      lane[j] = Math.fround(lane[j] + Math.fround(x * x));
    }
  }
  return Math.fround(Math.sqrt(Math.fround(Math.fround(lane[0] + lane[1]) + Math.fround(lane[2] + lane[3]))));
}

/** Chunk keys f32 [numLayers, k, numKvHeads, maxBlocksPerHead], +inf padded (CONTRACTS.md). */
export function refChunkKeys(pool: RefPool, seqIds: number[], protectedWindow: number, sinks: number, queryAvg = false, valueNorm = false): Float32Array {
  const { numLayers: L, numKvHeads: H, blockSize: b, maxBlocksPerHead: M } = pool.dims;
  const out = new Float32Array(L * seqIds.length * H * M).fill(Infinity);
  for (let l = 0; l < L; l++) seqIds.forEach((s, k) => {
    for (let h = 0; h < H; h++) {
      const sorted = refSortedHead(pool, l, s, h, protectedWindow, sinks, queryAvg, valueNorm);
      const c = sorted.length;
      if (c === 0) continue;
      const nb = Math.ceil(c / b), a = c - (nb - 1) * b;
      for (let j = 0; j < nb; j++) out[((l * seqIds.length + k) * H + h) * M + j] = sorted[j * b + a - 1].score;
    }
  });
  return out;
}

/**
 * Ascending logical indices of each head's n lowest KVs, CSR by head in [layer, k, kvHead]
 * order. evictCounts: i32 [numLayers, k, numKvHeads].
 */
export function refEvictedIdx(pool: RefPool, seqIds: number[], protectedWindow: number, sinks: number,
  evictCounts: ArrayLike<number>, queryAvg = false, valueNorm = false): { evictedIdx: Uint32Array; evictedOffsets: Uint32Array } {
  const { numLayers: L, numKvHeads: H } = pool.dims;
  const numHeads = L * seqIds.length * H;
  const evictedOffsets = new Uint32Array(numHeads + 1);
  const idx: number[] = [];
  for (let l = 0; l < L; l++) seqIds.forEach((s, k) => {
    for (let h = 0; h < H; h++) {
      const f = (l * seqIds.length + k) * H + h;
      const sorted = refSortedHead(pool, l, s, h, protectedWindow, sinks, queryAvg, valueNorm);
      idx.push(...sorted.slice(0, evictCounts[f]).map((x) => x.logicalIdx).sort((x, y) => x - y));
      evictedOffsets[f + 1] = idx.length;
    }
  });
  return { evictedIdx: Uint32Array.from(idx), evictedOffsets };
}

// ---------------------------------------------------------------- cache moves

/**
 * Moves per CONTRACTS.md: per head, survivors in the tail [c−n, c) go to evicted holes below
 * c−n, smallest hole first, walking the tail from the top. Returns u32 pairs (dstSlot, srcSlot)
 * CSR by head. Does not change the pool.
 */
export function refPlanMoves(pool: RefPool, seqIds: number[], evictedIdx: Uint32Array,
  evictedOffsets: Uint32Array): { moves: Uint32Array; moveOffsets: Uint32Array } {
  const { numLayers: L, numKvHeads: H } = pool.dims;
  const moveOffsets = new Uint32Array(L * seqIds.length * H + 1);
  const moves: number[] = [];
  for (let l = 0; l < L; l++) seqIds.forEach((s, k) => {
    for (let h = 0; h < H; h++) {
      const f = (l * seqIds.length + k) * H + h;
      const ev = Array.from(evictedIdx.subarray(evictedOffsets[f], evictedOffsets[f + 1]));
      const c = pool.ctxLens[pool.headIdx(l, s, h)], n = ev.length, keep = c - n;
      const evSet = new Set(ev);
      const holes = ev.filter((i) => i < keep);
      let hole = 0;
      for (let i = c - 1; i >= keep; i--) {
        if (evSet.has(i)) continue;
        moves.push(pool.slotOf(l, s, h, holes[hole++]), pool.slotOf(l, s, h, i));
      }
      moveOffsets[f + 1] = moves.length / 2;
    }
  });
  return { moves: Uint32Array.from(moves), moveOffsets };
}

/** Copy key, value, metric and position of each (dstSlot, srcSlot) pair. */
export function refExecuteMoves(pool: RefPool, moves: ArrayLike<number>, numMoves = moves.length / 2): void {
  const d = pool.dims.headSize;
  for (let m = 0; m < numMoves; m++) {
    const dst = moves[2 * m], src = moves[2 * m + 1];
    for (let j = 0; j < d; j++) {
      pool.keys[dst * d + j] = pool.keys[src * d + j];
      pool.values[dst * d + j] = pool.values[src * d + j];
    }
    pool.metrics[dst] = pool.metrics[src];
    pool.positions[dst] = pool.positions[src];
  }
}

// ---------------------------------------------------------------- helpers

function dot(a: ArrayLike<number>, aOff: number, b: ArrayLike<number>, bOff: number, d: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) s += a[aOff + j] * b[bOff + j];
  return s;
}

function softmax(x: number[]): number[] {
  let m = -Infinity;
  for (const v of x) m = Math.max(m, v);
  if (m === -Infinity) return x.map(() => 0);
  const e = x.map((v) => Math.exp(v - m));
  const z = e.reduce((u, v) => u + v, 0);
  return e.map((v) => v / z);
}

/**
 * Norm-wise relative error: max|a − b| / max|b| (NaN anywhere → Infinity). This is the
 * "rel err" of the kernel tests: elementwise ratios blow up on near-zero outputs.
 */
export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let e = 0, m = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = b[i];
    if (Number.isNaN(x) || Number.isNaN(y)) return Infinity;
    if (x !== y) e = Math.max(e, Math.abs(x - y));
    m = Math.max(m, Math.abs(y));
  }
  return e === 0 ? 0 : e / Math.max(m, 1e-30);
}
