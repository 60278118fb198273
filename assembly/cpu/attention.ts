// Paged attention on the CPU (decode and prefill) with the KV-Compress metric.
// Per (sequence, KV head) the r query heads of its group are done together, so every key
// and value row is read from memory once per query, not r times (GQA):
//   1. scoreKeys (qkv.ts):    S[i][h] = scale·q_h·k_i for logical keys i in [0, ctxLen)
//   2. softmaxRows:           S[i][h] = exp(S[i][h] − max_h), inv[h] = 1 / Σ_i S[i][h]
//   3. weightValues + finishValues (qkv.ts): out_h = inv[h] · Σ_i S[i][h] · v_i
// S is key-major, [ctxLen][rPad] with rPad = r rounded up to 4, so one f32x4 holds 4 heads of
// one key: max, exp, sum, metric and max-pool all run lane-parallel over heads, and no
// horizontal reduction happens per key except once per 4-head dot product group.
// Padded head lanes (r % 4 != 0) compute garbage from zero queries and are never written
// out nor counted in a metric.
import { blockSize, headSize, metricsBase, cpuScratch, SCRATCH_SCORES, SCRATCH_ACC, SCRATCH_WINDOW } from "./pool";
import { exp4 } from "./simd";

const SCRATCH_QS = 5; // pre-scaled queries [rPad][d]
const SCRATCH_INV = 6; // 1/sum per head [rPad]

export let rPad = 0;
export let groups = 0;
// The current query's regions; prefill keeps `tile` queries in flight (selectQuery picks one).
export let S: usize = 0;
export let W: usize = 0;
export let ACC: usize = 0;
export let QS: usize = 0;
export let INV: usize = 0;
let S0: usize = 0, ACC0: usize = 0, QS0: usize = 0, INV0: usize = 0;
let sBytes: usize = 0, headBytes: usize = 0;

/** Sizes the scratch for `tile` queries over `maxCtx` keys, group size r; false when out of memory. */
export function prepare(r: i32, maxCtx: i32, window: bool, tile: i32): bool {
  groups = (r + 3) >> 2;
  rPad = groups << 2;
  const perKey = <usize>rPad << 2;
  sBytes = <usize>max(maxCtx, 1) * perKey;
  headBytes = perKey * <usize>headSize;
  S0 = cpuScratch(SCRATCH_SCORES, sBytes * <usize>tile);
  W = window ? cpuScratch(SCRATCH_WINDOW, sBytes) : 1;
  ACC0 = cpuScratch(SCRATCH_ACC, headBytes * <usize>tile);
  QS0 = cpuScratch(SCRATCH_QS, headBytes * <usize>tile);
  INV0 = cpuScratch(SCRATCH_INV, perKey * <usize>tile);
  selectQuery(0);
  return S0 != 0 && W != 0 && ACC0 != 0 && QS0 != 0 && INV0 != 0;
}

/** Points S, ACC, QS, INV at query k of the tile. */
export function selectQuery(k: i32): void {
  S = S0 + <usize>k * sBytes;
  ACC = ACC0 + <usize>k * headBytes;
  QS = QS0 + <usize>k * headBytes;
  INV = INV0 + (<usize>(k * rPad) << 2);
}

/** QS[h] = scale · q_h for h < r, 0 for padded heads. */
export function prepQ(q: usize, r: i32, scale: f32): void {
  const d = headSize;
  memory.fill(QS, 0, <usize>(rPad * d) << 2);
  const sc = f32x4.splat(scale);
  for (let i = 0; i < r * d; i += 4) {
    v128.store(QS + (<usize>i << 2), f32x4.mul(v128.load(q + (<usize>i << 2)), sc));
  }
}

