// Exported paged-attention kernels: decode (one query per sequence) and prefill (causal by
// position). Both walk (sequence, KV head) pairs; see attention.ts for the three steps.
// q / out are f32 [row, numQHeads, d] with query head hq = kvHead · r + h (GQA: query head
// hq reads KV head floor(hq / r)). Memory: O(TILE · maxCtx · r) scratch, never O(rows · ctx).
import {
  blockSize, rowBytes, headSize, numKvHeads, tableRow, ctxLenAt, metricsBase, storageCode, STORAGE_F16, STORAGE_Q8, STORAGE_Q4,
} from "./pool";
import {
  S, W, ACC, rPad, groups, prepare, prepQ, selectQuery, softmaxRows, metricTerm, groupReduce,
  addDecodeMetric, slotOf,
} from "./attention";
import { scoreKeys, weightValues, finishValues } from "./qkv";

/** Prefill query tile: this many query rows walk each chunk of K/V blocks while it is cached. */
const TILE = 8;
/** Bytes of K (or V) per chunk of blocks walked by a tile (well inside L2). */
const CHUNK_BYTES: usize = 128 << 10;
const ALL_BLOCKS = 0x7fffffff;

const NO_MASK: u32 = 0xffffffff;
/** Kernel result when scratch could not be allocated (the wrapper throws WasmMemoryLimitError). */
export const ATTN_ERR_MEMORY: i32 = -1;

/** scoreKeys / weightValues for the pool's storage (qkv.ts: u16 f16, u8 q8, i8 q4). */
function scoreAny(row: usize, ctx: i32, maxPos: u32, jFrom: i32, jTo: i32): void {
  if (storageCode == STORAGE_F16) scoreKeys<u16>(row, ctx, maxPos, jFrom, jTo);
  else if (storageCode == STORAGE_Q8) scoreKeys<u8>(row, ctx, maxPos, jFrom, jTo);
  else if (storageCode == STORAGE_Q4) scoreKeys<i8>(row, ctx, maxPos, jFrom, jTo);
  else scoreKeys<f32>(row, ctx, maxPos, jFrom, jTo);
}
function weightAny(row: usize, ctx: i32, jFrom: i32, jTo: i32, sparse: bool): void {
  if (storageCode == STORAGE_F16) weightValues<u16>(row, ctx, jFrom, jTo, sparse);
  else if (storageCode == STORAGE_Q8) weightValues<u8>(row, ctx, jFrom, jTo, sparse);
  else if (storageCode == STORAGE_Q4) weightValues<i8>(row, ctx, jFrom, jTo, sparse);
  else weightValues<f32>(row, ctx, jFrom, jTo, sparse);
}

function maxCtxOf(ctxLens: usize, layer: i32, numSeqs: i32, seqIds: usize): i32 {
  let m = 0;
  for (let i = 0; i < numSeqs; i++) {
    const seq = load<i32>(seqIds + (<usize>i << 2));
    for (let h = 0; h < numKvHeads; h++) m = max(m, ctxLenAt(ctxLens, layer, seq, h));
  }
  return m;
}

function zeroHeads(out: usize, r: i32): void {
  memory.fill(out, 0, <usize>(r * headSize) << 2);
}

/**
 * Decode attention for one layer. Each (seq, kvHead) attends over its own ctxLen keys; a
 * head with ctxLen 0 outputs zeros. metricMode 0 none, 1 metric += Σ_h p, 2 metric += Σ_h p²;
 * groupMax 1 takes the max over the group's query heads instead of the sum (an ablation).
 * @param seqIds i32[numSeqs]; q, out f32[numSeqs, numKvHeads · r, d]
 * @returns 0, or ATTN_ERR_MEMORY
 */
export function cpuDecodeAttention(
  tables: usize, ctxLens: usize, layer: i32, numSeqs: i32, seqIds: usize,
  q: usize, out: usize, r: i32, scale: f32, metricMode: i32, groupMax: i32,
): i32 {
  if (!prepare(r, maxCtxOf(ctxLens, layer, numSeqs, seqIds), false, 1)) return ATTN_ERR_MEMORY;
  const headBytes = <usize>headSize << 2;
  for (let i = 0; i < numSeqs; i++) {
    const seq = load<i32>(seqIds + (<usize>i << 2));
    for (let h = 0; h < numKvHeads; h++) {
      const qo = <usize>((i * numKvHeads + h) * r) * headBytes;
      const ctx = ctxLenAt(ctxLens, layer, seq, h);
      if (ctx == 0) { zeroHeads(out + qo, r); continue; }
      const row = tableRow(tables, layer, seq, h);
      prepQ(q + qo, r, scale);
      scoreAny(row, ctx, NO_MASK, 0, ALL_BLOCKS);
      softmaxRows(ctx);
      memory.fill(ACC, 0, <usize>(rPad * headSize) << 2);
      weightAny(row, ctx, 0, ALL_BLOCKS, false);
      finishValues(r, out + qo, headBytes);
      if (metricMode != 0) addDecodeMetric(row, ctx, r, metricMode, groupMax != 0);
    }
  }
  return 0;
}

