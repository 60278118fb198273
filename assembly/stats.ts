// stats.ts — how full the pool is and what compression bought. Per-head KV counts need no
// code: they are the ctxLens region itself. Bytes are computed in TS (f64) from these block
// counts, since bytesPerBlock × blocks can pass 2^31.

import { numLayers, numKvHeads, maxSeqs, seqBlocksPtr, seqLenAt, blocksFor } from "./layout";
import { isActive, seqAllocatedBlocks } from "./tables";

/** Writes seqBlocks[seqId] (0 for free slots); returns the blocks in use over all seqs. */
export function computeSeqBlocks(): i32 {
  let total = 0;
  for (let s = 0; s < maxSeqs; s++) {
    const held = isActive(s) ? seqAllocatedBlocks(s, 0, numLayers) : 0;
    store<i32>(seqBlocksPtr + (<usize>s << 2), held);
    total += held;
  }
  return total;
}

/** Blocks the active sequences would hold uncompressed: ceil(seqLen/b) per (layer, kvHead). */
export function uncompressedBlocks(): i32 {
  let total = 0;
  for (let s = 0; s < maxSeqs; s++) {
    if (isActive(s)) total += blocksFor(seqLenAt(s)) * numLayers * numKvHeads;
  }
  return total;
}
