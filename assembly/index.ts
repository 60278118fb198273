// index.ts — the exported ABI of control.wasm and nothing else (STYLE L13). Flat functions,
// i32 arguments, i32 results; data goes through the regions of layout.ts, whose byte offsets
// the TS side reads from layoutOffsets(). Negative results: −1 capacity shortfall (expected,
// a return value), −2/−3 misuse the TS wrapper turns into a named error.

import * as layout from "./layout";
import * as allocator from "./allocator";
import * as tables from "./tables";
import * as budget from "./budget";
import * as schedule from "./schedule";
import * as plan from "./plan_moves";
import * as admission from "./admission";
import * as stats from "./stats";
import * as steps from "./steps";
import * as pressure from "./pressure";

/** Sizes every region and resets the pool. Returns 0; −1 if memory cannot grow to fit;
 *  −2 if a size is not positive. May be called again to reset everything. */
export function init(
  numLayers: i32, numKvHeads: i32, blockSize: i32, numBlocks: i32, maxSeqs: i32, maxBlocksPerHead: i32,
): i32 {
  if (numLayers <= 0 || numKvHeads <= 0 || blockSize <= 0 || numBlocks <= 0 || maxSeqs <= 0 || maxBlocksPerHead <= 0) return -2;
  layout.numLayers = numLayers;
  layout.numKvHeads = numKvHeads;
  layout.blockSize = blockSize;
  layout.numBlocks = numBlocks;
  layout.maxSeqs = maxSeqs;
  layout.maxBlocksPerHead = maxBlocksPerHead;
  if (layout.computeLayout() < 0) return -1;
  tables.tablesInit();
  steps.stepsInit();
  pressure.policyReset();
  schedule.setHeadFloor(0);
  return 0;
}

/** Byte offset of the header: i32[64], config in words 0..5, region offsets from word 8. */
export function layoutOffsets(): usize {
  return layout.headerPtr;
}

// ── pool and tables ──
export function addSequence(): i32 {
  const seqId = tables.addSequence();
  if (seqId >= 0) steps.stepsAdd(seqId);
  return seqId;
}
export function removeSequence(seqId: i32): i32 { return tables.removeSequence(seqId); }
export function reserve(seqId: i32, numTokens: i32): i32 { return tables.reserve(seqId, numTokens); }
export function blocksToReserve(seqId: i32, numTokens: i32): i32 { return tables.blocksToReserve(seqId, numTokens); }
export function freeTailBlocks(seqId: i32, layer: i32, kvHead: i32, numTailBlocks: i32): i32 {
  return tables.freeTailBlocks(seqId, layer, kvHead, numTailBlocks);
}
export function isActive(seqId: i32): i32 { return tables.isActive(seqId) ? 1 : 0; }
export function numFreeBlocks(): i32 { return allocator.numFree; }
export function freeRingHead(): i32 { return allocator.freeRingHead(); }

// ── budgets (docs/METHOD.md §2.4) ──
export function seqAllocatedBlocks(seqId: i32): i32 { return tables.seqAllocatedBlocks(seqId, 0, layout.numLayers); }
export function budgetMaxTokens(seqId: i32, capTokens: i32): i32 { return budget.budgetMaxTokens(seqId, capTokens); }
export function capTokensForRatio(promptTokens: i32, ratioMilli: i32, minTokens: i32): i32 {
  return budget.capTokensForRatio(promptTokens, ratioMilli, minTokens);
}
export function budgetRatio(seqId: i32, promptTokens: i32, ratioMilli: i32, minTokens: i32): i32 {
  return budget.budgetRatio(seqId, promptTokens, ratioMilli, minTokens);
}
export function uniformLayerCaps(capTokens: i32): void { budget.uniformLayerCaps(capTokens); }
export function pyramidLayerCaps(capTokens: i32, beta: i32): void { budget.pyramidLayerCaps(capTokens, beta); }
export function seqMaxFreeable(seqId: i32, protectedWindow: i32, sinks: i32): i32 {
  return budget.seqMaxFreeable(seqId, protectedWindow, sinks);
}

