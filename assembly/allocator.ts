// allocator.ts — the physical block pool: a FIFO ring of free block ids (vLLM's free block
// queue, without prefix caching). Allocation pops from the front, release pushes to the back,
// so after init the pool hands out 0, 1, 2, … and a released block is reused only after every
// block that was free before it. That order is the contract the exact-order tests pin down.
//
// Shortfalls are return values (−1): the caller decides to compress or preempt (STYLE L5).
// Broken invariants (double free, freeing a block the row does not own) are debug asserts.

import {
  numBlocks, freeRingPtr, blockOwnerPtr, maxBlocksPerHead, tableRowPtr,
} from "./layout";

let freeHead: i32 = 0; // ring index of the oldest free block
export let numFree: i32 = 0;

const E_DOUBLE_FREE = "block freed twice";
const E_NOT_OWNER = "block not owned by the row releasing it";
const E_POOL_EMPTY = "pop from an empty pool";

/** Puts every block in the ring, in id order, and marks all of them unowned. */
export function poolInit(): void {
  for (let i = 0; i < numBlocks; i++) {
    store<i32>(freeRingPtr + (<usize>i << 2), i);
    store<i32>(blockOwnerPtr + (<usize>i << 2), -1);
  }
  freeHead = 0;
  numFree = numBlocks;
}

@inline export function ownerOf(blockId: i32): i32 {
  return load<i32>(blockOwnerPtr + (<usize>blockId << 2));
}

/** Takes the oldest free block for head row `row`. The caller has checked numFree. */
export function popFree(row: i32): i32 {
  if (DEBUG) assert(numFree > 0, E_POOL_EMPTY);
  const blockId = load<i32>(freeRingPtr + (<usize>freeHead << 2));
  freeHead = freeHead + 1 == numBlocks ? 0 : freeHead + 1;
  numFree--;
  if (DEBUG) assert(ownerOf(blockId) == -1, E_DOUBLE_FREE);
  store<i32>(blockOwnerPtr + (<usize>blockId << 2), row);
  return blockId;
}

/** Returns `blockId`, owned by `row`, to the back of the ring. */
export function pushFree(row: i32, blockId: i32): void {
  if (DEBUG) assert(ownerOf(blockId) == row, E_NOT_OWNER);
  if (DEBUG) assert(numFree < numBlocks, E_DOUBLE_FREE);
  let tail = freeHead + numFree;
  if (tail >= numBlocks) tail -= numBlocks;
  store<i32>(freeRingPtr + (<usize>tail << 2), blockId);
  store<i32>(blockOwnerPtr + (<usize>blockId << 2), -1);
  numFree++;
}

/** Undoes the newest popFree: returns `blockId`, owned by `row`, to the FRONT of the ring, so a
 *  reservation undone in reverse order leaves the ring exactly as before it (unreserve). */
export function unpopFree(row: i32, blockId: i32): void {
  if (DEBUG) assert(ownerOf(blockId) == row, E_NOT_OWNER);
  if (DEBUG) assert(numFree < numBlocks, E_DOUBLE_FREE);
  freeHead = freeHead == 0 ? numBlocks - 1 : freeHead - 1;
  store<i32>(freeRingPtr + (<usize>freeHead << 2), blockId);
  store<i32>(blockOwnerPtr + (<usize>blockId << 2), -1);
  numFree++;
}

/** Appends blocks to row `row` so it holds `toBlocks`, taken in ring order. The caller has
 *  checked that numFree covers the difference (reserve() is all-or-nothing). */
export function growRow(row: i32, fromBlocks: i32, toBlocks: i32): void {
  if (DEBUG) assert(toBlocks <= maxBlocksPerHead);
  const table = tableRowPtr(row);
  for (let j = fromBlocks; j < toBlocks; j++) {
    store<i32>(table + (<usize>j << 2), popFree(row));
  }
}

/** Releases blocks [keepBlocks, fromBlocks) of row `row` in ascending table order, writes −1
 *  into their table entries, and appends their ids at `outPtr` (if not 0). Returns the count. */
export function shrinkRow(row: i32, fromBlocks: i32, keepBlocks: i32, outPtr: usize): i32 {
  const table = tableRowPtr(row);
  for (let j = keepBlocks; j < fromBlocks; j++) {
    const entry = table + (<usize>j << 2);
    const blockId = load<i32>(entry);
    pushFree(row, blockId);
    store<i32>(entry, -1);
    if (outPtr != 0) store<i32>(outPtr + (<usize>(j - keepBlocks) << 2), blockId);
  }
  return fromBlocks > keepBlocks ? fromBlocks - keepBlocks : 0;
}

/** Ring index of the oldest free block (TS reads the free order through this). */
export function freeRingHead(): i32 {
  return freeHead;
}
