// Score ordering for a compression pass (docs/METHOD.md §2.4, CONTRACTS.md "Ordering and
// tie-breaks"), and cache-move execution (docs/METHOD.md §2.5).
// Heads are visited in [layer, s, kvHead] order, s indexing the pass's seqIds.
import {
  blockSize, maxBlocksPerHead, numKvHeads, numLayers, rowBytes, metricsBase, positionsBase,
  keyRowAddr, tableRow, ctxLenAt, cpuScratch, SCRATCH_SORT,
} from "./pool";
import { valueNormAt } from "./qkv";

const INF_BITS: u64 = 0x7f800000;

/**
 * Per head: sort its KVs by (score, position) ascending with protected KVs (position ≥
 * seqLen − protectedWindow, or < sinks) scoring +inf; scoreFlags bit 0 (avg): score = metric /
 * (seqLen − position), the number of queries that could see the KV; bit 1 (value-aware): score ×=
 * ‖v‖₂ of the KV's stored value (qkv.ts valueNormAt; attention × value norm); write the logical indices in that order
 * (CSR: sortedIdx / sortedOffsets) and the chunk keys: candidate block j of a head with
 * ctxLen c has key sorted[j·b + a − 1] where a = c − (ceil(c/b) − 1)·b; +inf past ceil(c/b).
 * Scores are ≥ 0, so (scoreBits << 32 | position) as u64 orders exactly like (score, position).
 * @param seqLens i32[maxSeqs]; chunkKeys f32[numLayers, numSeqs, numKvHeads, maxBlocksPerHead]
 * @param sortedIdx u32[Σ ctxLen]; sortedOffsets u32[numLayers · numSeqs · numKvHeads + 1]
 * @returns 0, or -1 if scratch memory ran out
 */
export function cpuSortScores(
  tables: usize, ctxLens: usize, seqLens: usize, numSeqs: i32, seqIds: usize,
  protectedWindow: i32, sinks: i32, scoreFlags: i32, chunkKeys: usize, sortedIdx: usize, sortedOffsets: usize,
): i32 {
  let maxCtx = 0;
  for (let l = 0; l < numLayers; l++) for (let i = 0; i < numSeqs; i++) for (let h = 0; h < numKvHeads; h++) {
    maxCtx = max(maxCtx, ctxLenAt(ctxLens, l, load<i32>(seqIds + (<usize>i << 2)), h));
  }
  // keys: 2 × u64[maxCtx] (ping-pong), then 2 × u32[maxCtx] of logical indices
  const n8 = <usize>max(maxCtx, 1) << 3;
  const buf = cpuScratch(SCRATCH_SORT, 3 * n8);
  if (buf == 0) return -1;
  let off: u32 = 0;
  let hd = 0;
  for (let l = 0; l < numLayers; l++) for (let i = 0; i < numSeqs; i++) {
    const seq = load<i32>(seqIds + (<usize>i << 2));
    const seqLen: i64 = <i64>load<i32>(seqLens + (<usize>seq << 2));
    const protectFrom: i64 = seqLen - protectedWindow;
    for (let h = 0; h < numKvHeads; h++, hd++) {
      store<u32>(sortedOffsets + (<usize>hd << 2), off);
      const c = ctxLenAt(ctxLens, l, seq, h);
      const row = tableRow(tables, l, seq, h);
      for (let k = 0; k < c; k++) {
        const slot = load<i32>(row + (<usize>(k / blockSize) << 2)) * blockSize + k % blockSize;
        const pos = load<u32>(positionsBase + (<usize>slot << 2));
        const prot = <i64>pos >= protectFrom || <i64>pos < <i64>sinks;
        const m = load<f32>(metricsBase + (<usize>slot << 2));
        const avg = (scoreFlags & 1) != 0 ? m / <f32>max<i64>(seqLen - <i64>pos, 1) : m;
        const score = (scoreFlags & 2) != 0 && !prot ? avg * valueNormAt(slot) : avg;
        const bits: u64 = prot ? INF_BITS : <u64>reinterpret<u32>(score);
        store<u64>(buf + (<usize>k << 3), (bits << 32) | <u64>pos);
        store<u32>(buf + 2 * n8 + (<usize>k << 2), k);
      }
      const sorted = mergeSort(buf, buf + n8, buf + 2 * n8, buf + 2 * n8 + (n8 >> 1), c);
      const keys = sorted ? buf + n8 : buf;
      const idx = sorted ? buf + 2 * n8 + (n8 >> 1) : buf + 2 * n8;
      memory.copy(sortedIdx + (<usize>off << 2), idx, <usize>c << 2);
      off += <u32>c;
      const ck = chunkKeys + (<usize>hd * <usize>maxBlocksPerHead << 2);
      const nb = (c + blockSize - 1) / blockSize;
      const a = c - (nb - 1) * blockSize;
      for (let j = 0; j < maxBlocksPerHead; j++) {
        const v: u32 = j < nb ? <u32>(load<u64>(keys + (<usize>(j * blockSize + a - 1) << 3)) >> 32) : <u32>INF_BITS;
        store<u32>(ck + (<usize>j << 2), v);
      }
    }
  }
  store<u32>(sortedOffsets + (<usize>hd << 2), off);
  return 0;
}