// ── schedule and plan (pass of k sequences listed in passSeqIds) ──
export function scheduleKvCompress(k: i32): i32 { return schedule.scheduleKvCompress(k); }
export function scheduleByLayer(k: i32): i32 { return schedule.scheduleByLayer(k); }
export function scheduleUniform(k: i32): i32 { return schedule.scheduleUniform(k); }
/** The head floor of the global and per-layer rankings, in thousandths (schedule.ts). 0, or −2 outside [0, 1000]. */
export function setHeadFloor(milli: i32): i32 { return schedule.setHeadFloor(milli); }
/** Plans and applies the pass, then counts it in the step state (steps.ts recordPass). */
export function planMoves(k: i32): i32 {
  const rc = plan.planMoves(k);
  if (rc >= 0) steps.recordPass(k);
  return rc;
}
/** Applies a pass planned on the device (n per head in evictCounts), then counts it like planMoves. */
export function applyEvictCounts(k: i32): i32 {
  const rc = plan.applyEvictCounts(k);
  if (rc >= 0) steps.recordPass(k);
  return rc;
}
export function lastNumFreed(): i32 { return plan.lastNumFreed; }
export function lastBadHead(): i32 { return plan.lastBadHead; }

// ── the step state of each sequence (steps.ts) ──
export function reserveStep(seqId: i32, numTokens: i32): i32 { return steps.reserveStep(seqId, numTokens); }
export function markAppended(seqId: i32, layer: i32): i32 { return steps.markAppended(seqId, layer); }
/** Undoes a decoding sequence's reserved, never-ended step (blocks back in ring order); −2 if none. */
export function cancelStep(seqId: i32): i32 { return steps.cancelStep(seqId); }
/** Undoes the newest n ended decode tokens (newest first); −2 past the prompt or mid-step. */
export function rewindSteps(seqId: i32, n: i32): i32 { return steps.rewindSteps(seqId, n); }
/** Ends the step; returns 1 when a compression pass is due under the policy, 0 if not, −2 if inactive. */
export function endStep(seqId: i32): i32 {
  const rc = steps.endStep(seqId);
  return rc < 0 ? rc : (pressure.passDue(seqId, rc == 1) ? 1 : 0);
}
export function isBetweenSteps(seqId: i32): i32 { return steps.isBetweenSteps(seqId) ? 1 : 0; }

// ── the policy, per-sequence budgets, the pass schedule and the pressure plan (pressure.ts) ──
export function setPolicy(kind: i32, value: i32, minTokens: i32, protectedWindow: i32, sinks: i32, continual: i32, ranking: i32, beta: i32): i32 {
  return pressure.setPolicy(kind, value, minTokens, protectedWindow, sinks, continual, ranking, beta);
}
export function seqCapTokens(seqId: i32): i32 { return pressure.seqCapTokens(seqId); }
export function seqPeakBlocks(seqId: i32, promptTokens: i32, finalTokens: i32): i32 { return pressure.seqPeakBlocks(seqId, promptTokens, finalTokens); }
export function setSeqBudget(seqId: i32, value: i32): i32 { return steps.setSeqBudget(seqId, value); }
export function seqBudgetBlocks(seqId: i32): i32 { return pressure.seqBudgetBlocks(seqId); }
export function schedulePass(k: i32): i32 { return pressure.schedulePass(k); }
export function writePassBudgets(k: i32): void { pressure.writePassBudgets(k); }
export function passOnDevice(): i32 { return pressure.passOnDevice(); }
export function pressurePlan(seqId: i32, numTokens: i32): i32 { return pressure.pressurePlan(seqId, numTokens); }

// ── admission (what to do under pressure is pressurePlan's one decision) ──
export function blocksForPrompt(promptTokens: i32): i32 { return admission.blocksForPrompt(promptTokens); }
export function blocksForNextStep(): i32 { return admission.blocksForNextStep(); }

// ── stats ──
export function computeSeqBlocks(): i32 { return stats.computeSeqBlocks(); }
export function uncompressedBlocks(): i32 { return stats.uncompressedBlocks(); }
