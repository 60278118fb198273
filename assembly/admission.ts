// admission.ts — does a prompt fit, and what the next decode step takes.
// A prompt is prefilled uncompressed (docs/METHOD.md §2.4 compresses after prefill), so admission
// needs ceil(P/b) blocks in every (layer, kvHead). What to do when the pool is short is
// decided in one place, pressure.ts pressurePlan: compress the decoding sequences between steps,
// each to its own budget, or preempt the newest.

import { numLayers, numKvHeads, maxSeqs, blockSize, headRow, ctxLenAt } from "./layout";
import { isActive } from "./tables";

/** Blocks a new sequence of `promptTokens` takes: ceil(P/b) per (layer, kvHead). */
export function blocksForPrompt(promptTokens: i32): i32 {
  return (promptTokens + blockSize - 1) / blockSize * numLayers * numKvHeads;
}

/** Blocks the next decode step (one token per active sequence) takes: one per head whose last
 *  block is full (b=4: ctxLen 8 needs a block, ctxLen 9 does not). */
export function seqBlocksForNextStep(seqId: i32): i32 {
  let needed = 0;
  for (let l = 0; l < numLayers; l++) {
    for (let h = 0; h < numKvHeads; h++) {
      if (ctxLenAt(headRow(l, seqId, h)) % blockSize == 0) needed++;
    }
  }
  return needed;
}

export function blocksForNextStep(): i32 {
  let needed = 0;
  for (let s = 0; s < maxSeqs; s++) if (isActive(s)) needed += seqBlocksForNextStep(s);
  return needed;
}
