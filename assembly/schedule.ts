// schedule.ts — which blocks each head gives up (docs/METHOD.md §2.4). Pure: reads chunkKeys,
// ctxLens, passSeqIds/passBudgets/layerCaps; writes evictBlocks e, evictCounts n and their
// prefix sums evictedOffsets (the CSR offsets the backends fill evictedIdx by).
//
// Input chunkKeys f32[layer, k, kvHead, maxBlocksPerHead]: for a head of ctxLen c, blocks
// nb = ceil(c/b) and last-block fill a = c − (nb−1)·b, key j = sorted[j·b + a − 1] (0-based),
// non-decreasing in j, +∞ once protected KVs would be lost. Entries j ≥ nb are ignored.
//
// TIE-BREAK (CONTRACTS.md): equal key → lower layer, then lower kvHead, then lower j — the flat
// [layer, seq, kvHead, block] order. Keys are ≥ 0, so their f32 bits compare as u32; any bit
// pattern ≥ +∞ (+∞, NaN, or a negative number's sign bit) is "never take".
//
// Method: instead of sorting ~L·H·nb keys, find the E-th smallest key T by bisection on the
// u32 bit pattern (≤ 31 rounds × L·H binary searches), then every head takes its keys < T and
// the keys == T go to heads in flat order. Same result as a stable sort, O(L·H·log nb·31).
//
// Head floor (ours, not the paper's; docs/METHOD.md §2.4): with headFloorMilli = F > 0, every
// head of a ranking keeps at least f = floor(kept · F / (1000 · heads)) blocks, kept = the
// blocks the ranking leaves (Σ nb − budget) and heads = the heads ranked together, i.e. F‰ of
// the mean (uniform) per-head share. It is one clamp: a head's candidates are its first
// min(finite, nb − f) keys, as if the rest were +∞. It never takes fewer blocks than
// min(budget, Σ finite): protection keeps the same ceil(protected / b) blocks in every head, so
// either that binds first or Σ max(0, nb − f) ≥ Σ nb − heads · f ≥ budget (f ≤ kept / heads).

import {
  numKvHeads, blockSize, maxBlocksPerHead, chunkKeysPtr, evictBlocksPtr, evictCountsPtr, evictedOffsetsPtr,
  passSeqIdsPtr, passBudgetsPtr, layerCapsPtr, scratchPtr, headRow, ctxLenAt, blocksFor,
  numLayers,
} from "./layout";
import { capBlocks, layerBudget } from "./budget";

const INF_BITS: u32 = 0x7F800000;

/** Share of the mean per-head budget every head keeps, in thousandths (0 = no floor). */
let headFloorMilli: i32 = 0;

/** Sets the head floor (pressure.setPolicy and tests). Returns 0, or −2 outside [0, 1000]. */
export function setHeadFloor(milli: i32): i32 {
  if (milli < 0 || milli > 1000) return -2;
  headFloorMilli = milli;
  return 0;
}

/** The head floor in thousandths (the device pass knows no floor: pressure.passOnDevice). */
export function headFloor(): i32 { return headFloorMilli; }
const E_KEYS_UNSORTED = "chunk keys must be non-decreasing within a head";

@inline function keysPtr(passIdx: i32, k: i32, layer: i32, kvHead: i32): usize {
  return chunkKeysPtr + ((<usize>((layer * k + passIdx) * numKvHeads + kvHead) * <usize>maxBlocksPerHead) << 2);
}

