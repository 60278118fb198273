// steps.ts — where each sequence is in its step, and what compression did to it. The cache
// (src/cache.ts) reads these words through views and changes them only through these functions,
// so a sequence's state lives in one place, beside its block tables.
//
// seqSteps row of a sequence (i32[SEQ_STEP_WORDS]; src/contract.ts SEQ_STEP_FIELDS):
//   SS_NUM_NEW      tokens reserved this step (reserveStep → endStep); 0 between steps
//   SS_PREFILLING   1 from addSequence until the first endStep (the prompt, maybe in chunks)
//   SS_PROMPT       prompt length, set at the first endStep (the ratio budget's reference)
//   SS_PASSES       compression passes that evicted something and included this sequence
//   SS_EVICTED_LO/HI  KVs evicted from it, as a u64 in two words (a long run passes 2^31)
//   SS_NUM_APPENDED layers whose K/V of this step were appended (seqAppended holds which)
//   SS_BUDGET       this sequence's own budget (a request's setting): 0 the policy's, C > 0 tokens
//                   per head, −R·1000 a ratio on its prompt (assembly/pressure.ts seqCapTokens)
// poolCounts: passes and evicted KVs (lo, hi) over the life of the pool.

import {
  numLayers, numKvHeads, maxSeqs, SEQ_STEP_WORDS, seqStepsPtr, seqAppendedPtr, poolCountsPtr, passSeqIdsPtr,
  evictedOffsetsPtr, seqLenAt,
} from "./layout";
import { isActive, reserve, unreserve } from "./tables";

export const SS_NUM_NEW: i32 = 0;
export const SS_PREFILLING: i32 = 1;
export const SS_PROMPT: i32 = 2;
export const SS_PASSES: i32 = 3;
export const SS_EVICTED_LO: i32 = 4;
export const SS_EVICTED_HI: i32 = 5;
export const SS_NUM_APPENDED: i32 = 6;
export const SS_BUDGET: i32 = 7;

@inline function wordPtr(seqId: i32, word: i32): usize {
  return seqStepsPtr + (<usize>(seqId * SEQ_STEP_WORDS + word) << 2);
}
@inline export function stepWord(seqId: i32, word: i32): i32 {
  return load<i32>(wordPtr(seqId, word));
}
@inline function setStepWord(seqId: i32, word: i32, value: i32): void {
  store<i32>(wordPtr(seqId, word), value);
}
@inline function appendedPtr(seqId: i32, layer: i32): usize {
  return seqAppendedPtr + (<usize>(seqId * numLayers + layer) << 2);
}

/** Zeroes every sequence's state and the pool counters (init). */
export function stepsInit(): void {
  memory.fill(seqStepsPtr, 0, <usize>maxSeqs * <usize>SEQ_STEP_WORDS * 4);
  memory.fill(seqAppendedPtr, 0, <usize>maxSeqs * <usize>numLayers * 4);
  memory.fill(poolCountsPtr, 0, 16);
}

/** Sets a sequence's own budget word (SS_BUDGET; 0 = the policy's). Returns 0, or −2 for an
 *  inactive sequence or a ratio below 1 (−value < 1000). */
export function setSeqBudget(seqId: i32, value: i32): i32 {
  if (!isActive(seqId) || (value < 0 && value > -1000)) return -2;
  setStepWord(seqId, SS_BUDGET, value);
  return 0;
}

/** A fresh sequence: prefilling, nothing reserved, no passes. */
export function stepsAdd(seqId: i32): void {
  memory.fill(wordPtr(seqId, 0), 0, <usize>SEQ_STEP_WORDS * 4);
  memory.fill(appendedPtr(seqId, 0), 0, <usize>numLayers * 4);
  setStepWord(seqId, SS_PREFILLING, 1);
}

/** Decoding (prefill ended) and between steps: the only sequences a pass may touch, since a
 *  prompt is not scored yet and a reserved slot holds no KV yet. */
@inline export function isBetweenSteps(seqId: i32): bool {
  return isActive(seqId) && stepWord(seqId, SS_PREFILLING) == 0 && stepWord(seqId, SS_NUM_NEW) == 0;
}

/** reserve() plus the step state: numNew = numTokens, no layer appended yet. Same results as
 *  reserve (blocks taken, or −1 short / −2 inactive / −3 past maxBlocksPerHead, nothing changed). */