/**
 * Prefill attention for one layer: query row t of a sequence sees the keys of its heads
 * with position ≤ qPositions[t] (the caller has already appended this chunk's K/V).
 * Metric (mode ≠ 0): over the last min(obsWindow, rows) query rows of each sequence in this
 * call (obsWindow ≤ 0: all rows), per query head w_h[i] = Σ_q p (mode 1) or p² (mode 2);
 * then a max-pool of width poolWidth along logical key order (window [i − ⌊w/2⌋, i + ⌊w/2⌋]
 * clipped at the ends: 7 → ±3 as docs/METHOD.md §2.2; 1 → none); then metric += Σ_h (max_h with
 * groupMax 1).
 * @param rowOffsets i32[numSeqs + 1]; q, out f32[rows, numKvHeads · r, d]; qPositions u32[rows]
 * @returns 0, or ATTN_ERR_MEMORY
 */
export function cpuPrefillAttention(
  tables: usize, ctxLens: usize, layer: i32, numSeqs: i32, seqIds: usize, rowOffsets: usize,
  q: usize, qPositions: usize, out: usize, r: i32, scale: f32, metricMode: i32, obsWindow: i32,
  poolWidth: i32, groupMax: i32,
): i32 {
  if (!prepare(r, maxCtxOf(ctxLens, layer, numSeqs, seqIds), metricMode != 0, TILE)) return ATTN_ERR_MEMORY;
  const headBytes = <usize>headSize << 2;
  const rowBytesQ = <usize>(numKvHeads * r) * headBytes;
  const chunk = <i32>max<usize>(1, CHUNK_BYTES / (<usize>blockSize * rowBytes));
  for (let i = 0; i < numSeqs; i++) {
    const seq = load<i32>(seqIds + (<usize>i << 2));
    const r0 = load<i32>(rowOffsets + (<usize>i << 2));
    const r1 = load<i32>(rowOffsets + (<usize>(i + 1) << 2));
    const w0 = obsWindow > 0 ? max(r0, r1 - obsWindow) : r0; // first observation-window row
    for (let h = 0; h < numKvHeads; h++) {
      const ctx = ctxLenAt(ctxLens, layer, seq, h);
      const row = tableRow(tables, layer, seq, h);
      const nb = (ctx + blockSize - 1) / blockSize;
      if (metricMode != 0) memory.fill(W, 0, <usize>(ctx * rPad) << 2);
      // query rows go in tiles; each tile walks the blocks chunk by chunk, so a chunk of K (then
      // V) is read from memory once per tile instead of once per query row
      for (let t0 = r0; t0 < r1; t0 += TILE) {
        const nt = min(TILE, r1 - t0);
        for (let k = 0; k < nt; k++) {
          const qo = <usize>(t0 + k) * rowBytesQ + <usize>(h * r) * headBytes;
          if (ctx == 0) { zeroHeads(out + qo, r); continue; }
          selectQuery(k);
          prepQ(q + qo, r, scale);
          memory.fill(ACC, 0, <usize>(rPad * headSize) << 2);
        }
        if (ctx == 0) continue;
        for (let jc = 0; jc < nb; jc += chunk) {
          for (let k = 0; k < nt; k++) {
            selectQuery(k);
            const maxPos = load<u32>(qPositions + (<usize>(t0 + k) << 2));
            scoreAny(row, ctx, maxPos, jc, jc + chunk);
          }
        }
        for (let k = 0; k < nt; k++) { selectQuery(k); softmaxRows(ctx); }
        for (let jc = 0; jc < nb; jc += chunk) {
          for (let k = 0; k < nt; k++) {
            selectQuery(k);
            weightAny(row, ctx, jc, jc + chunk, true);
          }
        }
        for (let k = 0; k < nt; k++) {
          selectQuery(k);
          finishValues(r, out + <usize>(t0 + k) * rowBytesQ + <usize>(h * r) * headBytes, headBytes);
          if (metricMode != 0 && t0 + k >= w0) accumulateWindow(ctx, metricMode);
        }
      }
      selectQuery(0);
      if (metricMode != 0 && ctx > 0) addPooledMetric(row, ctx, r, max(poolWidth, 1), groupMax != 0);
    }
  }
  return 0;
}

function accumulateWindow(ctx: i32, mode: i32): void {
  for (let i = 0; i < ctx; i++) {
    for (let g = 0; g < groups; g++) {
      const p = W + (<usize>(i * rPad + (g << 2)) << 2);
      v128.store(p, f32x4.add(v128.load(p), metricTerm(i, g, mode)));
    }
  }
}

/** S (free after the last query) ← max-pool(W) lane-wise; metric[slot(i)] += Σ_h (or max_h) S[i][h]. */
function addPooledMetric(row: usize, ctx: i32, r: i32, width: i32, gmax: bool): void {
  const half = width >> 1;
  for (let i = 0; i < ctx; i++) {
    const lo = max(0, i - half), hi = min(ctx - 1, i + half);
    for (let g = 0; g < groups; g++) {
      let m = v128.load(W + (<usize>(lo * rPad + (g << 2)) << 2));
      for (let j = lo + 1; j <= hi; j++) m = f32x4.max(m, v128.load(W + (<usize>(j * rPad + (g << 2)) << 2)));
      v128.store(S + (<usize>(i * rPad + (g << 2)) << 2), m);
    }
  }
  for (let i = 0; i < ctx; i++) {
    const m = metricsBase + (<usize>slotOf(row, i) << 2);
    store<f32>(m, load<f32>(m) + groupReduce(S, i, r, gmax));
  }
}
