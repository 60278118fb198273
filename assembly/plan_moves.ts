// plan_moves.ts — compaction (docs/METHOD.md §2.5). Given, per pass head, the ascending logical
// indices of its evicted KVs (CSR evictedOffsets/evictedIdx in [layer, k, kvHead] order),
// writes the (dstSlot, srcSlot) moves that empty the tail [ctxLen − n, ctxLen), then applies
// ctxLen −= n and releases the tail blocks. Block tables of survivors never change.
//
// Per head: the survivors in the tail are exactly as many as the evicted holes below
// ctxLen − n. Walking the tail from the top, each survivor goes to the smallest unused hole.
// Example (b=4, ctxLen 10, evicted {0,2,3,5,8,9}): n = 6, tail = [4,10); survivors 7, 6, 4
// (walking down) go to holes 0, 2, 3 → logical moves 7→0, 6→2, 4→3; ctxLen = 4, and table
// entries 1 then 2 are released (blocksFor(10) = 3 → blocksFor(4) = 1).
//
// The whole input is validated before anything changes, so a bad plan leaves no trace.

import {
  numKvHeads, maxSeqs, numBlocks, blockSize, evictedOffsetsPtr, evictCountsPtr, evictedIdxPtr, moveOffsetsPtr,
  movesPtr, freedBlocksPtr, passSeqIdsPtr, headRow, ctxLenAt, setCtxLen, blocksFor,
  tableRowPtr, slotOf, numLayers,
} from "./layout";
import { shrinkRow } from "./allocator";
import { isActive } from "./tables";

export let lastNumFreed: i32 = 0;
export let lastBadHead: i32 = -1; // pass head index that failed validation (for the TS error)

@inline function offsetAt(h: i32): u32 {
  return load<u32>(evictedOffsetsPtr + (<usize>h << 2));
}
@inline function passRow(passHead: i32, k: i32): i32 {
  // passHead = (layer · k + passIdx) · H + kvHead  →  the head row of that sequence
  const kvHead = passHead % numKvHeads;
  const lk = passHead / numKvHeads;
  const seqId = load<i32>(passSeqIdsPtr + (<usize>(lk % k) << 2));
  return headRow(lk / k, seqId, kvHead);
}

/** −1 when the pass list is bad (k out of range, a seq inactive or listed twice). */
function validatePass(k: i32): i32 {
  if (k < 0 || k > maxSeqs) return -1;
  for (let i = 0; i < k; i++) {
    const seqId = load<i32>(passSeqIdsPtr + (<usize>i << 2));
    if (!isActive(seqId)) return -1;
    for (let j = 0; j < i; j++) if (load<i32>(passSeqIdsPtr + (<usize>j << 2)) == seqId) return -1;
  }
  return 0;
}

@inline function emitMove(table: usize, dst: i32, src: i32, at: u32): void {
  const pair = movesPtr + (<usize>at << 3);
  store<u32>(pair, slotOf(table, dst));
  store<u32>(pair + 4, slotOf(table, src));
}

@inline function evictedAt(q: u32): u32 {
  return load<u32>(evictedIdxPtr + (<usize>q << 2));
}

/** Plans one head while checking its CSR entry (strictly ascending indices < ctxLen, n ≤
 *  ctxLen), in one forward walk over its n evicted indices ev[start..end):
 *  1. holes: the first h entries, those < newLen = ctxLen − n;
 *  2. tail: the other entries; the gaps between them are the h survivors of [newLen, ctxLen).
 *  Survivor m (counted bottom-up) is survivor h−1−m counted from the top, so it takes hole
 *  ev[start + h−1−m] and is written at move h−1−m: the output is exactly "walk the tail from
 *  the top, smallest hole first". SIMD skips 4 entries at a time while they are ascending
 *  holes or a run of consecutive evicted tail indices (the common case at high compression).
 *  Returns the new move count, or −1 if the entry is bad. */