/**
 * Bottom-up merge sort of n u64 keys (unique: positions differ within a head) carrying u32
 * payloads, ping-ponging between (k0, p0) and (k1, p1). Returns true if the result ended
 * in (k1, p1).
 */
function mergeSort(k0: usize, k1: usize, p0: usize, p1: usize, n: i32): bool {
  let flip = false;
  for (let w = 1; w < n; w <<= 1) {
    const sk = flip ? k1 : k0, sp = flip ? p1 : p0, dk = flip ? k0 : k1, dp = flip ? p0 : p1;
    for (let lo = 0; lo < n; lo += w << 1) {
      const mid = min(lo + w, n), hi = min(lo + (w << 1), n);
      let a = lo, b = mid, o = lo;
      while (a < mid && b < hi) {
        const ka = load<u64>(sk + (<usize>a << 3)), kb = load<u64>(sk + (<usize>b << 3));
        const takeA = ka < kb;
        const s = takeA ? a++ : b++;
        store<u64>(dk + (<usize>o << 3), takeA ? ka : kb);
        store<u32>(dp + (<usize>o << 2), load<u32>(sp + (<usize>s << 2))); o++;
      }
      for (; a < mid; a++, o++) { store<u64>(dk + (<usize>o << 3), load<u64>(sk + (<usize>a << 3))); store<u32>(dp + (<usize>o << 2), load<u32>(sp + (<usize>a << 2))); }
      for (; b < hi; b++, o++) { store<u64>(dk + (<usize>o << 3), load<u64>(sk + (<usize>b << 3))); store<u32>(dp + (<usize>o << 2), load<u32>(sp + (<usize>b << 2))); }
    }
    flip = !flip;
  }
  return flip;
}

/**
 * evictedIdx (CSR, ascending logical indices) of each head's n = evictCounts[hd] lowest KVs,
 * from cpuSortScores' sortedIdx / sortedOffsets. Returns 0, or -1 if scratch ran out.
 */
export function cpuSelectEvicted(
  sortedIdx: usize, sortedOffsets: usize, numHeads: i32, evictCounts: usize,
  evictedIdx: usize, evictedOffsets: usize,
): i32 {
  let maxCtx: u32 = 1;
  for (let hd = 0; hd < numHeads; hd++) {
    maxCtx = max(maxCtx, load<u32>(sortedOffsets + (<usize>(hd + 1) << 2)) - load<u32>(sortedOffsets + (<usize>hd << 2)));
  }
  const mark = cpuScratch(SCRATCH_SORT + 1, <usize>maxCtx);
  if (mark == 0) return -1;
  let out: u32 = 0;
  for (let hd = 0; hd < numHeads; hd++) {
    store<u32>(evictedOffsets + (<usize>hd << 2), out);
    const s0 = load<u32>(sortedOffsets + (<usize>hd << 2));
    const c = load<u32>(sortedOffsets + (<usize>(hd + 1) << 2)) - s0;
    const n = <u32>min(max(load<i32>(evictCounts + (<usize>hd << 2)), 0), <i32>c);
    // marking then scanning gives ascending order in O(ctxLen), no second sort
    memory.fill(mark, 0, <usize>c);
    for (let k: u32 = 0; k < n; k++) store<u8>(mark + <usize>load<u32>(sortedIdx + (<usize>(s0 + k) << 2)), 1);
    for (let i: u32 = 0; i < c; i++) {
      if (load<u8>(mark + <usize>i)) { store<u32>(evictedIdx + (<usize>out << 2), i); out++; }
    }
  }
  store<u32>(evictedOffsets + (<usize>numHeads << 2), out);
  return 0;
}

/**
 * Executes cache moves: for every (dstSlot, srcSlot) u32 pair in
 * moves[moveOffsets[0] .. moveOffsets[numHeads]), copies key, value, metric and position.
 * Moves are independent (CONTRACTS.md), so order does not matter.
 */
export function cpuExecuteMoves(moves: usize, moveOffsets: usize, numHeads: i32): void {
  const first = load<u32>(moveOffsets), last = load<u32>(moveOffsets + (<usize>numHeads << 2));
  const valueOff = <usize>blockSize * rowBytes;
  for (let m = first; m < last; m++) {
    const dst = load<i32>(moves + (<usize>m << 3)), src = load<i32>(moves + (<usize>m << 3) + 4);
    const kd = keyRowAddr(dst), ks = keyRowAddr(src);
    memory.copy(kd, ks, rowBytes);
    memory.copy(kd + valueOff, ks + valueOff, rowBytes);
    store<u32>(metricsBase + (<usize>dst << 2), load<u32>(metricsBase + (<usize>src << 2)));
    store<u32>(positionsBase + (<usize>dst << 2), load<u32>(positionsBase + (<usize>src << 2)));
  }
}
