// pressure.ts — the cache's policy as the control plane needs it (budget, protection, trigger,
// ranking), each sequence's budget under it, and the one memory-pressure decision
// (docs/METHOD.md §2.4, "Admission and pressure").
//
// pressurePlan(seqId, numTokens) is pure: it reads the tables, the step state and the policy and
// writes a plan into the pressure region (src/contract.ts PRESSURE_FIELDS); it changes nothing
// else. The cache carries the plan out (it compresses; a preemption is the caller's, who keeps
// the preempted sequence's tokens and prefills them again later).
//   PP_ACTION     0 fits: the pool has the blocks
//                 1 compress: compressing the listed sequences (each to its own budget) covers it
//                 2 preempt: even that is short; free the listed preempt sequences too
//   PP_NEED       blocks reserve(seqId, numTokens) takes
//   PP_FREE       free blocks now
//   PP_FREEABLE   blocks the listed compress sequences can give up (budget and protection bound)
//   PP_NUM_COMPRESS, PP_NUM_PREEMPT; then the compress ids (oldest first) and the preempt ids
//   (newest first) from word PP_IDS on.
// Rules, in order: only sequences between steps and past their prefill are compressed (a prompt
// is not scored yet, a reserved slot holds no KV yet), oldest first; each can free
// min(E_s, what protection leaves). If free + that < need, the newest sequences are preempted
// one by one (any live one, the requester included; its blocks all return, and a compressible
// victim's own share leaves the compress list) until the blocks cover the need, or the victim is
// the requester itself (then its need is gone). Admission order is seqBirth.

import { maxSeqs, pressurePtr, seqBirthAt, seqLenAt, passBudgetsPtr, passSeqIdsPtr } from "./layout";
import { numFree } from "./allocator";
import { isActive, blocksToReserve, seqAllocatedBlocks } from "./tables";
import { budgetMaxTokens, capBlocks, capTokensForRatio, protectedCount, seqMaxFreeable, uniformLayerCaps, pyramidLayerCaps } from "./budget";
import { numLayers, numKvHeads, blocksFor } from "./layout";
import { isBetweenSteps, stepWord, SS_BUDGET, SS_PROMPT } from "./steps";
import { headFloor, scheduleKvCompress, scheduleByLayer, scheduleUniform } from "./schedule";

export const BUDGET_NONE: i32 = 0;
export const BUDGET_TOKENS: i32 = 1;
export const BUDGET_RATIO: i32 = 2;
export const RANK_GLOBAL: i32 = 0;
export const RANK_LAYER: i32 = 1;
export const RANK_UNIFORM: i32 = 2;
export const RANK_PYRAMID: i32 = 3;

const PP_ACTION: i32 = 0;
const PP_NEED: i32 = 1;
const PP_FREE: i32 = 2;
const PP_FREEABLE: i32 = 3;
const PP_NUM_COMPRESS: i32 = 4;
const PP_NUM_PREEMPT: i32 = 5;
const PP_IDS: i32 = 8;

let budgetKind: i32 = BUDGET_NONE;
let budgetValue: i32 = 0; // C tokens per head, or R in thousandths
let budgetMinTokens: i32 = 0;
let protectedWindow: i32 = 0;
let sinks: i32 = 0;
let continual: bool = false;
let ranking: i32 = RANK_GLOBAL;
let pyramidBeta: i32 = 20;

/** Sets the policy (init resets it to "no budget"). Returns 0, or −2 on a bad value. */
export function setPolicy(kind: i32, value: i32, minTokens: i32, window: i32, numSinks: i32, isContinual: i32, rank: i32, beta: i32): i32 {
  if (kind < BUDGET_NONE || kind > BUDGET_RATIO || rank < RANK_GLOBAL || rank > RANK_PYRAMID) return -2;
  if (value < 0 || minTokens < 0 || window < 0 || numSinks < 0 || beta < 1) return -2;
  if (kind == BUDGET_RATIO && value < 1000) return -2;
  budgetKind = kind; budgetValue = value; budgetMinTokens = minTokens;
  protectedWindow = window; sinks = numSinks; continual = isContinual != 0; ranking = rank; pyramidBeta = beta;
  return 0;
}

export function policyReset(): void {
  setPolicy(BUDGET_NONE, 0, 0, 0, 0, 0, RANK_GLOBAL, 20);
}