function planHead(row: i32, start: u32, end: u32, numMoves: u32): i64 {
  const ctxLen = ctxLenAt(row);
  if (end < start || end - start > <u32>ctxLen) return -1;
  const newLen = <u32>ctxLen - (end - start);
  let q = start;
  // 1. holes: ascending and < newLen (4 at a time while q + 4 < end)
  while (q + 4 < end) {
    const a = v128.load(evictedIdxPtr + (<usize>q << 2));
    const b = v128.load(evictedIdxPtr + (<usize>(q + 1) << 2));
    if (!i32x4.all_true(i32x4.lt_u(a, b)) || evictedAt(q + 3) >= newLen) break;
    q += 4;
  }
  while (q < end && evictedAt(q) < newLen) {
    if (q > start && evictedAt(q) <= evictedAt(q - 1)) return -1;
    q++;
  }
  const h = q - start;
  // 2. tail: `expect` is the next tail index not yet accounted for
  const table = tableRowPtr(row);
  const lanes = i32x4(0, 1, 2, 3);
  let expect = newLen;
  let m: u32 = 0;
  const four = i32x4.splat(4);
  while (q < end) {
    // Skip runs of consecutive evicted indices 4 at a time. `run` advances by a constant, so
    // the loop-carried chain is one add; the compare only feeds a well-predicted branch.
    const q0 = q;
    let run = i32x4.add(i32x4.splat(<i32>expect), lanes);
    while (q + 4 <= end) {
      const same = i32x4.eq(v128.load(evictedIdxPtr + (<usize>q << 2)), run);
      if (!i32x4.all_true(same)) {
        q += <u32>ctz(~i32x4.bitmask(same) & 0xF); // leading lanes still in the run
        break;
      }
      q += 4;
      run = i32x4.add(run, four);
    }
    expect += q - q0;
    if (q >= end) break;
    const v = evictedAt(q);
    if (v < expect || v >= <u32>ctxLen) return -1;
    for (; expect < v; expect++, m++) { // survivors in the gap below v
      if (m >= h) return -1;
      emitMove(table, <i32>evictedAt(start + h - 1 - m), <i32>expect, numMoves + h - 1 - m);
    }
    expect = v + 1;
    q++;
  }
  for (; expect < <u32>ctxLen; expect++, m++) { // survivors above the last evicted index
    if (m >= h) return -1;
    emitMove(table, <i32>evictedAt(start + h - 1 - m), <i32>expect, numMoves + h - 1 - m);
  }
  if (m != h || expect > <u32>ctxLen) return -1; // a SIMD run may have passed ctxLen
  return <i64>(numMoves + h);
}

/** Plans and applies one pass. Returns the number of moves (pairs); −1 for a bad pass list;
 *  −2 with lastBadHead set for a bad CSR entry. Nothing changes on error: the walk that
 *  plans also validates, and only the second loop mutates tables, lengths and the pool.
 *  lastNumFreed = blocks released, listed in freedBlocks in [layer, k, kvHead] order, each
 *  head's blocks in table order. */
export function planMoves(k: i32): i32 {
  if (validatePass(k) < 0) return -1;
  const numPassHeads = numLayers * k * numKvHeads;
  const capacity = <u32>numBlocks * <u32>blockSize;
  if (offsetAt(0) != 0) { lastBadHead = 0; return -2; }
  let numMoves: u32 = 0;
  store<u32>(moveOffsetsPtr, 0);
  for (let ph = 0; ph < numPassHeads; ph++) {
    const end = offsetAt(ph + 1);
    const planned = end > capacity ? -1 : planHead(passRow(ph, k), offsetAt(ph), end, numMoves);
    if (planned < 0) { lastBadHead = ph; return -2; }
    numMoves = <u32>planned;
    store<u32>(moveOffsetsPtr + (<usize>(ph + 1) << 2), numMoves);
  }
  applyPass(k);
  return <i32>numMoves;
}

/** The accounting half of a pass, from the CSR offsets alone: per head ctxLen −= n and the tail
 *  blocks back to the pool (planMoves, and applyEvictCounts for a pass planned on the device). */
function applyPass(k: i32): void {
  const numPassHeads = numLayers * k * numKvHeads;
  let numFreed = 0;
  for (let ph = 0; ph < numPassHeads; ph++) {
    const n = <i32>(offsetAt(ph + 1) - offsetAt(ph));
    if (n == 0) continue;
    const row = passRow(ph, k);
    const ctxLen = ctxLenAt(row);
    const out = freedBlocksPtr + (<usize>numFreed << 2);
    numFreed += shrinkRow(row, blocksFor(ctxLen), blocksFor(ctxLen - n), out);
    setCtxLen(row, ctxLen - n);
  }
  lastNumFreed = numFreed;
}

/** A pass whose evicted KVs and moves were decided on the device (src/gpu/kernels/devicePass.ts):
 *  only n per head comes in, in evictCounts [layer, k, kvHead]. Checks every n (0 ≤ n ≤ ctxLen,
 *  and ctxLen − n a whole number of blocks, as every schedule leaves it), writes evictedOffsets
 *  (their prefix sums, so the pass is counted as planMoves counts it), then applies the pass.
 *  Returns blocks freed; −1 for a bad pass list; −2 with lastBadHead set for a bad n. Nothing
 *  changes on error. */
export function applyEvictCounts(k: i32): i32 {
  if (validatePass(k) < 0) return -1;
  const numPassHeads = numLayers * k * numKvHeads;
  let sum: u32 = 0;
  store<u32>(evictedOffsetsPtr, 0);
  for (let ph = 0; ph < numPassHeads; ph++) {
    const n = load<i32>(evictCountsPtr + (<usize>ph << 2));
    const ctxLen = ctxLenAt(passRow(ph, k));
    if (n < 0 || n > ctxLen || (n != 0 && (ctxLen - n) % blockSize != 0)) { lastBadHead = ph; return -2; }
    sum += <u32>n;
    store<u32>(evictedOffsetsPtr + (<usize>(ph + 1) << 2), sum);
  }
  applyPass(k);
  return lastNumFreed;
}