/** Count of keys[0..nb) whose bits are ≤ t (keys non-decreasing → binary search). */
@inline function countAtMost(keys: usize, nb: i32, t: u32): i32 {
  let lo = 0, hi = nb;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (load<u32>(keys + (<usize>mid << 2)) <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Writes e and n = (e−1)·b + a for pass head (layer, passIdx, kvHead).
 *  Worked example (b=4): c = 10 → nb = 3, a = 2; e = 2 → n = 1·4 + 2 = 6, leaving 4 KVs. */
@inline function writeEvict(passIdx: i32, k: i32, layer: i32, kvHead: i32, ctxLen: i32, e: i32): void {
  const at = <usize>((layer * k + passIdx) * numKvHeads + kvHead) << 2;
  const a = ctxLen - (blocksFor(ctxLen) - 1) * blockSize;
  store<i32>(evictBlocksPtr + at, e);
  store<i32>(evictCountsPtr + at, e == 0 ? 0 : (e - 1) * blockSize + a);
}

/** Ranks the candidate blocks of layers [layerFrom, layerTo) of pass sequence passIdx together
 *  and takes the `budget` smallest finite keys. Returns the blocks taken (< budget only when
 *  protection stops it, docs/METHOD.md §2.4: a +∞ key is never taken). scratch: [head] → (nb, finiteCount). */
function rankAndTake(passIdx: i32, k: i32, layerFrom: i32, layerTo: i32, budget: i32): i32 {
  const seqId = load<i32>(passSeqIdsPtr + (<usize>passIdx << 2));
  let numFinite = 0;
  let held = 0;
  for (let l = layerFrom; l < layerTo; l++) {
    for (let h = 0; h < numKvHeads; h++) {
      const nb = blocksFor(ctxLenAt(headRow(l, seqId, h)));
      const keys = keysPtr(passIdx, k, l, h);
      if (DEBUG) {
        for (let j = 1; j < nb; j++) {
          assert(load<u32>(keys + (<usize>j << 2)) >= load<u32>(keys + (<usize>(j - 1) << 2)), E_KEYS_UNSORTED);
        }
      }
      const finite = countAtMost(keys, nb, INF_BITS - 1);
      const s = scratchPtr + (<usize>((l - layerFrom) * numKvHeads + h) << 3);
      store<i32>(s, nb);
      store<i32>(s + 4, finite);
      numFinite += finite;
      held += nb;
    }
  }
  if (headFloorMilli > 0 && budget < held) {
    // The floor's clamp (header): at most nb − f candidates per head.
    const heads = (layerTo - layerFrom) * numKvHeads;
    const floorBlocks = <i32>(<i64>(held - budget) * <i64>headFloorMilli / (<i64>1000 * <i64>heads));
    numFinite = 0;
    for (let t = 0; t < heads; t++) {
      const s = scratchPtr + (<usize>t << 3);
      const room = load<i32>(s) - floorBlocks;
      const finite = min(load<i32>(s + 4), room > 0 ? room : 0);
      store<i32>(s + 4, finite);
      numFinite += finite;
    }
  }
  let take = budget < numFinite ? budget : numFinite;
  if (take < 0) take = 0;
  // Smallest bit pattern T with count(≤ T) ≥ take; with take == numFinite every finite key goes.
  let lo: u32 = 0, hi: u32 = INF_BITS - 1;
  if (take > 0 && take < numFinite) {
    while (lo < hi) {
      const mid = lo + ((hi - lo) >>> 1);
      let count = 0;
      for (let l = layerFrom; l < layerTo && count < take; l++) {
        for (let h = 0; h < numKvHeads; h++) {
          const s = scratchPtr + (<usize>((l - layerFrom) * numKvHeads + h) << 3);
          count += countAtMost(keysPtr(passIdx, k, l, h), load<i32>(s + 4), mid);
        }
      }
      if (count >= take) hi = mid;
      else lo = mid + 1;
    }
  }
  const threshold = lo; // T
  // Keys < T are all taken; `left` of the keys == T go to heads in flat (layer, kvHead) order.
  let left = take;
  if (take > 0 && take < numFinite) {
    for (let l = layerFrom; l < layerTo; l++) {
      for (let h = 0; h < numKvHeads; h++) {
        const s = scratchPtr + (<usize>((l - layerFrom) * numKvHeads + h) << 3);
        left -= threshold == 0 ? 0 : countAtMost(keysPtr(passIdx, k, l, h), load<i32>(s + 4), threshold - 1);
      }
    }
  }
  for (let l = layerFrom; l < layerTo; l++) {
    for (let h = 0; h < numKvHeads; h++) {
      const s = scratchPtr + (<usize>((l - layerFrom) * numKvHeads + h) << 3);
      const finite = load<i32>(s + 4);
      let e = 0;
      if (take == numFinite) {
        e = finite;
      } else if (take > 0) {
        const keys = keysPtr(passIdx, k, l, h);
        const less = threshold == 0 ? 0 : countAtMost(keys, finite, threshold - 1);
        const equal = countAtMost(keys, finite, threshold) - less;
        const extra = equal < left ? equal : left;
        left -= extra;
        e = less + extra;
      }
      writeEvict(passIdx, k, l, h, ctxLenAt(headRow(l, seqId, h)), e);
    }
  }
  return take;
}

/** evictedOffsets[r + 1] = Σ evictCounts[0..r] over the pass's numLayers·k·numKvHeads rows, so
 *  offsets come from the same place as the counts (no host-side prefix sum). */
function writeEvictedOffsets(k: i32): void {
  const rows = numLayers * k * numKvHeads;
  let sum: u32 = 0;
  store<u32>(evictedOffsetsPtr, 0);
  for (let r = 0; r < rows; r++) {
    sum += <u32>load<i32>(evictCountsPtr + (<usize>r << 2));
    store<u32>(evictedOffsetsPtr + (<usize>(r + 1) << 2), sum);
  }
}

/** kvcompress: every (layer, kvHead) of a sequence competes for its E = passBudgets[i].
 *  Each of the k pass sequences is ranked alone. Returns blocks scheduled over the pass. */
export function scheduleKvCompress(k: i32): i32 {
  let total = 0;
  for (let i = 0; i < k; i++) {
    total += rankAndTake(i, k, 0, numLayers, load<i32>(passBudgetsPtr + (<usize>i << 2)));
  }
  writeEvictedOffsets(k);
  return total;
}

/** Ablation: heads compete only within their layer, for E_l = layerBudget (layerCaps). */
export function scheduleByLayer(k: i32): i32 {
  let total = 0;
  for (let i = 0; i < k; i++) {
    const seqId = load<i32>(passSeqIdsPtr + (<usize>i << 2));
    for (let l = 0; l < numLayers; l++) total += rankAndTake(i, k, l, l + 1, layerBudget(seqId, l));
  }
  writeEvictedOffsets(k);
  return total;
}

/** Uniform policies (snapkv, h2o, pyramidkv, streamingllm): each head of layer l keeps
 *  ceil(layerCaps[l] / b) blocks, so e = blocks − that, capped by its finite keys. */
export function scheduleUniform(k: i32): i32 {
  let total = 0;
  for (let i = 0; i < k; i++) {
    const seqId = load<i32>(passSeqIdsPtr + (<usize>i << 2));
    for (let l = 0; l < numLayers; l++) {
      const keep = capBlocks(load<i32>(layerCapsPtr + (<usize>l << 2)));
      for (let h = 0; h < numKvHeads; h++) {
        const ctxLen = ctxLenAt(headRow(l, seqId, h));
        const nb = blocksFor(ctxLen);
        const finite = countAtMost(keysPtr(i, k, l, h), nb, INF_BITS - 1);
        let e = nb > keep ? nb - keep : 0;
        if (e > finite) e = finite;
        writeEvict(i, k, l, h, ctxLen, e);
        total += e;
      }
    }
  }
  writeEvictedOffsets(k);
  return total;
}
