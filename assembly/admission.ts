// admission.ts — does a prompt fit, and what to do when the next decode step does not.
// A prompt is prefilled uncompressed (DESIGN.md 2.4 compresses after prefill), so admission
// needs ceil(P/b) blocks in every (layer, kvHead). Under decode pressure we compress first
// (oldest sequences first, each to its OWN budget) and preempt only when compression cannot
// free enough, newest sequence first (it has the least work to redo).

import {
  numLayers, numKvHeads, maxSeqs, blockSize, passSeqIdsPtr, passBudgetsPtr, preemptIdsPtr,
  headRow, ctxLenAt, seqBirthAt,
} from "./layout";
import { numFree } from "./allocator";
import { isActive, seqAllocatedBlocks } from "./tables";
import { budgetMaxTokens, seqMaxFreeable } from "./budget";

export let pressureNeeded: i32 = 0;
export let pressureFree: i32 = 0;
export let numToCompress: i32 = 0;
export let numToPreempt: i32 = 0;

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

function isPreempted(seqId: i32): bool {
  for (let i = 0; i < numToPreempt; i++) {
    if (load<i32>(preemptIdsPtr + (<usize>i << 2)) == seqId) return true;
  }
  return false;
}

/** Active, not preempted sequence with the smallest (oldest) or largest (newest) birth
 *  strictly beyond `afterBirth` in that direction; −1 when none. */
function nextByBirth(afterBirth: i32, newestFirst: bool): i32 {
  let best = -1;
  for (let s = 0; s < maxSeqs; s++) {
    if (!isActive(s) || isPreempted(s)) continue;
    const birth = seqBirthAt(s);
    if (newestFirst ? birth >= afterBirth : birth <= afterBirth) continue;
    if (best < 0 || (newestFirst ? birth > seqBirthAt(best) : birth < seqBirthAt(best))) best = s;
  }
  return best;
}

/** Blocks a kvcompress pass to cap `capTokens` can free from `seqId` under protection. */
@inline function gainOf(seqId: i32, capTokens: i32, protectedWindow: i32, sinks: i32): i32 {
  const e = budgetMaxTokens(seqId, capTokens);
  const most = seqMaxFreeable(seqId, protectedWindow, sinks);
  return e < most ? e : most;
}

/** Decides the next decode step under pressure. Writes the sequences to compress (oldest
 *  first) into passSeqIds with their E in passBudgets, and the ones to preempt (newest first)
 *  into preemptIds. Returns 0 (enough free blocks), 1 (compressing suffices) or 2 (preempt). */
export function pressurePlan(capTokens: i32, protectedWindow: i32, sinks: i32): i32 {
  numToCompress = 0;
  numToPreempt = 0;
  let needed = blocksForNextStep();
  let free = numFree;
  pressureNeeded = needed;
  pressureFree = free;
  if (needed <= free) return 0;
  let gainTotal = 0;
  for (let s = 0; s < maxSeqs; s++) {
    if (isActive(s)) gainTotal += gainOf(s, capTokens, protectedWindow, sinks);
  }
  // Preempting a sequence returns all its blocks and removes its own need and gain.
  while (free + gainTotal < needed) {
    const s = nextByBirth(0x7FFFFFFF, true);
    if (s < 0) break;
    free += seqAllocatedBlocks(s, 0, numLayers);
    needed -= seqBlocksForNextStep(s);
    gainTotal -= gainOf(s, capTokens, protectedWindow, sinks);
    store<i32>(preemptIdsPtr + (<usize>numToPreempt << 2), s);
    numToPreempt++;
  }
  let birth = -1;
  while (free < needed) {
    const s = nextByBirth(birth, false);
    if (s < 0) break;
    birth = seqBirthAt(s);
    const gain = gainOf(s, capTokens, protectedWindow, sinks);
    if (gain <= 0) continue;
    store<i32>(passSeqIdsPtr + (<usize>numToCompress << 2), s);
    store<i32>(passBudgetsPtr + (<usize>numToCompress << 2), budgetMaxTokens(s, capTokens));
    numToCompress++;
    free += gain;
  }
  return numToPreempt > 0 ? 2 : 1;
}
