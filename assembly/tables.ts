// tables.ts — sequences, their per-head block tables and lengths (docs/METHOD.md §2.1).
// Every (layer, seq, kvHead) owns one table row and one ctxLen; rows are visited in the flat
// [layer, kvHead] order everywhere, which fixes the order in which blocks are taken and
// returned (the exact-order tests depend on it).

import {
  numLayers, numKvHeads, maxSeqs, maxBlocksPerHead, blockSize, seqLensPtr, seqBirthPtr,
  headRow, ctxLenAt, setCtxLen, blocksFor, seqBirthAt, seqLenAt,
  blockTablesPtr, ctxLensPtr, tableRowPtr,
} from "./layout";
import { numFree, growRow, shrinkRow, poolInit, unpopFree } from "./allocator";

let birthCounter: i32 = 0; // admission order; the newest sequence is preempted first

/** Resets every table, length and sequence slot, and refills the pool. */
export function tablesInit(): void {
  const rows = numLayers * maxSeqs * numKvHeads;
  memory.fill(blockTablesPtr, 0xFF, <usize>rows * <usize>maxBlocksPerHead * 4); // −1
  memory.fill(ctxLensPtr, 0, <usize>rows * 4);
  memory.fill(seqLensPtr, 0, <usize>maxSeqs * 4);
  memory.fill(seqBirthPtr, 0xFF, <usize>maxSeqs * 4);
  birthCounter = 0;
  poolInit();
}

@inline export function isActive(seqId: i32): bool {
  return seqId >= 0 && seqId < maxSeqs && seqBirthAt(seqId) >= 0;
}

/** Takes the lowest free sequence slot. Returns its seqId, or −1 when all maxSeqs are used. */
export function addSequence(): i32 {
  for (let s = 0; s < maxSeqs; s++) {
    if (seqBirthAt(s) < 0) {
      store<i32>(seqBirthPtr + (<usize>s << 2), birthCounter++);
      store<i32>(seqLensPtr + (<usize>s << 2), 0);
      return s;
    }
  }
  return -1;
}

/** Releases every block of `seqId` (rows in [layer, kvHead] order, each row's blocks in table
 *  order) and frees the slot. Returns blocks released, or −1 if the seq is not active. */
export function removeSequence(seqId: i32): i32 {
  if (!isActive(seqId)) return -1;
  let released = 0;
  for (let l = 0; l < numLayers; l++) {
    for (let h = 0; h < numKvHeads; h++) {
      const row = headRow(l, seqId, h);
      released += shrinkRow(row, blocksFor(ctxLenAt(row)), 0, 0);
      setCtxLen(row, 0);
    }
  }
  store<i32>(seqLensPtr + (<usize>seqId << 2), 0);
  store<i32>(seqBirthPtr + (<usize>seqId << 2), -1);
  return released;
}

/** Blocks that appending `numTokens` to every head of `seqId` would take from the pool. */
export function blocksToReserve(seqId: i32, numTokens: i32): i32 {
  let needed = 0;
  for (let l = 0; l < numLayers; l++) {
    for (let h = 0; h < numKvHeads; h++) {
      const ctxLen = ctxLenAt(headRow(l, seqId, h));
      needed += blocksFor(ctxLen + numTokens) - blocksFor(ctxLen);
    }
  }
  return needed;
}

/** Appends `numTokens` slots to EVERY (layer, kvHead) of `seqId`, all-or-nothing.
 *  Returns blocks taken (≥ 0); −1 when the pool is short (nothing changed); −2 when the seq is
 *  not active; −3 when a head would pass maxBlocksPerHead (nothing changed). */
export function reserve(seqId: i32, numTokens: i32): i32 {
  if (!isActive(seqId) || numTokens < 0) return -2;
  const maxCtxLen = maxBlocksPerHead * blockSize;
  for (let l = 0; l < numLayers; l++) {
    for (let h = 0; h < numKvHeads; h++) {
      if (ctxLenAt(headRow(l, seqId, h)) + numTokens > maxCtxLen) return -3;
    }
  }
  const needed = blocksToReserve(seqId, numTokens);
  if (needed > numFree) return -1;
  for (let l = 0; l < numLayers; l++) {
    for (let h = 0; h < numKvHeads; h++) {
      const row = headRow(l, seqId, h);
      const ctxLen = ctxLenAt(row);
      growRow(row, blocksFor(ctxLen), blocksFor(ctxLen + numTokens));
      setCtxLen(row, ctxLen + numTokens);
    }
  }
  store<i32>(seqLensPtr + (<usize>seqId << 2), seqLenAt(seqId) + numTokens);
  return needed;
}

/** Undoes the newest reserve(seqId, numTokens) of a sequence whose newest `numTokens` slots
 *  hold nothing anyone reads yet: every row shrinks by numTokens and the blocks that reserve
 *  took go back to the front of the ring in reverse order, so pool, tables and lengths are as
 *  before that reserve (when nothing was allocated in between). Returns blocks released, or −2. */
export function unreserve(seqId: i32, numTokens: i32): i32 {
  if (!isActive(seqId) || numTokens < 0 || numTokens > seqLenAt(seqId)) return -2;
  let released = 0;
  for (let l = numLayers - 1; l >= 0; l--) {
    for (let h = numKvHeads - 1; h >= 0; h--) {
      const row = headRow(l, seqId, h);
      const ctxLen = ctxLenAt(row);
      const from = blocksFor(ctxLen), to = blocksFor(ctxLen - numTokens);
      const table = tableRowPtr(row);
      for (let j = from - 1; j >= to; j--) {
        const entry = table + (<usize>j << 2);
        unpopFree(row, load<i32>(entry));
        store<i32>(entry, -1);
        released++;
      }
      setCtxLen(row, ctxLen - numTokens);
    }
  }
  store<i32>(seqLensPtr + (<usize>seqId << 2), seqLenAt(seqId) - numTokens);
  return released;
}

/** Drops the last `numTailBlocks` blocks of one head and the KVs in them: ctxLen becomes
 *  (blocks − e)·b, the same length planMoves leaves (b=4, ctxLen 10, e=2 → ctxLen 4).
 *  Returns blocks released, or −2 on a bad argument. */
export function freeTailBlocks(seqId: i32, layer: i32, kvHead: i32, numTailBlocks: i32): i32 {
  if (!isActive(seqId) || layer < 0 || layer >= numLayers || kvHead < 0 || kvHead >= numKvHeads) return -2;
  const row = headRow(layer, seqId, kvHead);
  const held = blocksFor(ctxLenAt(row));
  if (numTailBlocks < 0 || numTailBlocks > held) return -2;
  const keep = held - numTailBlocks;
  shrinkRow(row, held, keep, 0);
  if (numTailBlocks > 0) setCtxLen(row, keep * blockSize);
  return numTailBlocks;
}

/** Blocks held by `seqId` over all its heads (a partly filled block counts as whole). */
export function seqAllocatedBlocks(seqId: i32, layerFrom: i32, layerTo: i32): i32 {
  let held = 0;
  for (let l = layerFrom; l < layerTo; l++) {
    for (let h = 0; h < numKvHeads; h++) held += blocksFor(ctxLenAt(headRow(l, seqId, h)));
  }
  return held;
}