export function reserveStep(seqId: i32, numTokens: i32): i32 {
  const rc = reserve(seqId, numTokens);
  if (rc < 0) return rc;
  setStepWord(seqId, SS_NUM_NEW, numTokens);
  setStepWord(seqId, SS_NUM_APPENDED, 0);
  memory.fill(appendedPtr(seqId, 0), 0, <usize>numLayers * 4);
  return rc;
}

/** Records that layer `layer` of this step was appended. −2 on a bad argument or no reservation. */
export function markAppended(seqId: i32, layer: i32): i32 {
  if (!isActive(seqId) || layer < 0 || layer >= numLayers || stepWord(seqId, SS_NUM_NEW) == 0) return -2;
  const p = appendedPtr(seqId, layer);
  if (load<i32>(p) == 0) {
    store<i32>(p, 1);
    setStepWord(seqId, SS_NUM_APPENDED, stepWord(seqId, SS_NUM_APPENDED) + 1);
  }
  return 0;
}

/** Cancels the step of a decoding sequence whose reserved tokens were never ended (a pipelined
 *  decode's speculative step past a stop id): undoes its reservation (tables.unreserve) and
 *  clears the step, as if reserveStep had not run. −2 while prefilling or with nothing reserved. */
export function cancelStep(seqId: i32): i32 {
  if (!isActive(seqId) || stepWord(seqId, SS_PREFILLING) != 0) return -2;
  const n = stepWord(seqId, SS_NUM_NEW);
  if (n == 0) return -2;
  const rc = unreserve(seqId, n);
  if (rc < 0) return rc;
  setStepWord(seqId, SS_NUM_NEW, 0);
  setStepWord(seqId, SS_NUM_APPENDED, 0);
  memory.fill(appendedPtr(seqId, 0), 0, <usize>numLayers * 4);
  return rc;
}

/** Undoes the newest `n` ended decode tokens of a sequence between steps (a pipelined decode's
 *  steps past a stop id, ended before their input was known), newest first, each as
 *  tables.unreserve undoes one reserve: exact when no pass ran since. −2 when that would reach
 *  into the prompt, or the sequence is not between decode steps. */
export function rewindSteps(seqId: i32, n: i32): i32 {
  if (!isActive(seqId) || stepWord(seqId, SS_PREFILLING) != 0 || stepWord(seqId, SS_NUM_NEW) != 0) return -2;
  if (n < 0 || seqLenAt(seqId) - n < stepWord(seqId, SS_PROMPT)) return -2;
  let released = 0;
  for (let i = 0; i < n; i++) released += unreserve(seqId, 1);
  return released;
}

/** Ends the step: the first one also ends the prefill and fixes promptTokens = seqLen.
 *  Returns 1 when the prefill ended here, 0 otherwise, −2 for an inactive sequence. */
export function endStep(seqId: i32): i32 {
  if (!isActive(seqId)) return -2;
  setStepWord(seqId, SS_NUM_NEW, 0);
  if (stepWord(seqId, SS_PREFILLING) == 0) return 0;
  setStepWord(seqId, SS_PREFILLING, 0);
  setStepWord(seqId, SS_PROMPT, seqLenAt(seqId));
  return 1;
}

@inline function addU64(p: usize, n: u64): void {
  const v = (<u64>load<u32>(p + 4) << 32 | <u64>load<u32>(p)) + n;
  store<u32>(p, <u32>v);
  store<u32>(p + 4, <u32>(v >> 32));
}

/** Counts a pass over the k sequences of passSeqIds whose per-head evicted counts are the CSR
 *  evictedOffsets (planMoves calls it after applying the pass): every listed sequence gets one
 *  pass and its heads' n, the pool one pass and the total. */
export function recordPass(k: i32): void {
  const perSeq = numKvHeads;
  const total = load<u32>(evictedOffsetsPtr + (<usize>(numLayers * k * perSeq) << 2));
  if (total == 0) return; // a pass that evicted nothing is not counted
  for (let i = 0; i < k; i++) {
    const seqId = load<i32>(passSeqIdsPtr + (<usize>i << 2));
    let n: u64 = 0;
    for (let l = 0; l < numLayers; l++) {
      const r = (l * k + i) * perSeq;
      n += <u64>(load<u32>(evictedOffsetsPtr + (<usize>(r + perSeq) << 2)) - load<u32>(evictedOffsetsPtr + (<usize>r << 2)));
    }
    setStepWord(seqId, SS_PASSES, stepWord(seqId, SS_PASSES) + 1);
    addU64(wordPtr(seqId, SS_EVICTED_LO), n);
  }
  store<i32>(poolCountsPtr, load<i32>(poolCountsPtr) + 1);
  addU64(poolCountsPtr + 4, <u64>total);
}