@inline export function hasBudget(): bool {
  return budgetKind != BUDGET_NONE;
}

/** Per-head budget C of a sequence: its own budget word if set, else the policy's C, or ratio
 *  mode on its prompt (its seqLen while the prompt has not ended). i32.MAX_VALUE without a budget. */
export function seqCapTokens(seqId: i32): i32 {
  const prompt = stepWord(seqId, SS_PROMPT);
  return capTokensFor(seqId, prompt != 0 ? prompt : seqLenAt(seqId));
}

/** seqCapTokens with the ratio's prompt given (a sequence admitted but not yet prefilled). */
function capTokensFor(seqId: i32, promptTokens: i32): i32 {
  if (budgetKind == BUDGET_NONE) return i32.MAX_VALUE;
  // A sequence's own budget (SS_BUDGET) replaces the policy's value; the policy must have one.
  const own = stepWord(seqId, SS_BUDGET);
  if (own > 0) return own;
  if (own == 0 && budgetKind == BUDGET_TOKENS) return budgetValue;
  return capTokensForRatio(promptTokens, own < 0 ? -own : budgetValue, budgetMinTokens);
}

/** The most blocks a sequence holds between its prefill and its last token, with no other
 *  sequence preempted, for admission that leaves room for growth (src/engine/serve.ts):
 *  without a budget, ceil(finalTokens / b) in every head; with one, what compression can
 *  always bring it back to (its budget, or the protected KVs when they are more) plus one
 *  block in every head for the tokens decoded since — never more than the budget-free count.
 *  Not counted: the prompt's own uncompressed blocks during prefill (pressurePlan checks
 *  those when the prompt is reserved). Returns −2 for an inactive sequence or bad counts. */
export function seqPeakBlocks(seqId: i32, promptTokens: i32, finalTokens: i32): i32 {
  if (!isActive(seqId) || promptTokens < 1 || finalTokens < promptTokens) return -2;
  const heads = numLayers * numKvHeads;
  const uncompressed = blocksFor(finalTokens);
  if (budgetKind == BUDGET_NONE) return uncompressed * heads;
  const capB = capBlocks(capTokensFor(seqId, promptTokens));
  const protB = blocksFor(protectedCount(finalTokens, protectedWindow, sinks));
  const kept = (capB > protB ? capB : protB) + 1;
  return (kept < uncompressed ? kept : uncompressed) * heads;
}

/** E: blocks the sequence holds beyond its budget (0 without one). */
export function seqBudgetBlocks(seqId: i32): i32 {
  return budgetKind == BUDGET_NONE ? 0 : budgetMaxTokens(seqId, seqCapTokens(seqId));
}

/** Whether endStep of a sequence is due a pass: a prompt that just ended, or with the
 *  continual trigger a decoding sequence over its budget. */
export function passDue(seqId: i32, prefillEnded: bool): bool {
  if (!hasBudget()) return false;
  return prefillEnded || (continual && seqBudgetBlocks(seqId) > 0);
}

/** What one compressible sequence can give up now. */
@inline function freeableOf(seqId: i32): i32 {
  const e = seqBudgetBlocks(seqId);
  const cap = seqMaxFreeable(seqId, protectedWindow, sinks);
  return e < cap ? e : cap;
}

@inline function setPlan(word: i32, value: i32): void {
  store<i32>(pressurePtr + (<usize>word << 2), value);
}
@inline function planWord(word: i32): i32 {
  return load<i32>(pressurePtr + (<usize>word << 2));
}

/** The plan for reserving `numTokens` more tokens of `seqId` (see the header). Returns the
 *  action, or −2 for an inactive sequence or a negative count. */
