// Budgets (docs/METHOD.md §2.4), admission, the compress-or-preempt decision, stats and the
// memory views. Every expected number is worked by hand in the comment beside it.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import controlWasm from "kvcompress:wasm/control";
import { ControlPlane, type ControlPlaneConfig } from "../../src/control/plane";
import { InvalidArgumentError } from "../../src/errors";

const plane = (over: Partial<ControlPlaneConfig> = {}) =>
  ControlPlane.createSync(controlWasm, { numLayers: 2, numKvHeads: 2, blockSize: 4, numBlocks: 40, maxSeqs: 3, maxBlocksPerHead: 8, bytesPerBlock: 100, ...over });

const budget = suite("budgets");

budget("max-tokens mode: E = allocated − ceil(C/b)·L·H, partial blocks count whole", () => {
  const cp = plane();
  const s = cp.addSequence();
  cp.reserve(s, 10); // 3 blocks in each of 2·2 heads = 12
  assert.is(cp.budgetMaxTokens(s, 0), 12);
  assert.is(cp.budgetMaxTokens(s, 5), 4); // ceil(5/4) = 2 per head → 8 allowed
  assert.is(cp.budgetMaxTokens(s, 8), 4);
  assert.is(cp.budgetMaxTokens(s, 9), 0); // 3 per head → 12 allowed
  assert.is(cp.budgetMaxTokens(s, 1000), 0);
  assert.is(cp.budgetMaxTokens(s, 2 ** 31 - 1), 0); // "no limit" must not overflow to a huge E
});

budget("ratio mode: C = max(minTokens, floor_b(P/R − 1))", () => {
  const cp = plane({ blockSize: 16 });
  assert.is(cp.capTokensForRatio(6000, 64, 128), 128); // 93.75 − 1 → 92 → 80 → floor 128 (≈ 47×)
  assert.is(cp.capTokensForRatio(6000, 8, 128), 736); // 750 − 1 = 749 → 736
  assert.is(cp.capTokensForRatio(100, 1, 0), 96); // 99 → 96
  assert.is(cp.capTokensForRatio(300, 1.5, 0), 192); // 200 − 1 = 199 → 192
  assert.is(cp.capTokensForRatio(10, 64, 0), 0); // 0.15 − 1 < 0 → 0
  assert.throws(() => cp.capTokensForRatio(100, 0.5), (e: unknown) => e instanceof InvalidArgumentError);
  const s = cp.addSequence();
  cp.reserve(s, 100); // 7 blocks per head, 28 in all; P = seqLen = 100
  // R = 2: 50 − 1 = 49 → 48 → 3 blocks per head → E = 28 − 12 = 16
  assert.equal(cp.budgetRatio(s, 2, 0), { capTokens: 48, blocks: 16 });
});

budget("pyramid caps: linear from 2C − C/β down to C/β, whole blocks, L·ceil(C/b) blocks in all", () => {
  const cp = plane({ numLayers: 4 });
  // C = 100, b = 4, β = 20: min 5, max 195, step 63.33 → 195, 131.67, 68.33, 5 tokens
  // = 48.75, 32.92, 17.08, 1.25 blocks → floors 48 32 17 1 (98 of 4·25 = 100); the 2 left go to
  // the largest remainders, layer 1 (.92) then layer 0 (.75) → 49 33 17 1 blocks.
  assert.equal(Array.from(cp.pyramidLayerCaps(100, 20)), [196, 132, 68, 4]);
  const five = plane({ numLayers: 5, blockSize: 8 });
  // C = 48, b = 8: 93.6 70.8 48 25.2 2.4 tokens = 11.7 8.85 6 3.15 0.3 blocks → 11 8 6 3 0,
  // then +1 to layer 1 (.85) and layer 0 (.7): 12 9 6 3 0 = 30 = 5·6 blocks.
  assert.equal(Array.from(five.pyramidLayerCaps(48, 20)), [96, 72, 48, 24, 0]);
  assert.equal(Array.from(cp.uniformLayerCaps(7)), [7, 7, 7, 7]);
  // C = 2^31 − 1, β = 1: min = max = C → every layer C (no i32 overflow in 2C)
  assert.equal(Array.from(cp.pyramidLayerCaps(2 ** 31 - 1, 1)), [2 ** 31 - 1, 2 ** 31 - 1, 2 ** 31 - 1, 2 ** 31 - 1]);
});

budget("maxFreeableBlocks: blocks − ceil(protected/b) per head", () => {
  const cp = plane();
  const s = cp.addSequence();
  cp.reserve(s, 10); // 3 blocks per head
  assert.is(cp.maxFreeableBlocks(s, 0), 12);
  assert.is(cp.maxFreeableBlocks(s, 3), 8); // 3 protected → 1 block kept per head
  assert.is(cp.maxFreeableBlocks(s, 3, 2), 4); // 5 protected → 2 kept per head
  assert.is(cp.maxFreeableBlocks(s, 32), 0);
});

budget.run();

// Pressure (compress or refuse) is KvCache.reserve's decision: test/sdk/regressions.test.ts.
const admit = suite("admission");

admit("canAdmit: ceil(P/b)·L·H blocks, with the numbers", () => {
  const cp = plane({ numBlocks: 20 });
  assert.equal(cp.canAdmit(10), { ok: true, blocksNeeded: 12, blocksFree: 20, hasSeqSlot: true, everFits: true });
  assert.equal(cp.canAdmit(21), { ok: false, blocksNeeded: 24, blocksFree: 20, hasSeqSlot: true, everFits: false });
  const s = cp.addSequence();
  cp.reserve(s, 12); // 12 blocks taken, 8 free
  assert.equal(cp.canAdmit(9), { ok: false, blocksNeeded: 12, blocksFree: 8, hasSeqSlot: true, everFits: true });
});

admit.run();

const stats = suite("stats and views");

stats("bytes in use vs uncompressed", () => {
  const cp = plane({ numLayers: 1 });
  const s = cp.addSequence();
  cp.reserve(s, 10); // 3 blocks × 2 heads
  cp.freeTailBlocks(s, 0, 0, 2); // head 0 keeps 1 block
  const st = cp.stats();
  assert.is(st.blocksInUse, 4);
  assert.is(st.freeBlocks, 36);
  assert.equal(Array.from(st.blocksPerSeq), [4, 0, 0]);
  assert.is(st.bytesInUse, 400);
  assert.is(st.bytesUncompressed, 600); // seqLen 10 → 3 blocks per head
});

stats("views survive memory growth (detached buffers are replaced)", () => {
  const cp = plane();
  const s = cp.addSequence();
  cp.reserve(s, 5);
  const old = cp.blockTables;
  cp.memory.grow(1);
  assert.is(old.length, 0); // the old view is detached
  const fresh = cp.blockTables;
  assert.is(fresh.length, 2 * 3 * 2 * 8);
  assert.equal(Array.from(fresh.subarray(0, 3)), [0, 1, -1]);
  assert.is(cp.ctxLens[0], 5);
});

stats.run();