/** Step 2, per 4-head group. A head whose keys are all masked gets p = 0 and inv = 0. */
export function softmaxRows(ctx: i32): void {
  const keyStride = <usize>rPad << 2;
  for (let g = 0; g < groups; g++) {
    const base = S + (<usize>g << 4);
    let m = f32x4.splat(-Infinity);
    for (let i = 0; i < ctx; i++) m = f32x4.pmax(m, v128.load(base + <usize>i * keyStride));
    m = v128.and(m, f32x4.ne(m, f32x4.splat(-Infinity))); // -inf max → 0: avoids −inf − −inf
    let l = f32x4.splat(0);
    for (let i = 0; i < ctx; i++) {
      const p = base + <usize>i * keyStride;
      const e = exp4(f32x4.sub(v128.load(p), m));
      v128.store(p, e);
      l = f32x4.add(l, e);
    }
    const inv = f32x4.div(f32x4.splat(1), l);
    v128.store(INV + (<usize>g << 4), v128.and(inv, f32x4.ne(l, f32x4.splat(0))));
  }
}

/** Lanes of the last 4-head group that are real heads (h < r): all-ones, others 0. */
function laneMask(g: i32, r: i32): v128 {
  const k = r - (g << 2);
  return i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(k));
}

/** Normalised probability (mode 1) or its square (mode 2) of key i, 4 heads of group g. */
// @ts-ignore: decorator
@inline export function metricTerm(i: i32, g: i32, mode: i32): v128 {
  const p = f32x4.mul(v128.load(S + (<usize>(i * rPad + (g << 2)) << 2)), v128.load(INV + (<usize>g << 4)));
  return mode == 2 ? f32x4.mul(p, p) : p;
}

/** Sum (or max, gmax) of the terms ≥ 0 of one key over its real heads: 4 lanes → 1. */
// @ts-ignore: decorator
@inline function reduceLanes(v: v128, gmax: bool): f32 {
  const a = f32x4.extract_lane(v, 0), b = f32x4.extract_lane(v, 1);
  const c = f32x4.extract_lane(v, 2), d = f32x4.extract_lane(v, 3);
  return gmax ? max(max(a, b), max(c, d)) : a + b + c + d;
}

/**
 * Group reduction of key i's lanes (laid out [key][rPad] at base) over the real heads h < r:
 * the sum (docs/METHOD.md §2.2) or, gmax, the max (an ablation). Padded lanes are zeroed, which
 * changes neither since every term is ≥ 0.
 */
export function groupReduce(base: usize, i: i32, r: i32, gmax: bool): f32 {
  let s = f32x4.splat(0);
  for (let g = 0; g < groups; g++) {
    const v = v128.and(v128.load(base + (<usize>(i * rPad + (g << 2)) << 2)), laneMask(g, r));
    s = gmax ? f32x4.pmax(s, v) : f32x4.add(s, v);
  }
  return reduceLanes(s, gmax);
}

// @ts-ignore: decorator
@inline export function slotOf(row: usize, i: i32): i32 {
  return load<i32>(row + (<usize>(i / blockSize) << 2)) * blockSize + i % blockSize;
}

/** Decode metric: metric[slot(i)] += Σ_{h<r} (or max, gmax) term(p_ih), block by block. */
export function addDecodeMetric(row: usize, ctx: i32, r: i32, mode: i32, gmax: bool): void {
  const b = blockSize, G = groups, keyStride = <usize>rPad << 2;
  for (let j = 0, i0 = 0; i0 < ctx; j++, i0 += b) {
    const mBase = metricsBase + (<usize>(load<i32>(row + (<usize>j << 2)) * b) << 2);
    const n = min(b, ctx - i0);
    for (let t = 0; t < n; t++) {
      const sp = S + <usize>(i0 + t) * keyStride;
      let acc = f32x4.splat(0);
      for (let g = 0; g < G; g++) {
        let p = f32x4.mul(v128.load(sp + (<usize>g << 4)), v128.load(INV + (<usize>g << 4)));
        if (mode == 2) p = f32x4.mul(p, p);
        if (g == G - 1) p = v128.and(p, laneMask(g, r));
        acc = gmax ? f32x4.pmax(acc, p) : f32x4.add(acc, p);
      }
      const m = mBase + (<usize>t << 2);
      store<f32>(m, load<f32>(m) + reduceLanes(acc, gmax));
    }
  }
}