export function pressurePlan(seqId: i32, numTokens: i32): i32 {
  if (!isActive(seqId) || numTokens < 0) return -2;
  const need = blocksToReserve(seqId, numTokens);
  let free = numFree;
  setPlan(PP_NEED, need);
  setPlan(PP_FREE, free);
  setPlan(PP_FREEABLE, 0);
  setPlan(PP_NUM_COMPRESS, 0);
  setPlan(PP_NUM_PREEMPT, 0);
  if (need <= free) { setPlan(PP_ACTION, 0); return 0; }
  // Compress list, oldest first (insertion by birth; maxSeqs is small).
  let numCompress = 0;
  let gain = 0;
  if (hasBudget()) {
    for (let s = 0; s < maxSeqs; s++) {
      if (!isBetweenSteps(s)) continue;
      let at = numCompress;
      while (at > 0 && seqBirthAt(planWord(PP_IDS + at - 1)) > seqBirthAt(s)) {
        setPlan(PP_IDS + at, planWord(PP_IDS + at - 1));
        at--;
      }
      setPlan(PP_IDS + at, s);
      numCompress++;
      gain += freeableOf(s);
    }
  }
  if (free + gain >= need) {
    setPlan(PP_FREEABLE, gain);
    setPlan(PP_NUM_COMPRESS, numCompress);
    setPlan(PP_ACTION, 1);
    return 1;
  }
  // Preempt the newest until the blocks cover the need or the requester itself goes.
  let numPreempt = 0;
  let lastBirth = i32.MAX_VALUE;
  while (true) {
    let victim = -1;
    for (let s = 0; s < maxSeqs; s++) {
      if (!isActive(s) || seqBirthAt(s) >= lastBirth) continue;
      if (victim < 0 || seqBirthAt(s) > seqBirthAt(victim)) victim = s;
    }
    if (DEBUG) assert(victim >= 0); // the requester is live, so one is always found
    lastBirth = seqBirthAt(victim);
    // Victims go after the compress list in the pressure region; a compressible victim leaves it.
    for (let i = 0; i < numCompress; i++) {
      if (planWord(PP_IDS + i) != victim) continue;
      gain -= freeableOf(victim);
      for (let j = i; j + 1 < numCompress + numPreempt; j++) setPlan(PP_IDS + j, planWord(PP_IDS + j + 1));
      numCompress--;
      break;
    }
    setPlan(PP_IDS + numCompress + numPreempt, victim);
    numPreempt++;
    if (victim == seqId) break;
    free += seqAllocatedBlocks(victim, 0, numLayers);
    if (free + gain >= need) break;
  }
  setPlan(PP_FREEABLE, gain);
  setPlan(PP_NUM_COMPRESS, numCompress);
  setPlan(PP_NUM_PREEMPT, numPreempt);
  setPlan(PP_ACTION, 2);
  return 2;
}

/** passBudgets[i] = E of passSeqIds[i] under the policy (the global ranking's input). */
export function writePassBudgets(k: i32): void {
  for (let i = 0; i < k; i++) {
    const seqId = load<i32>(passSeqIdsPtr + (<usize>i << 2));
    store<i32>(passBudgetsPtr + (<usize>i << 2), seqBudgetBlocks(seqId));
  }
}

/** 1 when the policy's pass may run on the device (src/gpu/kernels/devicePass.ts implements the
 *  global ranking of schedule.ts exactly, with its tie rule and protection): the budgets from
 *  writePassBudgets go to the GPU, only n per head comes back (plan_moves.ts applyEvictCounts).
 *  Any other ranking — or a change to the global ranking the GPU kernels do not make too, such
 *  as a per-layer minimum — must return 0 here, and the pass runs through schedulePass. */
export function passOnDevice(): i32 {
  // The device pass's selects implement the global ranking without a head floor.
  return ranking == RANK_GLOBAL && headFloor() == 0 ? 1 : 0;
}

/** Schedules the pass of the k sequences in passSeqIds under the policy, each to its own
 *  budget: global ranking with E per sequence, or (k must be 1: layer caps are pool-wide) the
 *  per-layer and uniform rankings with that sequence's caps. Writes evictBlocks, evictCounts
 *  and evictedOffsets. Returns blocks scheduled, or −2 for a per-layer ranking with k ≠ 1. */
export function schedulePass(k: i32): i32 {
  if (ranking == RANK_GLOBAL) {
    writePassBudgets(k);
    return scheduleKvCompress(k);
  }
  if (k != 1) return -2;
  const cap = seqCapTokens(load<i32>(passSeqIdsPtr));
  if (ranking == RANK_PYRAMID) pyramidLayerCaps(cap, pyramidBeta);
  else uniformLayerCaps(cap);
  return ranking == RANK_LAYER ? scheduleByLayer(1) : scheduleUniform(1);
}
