// budget.ts — how many blocks a sequence must give up (docs/METHOD.md §2.4). Integer math only,
// so every runtime computes the same budget bit for bit.
//
// Sequences never trade budget: every function here looks at ONE sequence. (The reference
// implementation sums allocations over the sequences compressed together and so
// under-compresses a batch; a pass here carries one E per sequence — passBudgets[i].)

import {
  numLayers, numKvHeads, blockSize, layerCapsPtr, seqLenAt, headRow, ctxLenAt, blocksFor,
} from "./layout";
import { seqAllocatedBlocks } from "./tables";

/** ceil(C / b): the blocks one head may keep under a cap of C tokens. roundUp(C, b)/b is the
 *  same number (b=4: C=10 → 3 blocks, i.e. 12 slots). */
@inline export function capBlocks(capTokens: i32): i32 {
  return <i32>((<i64>capTokens + <i64>blockSize - 1) / <i64>blockSize);
}

/** Max-tokens mode: E = max(0, allocated − ceil(roundUp(C, b)·L·H / b)) over all heads of
 *  `seqId`, a partly filled block counting as whole. */
export function budgetMaxTokens(seqId: i32, capTokens: i32): i32 {
  // i64: a cap near 2^31 ("no limit") times L·H would overflow i32 and look negative.
  const allowed = <i64>capBlocks(capTokens) * <i64>(numLayers * numKvHeads);
  const held = <i64>seqAllocatedBlocks(seqId, 0, numLayers);
  return held > allowed ? <i32>(held - allowed) : 0;
}

/** Ratio mode: C = max(minTokens, floor_b(P/R − 1)), with R given in thousandths
 *  (ratioMilli = 64000 for 64×) so the division is exact integer math.
 *  floor(P/R − 1) = floor(P/R) − 1 for integer subtraction. Example (b=16): P=6000, R=64 →
 *  floor(93.75) − 1 = 92 → floor_16 = 80 → max(128, 80) = 128, so "64×" keeps 128 tokens
 *  per head and really achieves 6000/128 ≈ 47× (the paper's minTokens = 128). */
export function capTokensForRatio(promptTokens: i32, ratioMilli: i32, minTokens: i32): i32 {
  let cap = <i64>promptTokens * 1000 / <i64>ratioMilli - 1;
  if (cap < 0) cap = 0;
  cap -= cap % <i64>blockSize;
  return <i32>(cap > <i64>minTokens ? cap : <i64>minTokens);
}

export function budgetRatio(seqId: i32, promptTokens: i32, ratioMilli: i32, minTokens: i32): i32 {
  return budgetMaxTokens(seqId, capTokensForRatio(promptTokens, ratioMilli, minTokens));
}

/** Blocks layer `layer` of `seqId` must free so each head keeps ≤ layerCaps[layer] tokens on
 *  average (the "within each layer" ranking budget). */
export function layerBudget(seqId: i32, layer: i32): i32 {
  const allowed = <i64>capBlocks(load<i32>(layerCapsPtr + (<usize>layer << 2))) * <i64>numKvHeads;
  const held = <i64>seqAllocatedBlocks(seqId, layer, layer + 1);
  return held > allowed ? <i32>(held - allowed) : 0;
}

/** Fills layerCaps with one cap C for every layer (uniform policies). */
export function uniformLayerCaps(capTokens: i32): void {
  for (let l = 0; l < numLayers; l++) store<i32>(layerCapsPtr + (<usize>l << 2), capTokens);
}

/** PyramidKV budgets: min = C / beta, max = 2C − min, decreasing linearly with depth
 *  (layer 0 keeps the most), as in PyramidKV. NOTE: departs from PyramidKV's code, which
 *  rounds each layer's token cap on its own: here caps are whole blocks, the linear shares
 *  floored and the blocks left over handed to the layers with the largest remainders (lower
 *  layer first on ties), so every layer together keeps exactly L·ceil(C/b) blocks — the same
 *  as the uniform policies. The quality evaluation compares policies at equal achieved ratios; the plain
 *  rounding kept 6.7% more KVs at C = 48, b = 8, L = 5. beta = 20 in PyramidKV. */
export function pyramidLayerCaps(capTokens: i32, beta: i32): void {
  if (numLayers == 1) {
    uniformLayerCaps(capTokens);
    return;
  }
  const b = <f64>blockSize;
  const totalBlocks = <i64>numLayers * (<i64>capBlocks(capTokens));
  const minCap = <f64>capTokens / <f64>beta;
  const maxCap = 2.0 * <f64>capTokens - minCap;
  const step = (maxCap - minCap) / <f64>(numLayers - 1);
  let used: i64 = 0;
  for (let l = 0; l < numLayers; l++) {
    const blocks = <i64>Math.floor((maxCap - <f64>l * step) / b);
    store<i32>(layerCapsPtr + (<usize>l << 2), <i32>blocks); // blocks for now, tokens below
    used += blocks;
  }
  for (let left = totalBlocks - used; left > 0; left--) {
    let best = 0;
    let bestGap = -Infinity;
    for (let l = 0; l < numLayers; l++) {
      const gap = (maxCap - <f64>l * step) / b - <f64>load<i32>(layerCapsPtr + (<usize>l << 2));
      if (gap > bestGap) { bestGap = gap; best = l; }
    }
    const p = layerCapsPtr + (<usize>best << 2);
    store<i32>(p, load<i32>(p) + 1);
  }
  for (let l = 0; l < numLayers; l++) {
    const p = layerCapsPtr + (<usize>l << 2);
    const cap = <i64>load<i32>(p) * <i64>blockSize;
    store<i32>(p, cap > <i64>i32.MAX_VALUE ? i32.MAX_VALUE : <i32>cap);
  }
}

/** KVs of a sequence of `seqLen` tokens that are never evicted: the last `protectedWindow`
 *  positions and the first `sinks` (CONTRACTS.md, Protection). */
@inline export function protectedCount(seqLen: i32, protectedWindow: i32, sinks: i32): i32 {
  const recent = protectedWindow < seqLen ? protectedWindow : seqLen;
  const older = seqLen - recent;
  return recent + (sinks < older ? sinks : older);
}

/** Most blocks one head can free when `protectedKvs` of its KVs are protected: the e with
 *  (e−1)·b + a ≤ ctxLen − protected, i.e. blocks − ceil(protected / b), floored at 0.
 *  This equals the number of finite chunk keys the GPU produces for that head. */
@inline export function maxFreeableBlocks(ctxLen: i32, protectedKvs: i32): i32 {
  const prot = protectedKvs < ctxLen ? protectedKvs : ctxLen;
  const e = blocksFor(ctxLen) - blocksFor(prot);
  return e > 0 ? e : 0;
}

/** Upper bound on the blocks a kvcompress pass can free from `seqId` under protection. */
export function seqMaxFreeable(seqId: i32, protectedWindow: i32, sinks: i32): i32 {
  const prot = protectedCount(seqLenAt(seqId), protectedWindow, sinks);
  let total = 0;
  for (let l = 0; l < numLayers; l++) {
    for (let h = 0; h < numKvHeads; h++) {
      total += maxFreeableBlocks(ctxLenAt(headRow(l, seqId, h)), prot);
    }
  }
  return total;
}
