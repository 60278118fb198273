// Straight-loop reference of compaction (docs/METHOD.md §2.5) for one head: which surviving KVs of
// the tail move into which evicted holes, and which blocks go back to the pool.

export interface HeadPlan {
  /** (dstSlot, srcSlot) physical slots, in the order the tail is walked (top first). */
  moves: [number, number][];
  newCtxLen: number;
  /** Table entries released, in table order. */
  freedBlocks: number[];
}

/** `table` is the head's block-table row, `evicted` its ascending evicted logical indices. */
export function refPlanHead(table: number[], ctxLen: number, evicted: number[], blockSize: number): HeadPlan {
  const n = evicted.length;
  const newCtxLen = ctxLen - n;
  const isEvicted = new Set(evicted);
  const holes: number[] = [];
  for (let i = 0; i < newCtxLen; i++) if (isEvicted.has(i)) holes.push(i);
  const survivorsTopDown: number[] = [];
  for (let t = ctxLen - 1; t >= newCtxLen; t--) if (!isEvicted.has(t)) survivorsTopDown.push(t);
  if (holes.length !== survivorsTopDown.length) throw new Error("reference: holes and tail survivors differ");
  const slot = (i: number) => table[Math.floor(i / blockSize)] * blockSize + (i % blockSize);
  const moves: [number, number][] = [];
  for (let m = 0; m < holes.length; m++) moves.push([slot(holes[m]), slot(survivorsTopDown[m])]);
  const freedBlocks: number[] = [];
  for (let j = Math.ceil(newCtxLen / blockSize); j < Math.ceil(ctxLen / blockSize); j++) freedBlocks.push(table[j]);
  return { moves, newCtxLen, freedBlocks };
}
