// The per-sequence step state the control plane owns (assembly/steps.ts): what reserveStep,
// markAppended and endStep leave in it, when a pass is due, and how planMoves counts passes.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import controlWasm from "kvcompress:wasm/control";
import { ControlPlane, type ControlPolicy } from "../../src/control/plane";
import { InvalidArgumentError } from "../../src/errors";

const plane = () =>
  ControlPlane.createSync(controlWasm, { numLayers: 2, numKvHeads: 2, blockSize: 4, numBlocks: 40, maxSeqs: 3, maxBlocksPerHead: 8, bytesPerBlock: 100 });
const policy = (over: Partial<ControlPolicy> = {}): ControlPolicy =>
  ({ budget: { kind: "tokens", maxTokensPerHead: 4 }, protectedWindow: 0, sinks: 0, trigger: "prefill", ranking: "global", pyramidBeta: 20, ...over });

const steps = suite("step state");

steps("reserveStep → markAppended → endStep, and a fresh state for a reused slot", () => {
  const cp = plane();
  cp.setPolicy(policy());
  const a = cp.addSequence();
  assert.equal(cp.stepOf(a), { numNew: 0, prefilling: true, promptTokens: 0, passes: 0, evictedKvs: 0, numAppended: 0 });
  assert.ok(cp.reserveStep(a, 10));
  cp.markAppended(a, 1);
  cp.markAppended(a, 1); // once per layer
  assert.equal(cp.stepOf(a), { numNew: 10, prefilling: true, promptTokens: 0, passes: 0, evictedKvs: 0, numAppended: 1 });
  assert.is(cp.isAppended(a, 0), false);
  assert.is(cp.isAppended(a, 1), true);
  assert.is(cp.isBetweenSteps(a), false);
  assert.is(cp.endStep(a), true); // the prompt ended and the policy has a budget: a pass is due
  assert.equal(cp.stepOf(a), { numNew: 0, prefilling: false, promptTokens: 10, passes: 0, evictedKvs: 0, numAppended: 1 });
  assert.is(cp.isBetweenSteps(a), true);
  assert.ok(cp.reserveStep(a, 1));
  assert.is(cp.stepOf(a).numAppended, 0); // a new step clears the appended layers
  assert.is(cp.isAppended(a, 1), false);
  // trigger "prefill": a decode step is never due; 11 tokens = 3 blocks per head > ceil(4/4) = 1.
  assert.is(cp.endStep(a), false);
  cp.setPolicy(policy({ trigger: "continual" }));
  assert.is(cp.seqBudgetBlocks(a), 8); // 12 held − 1·2·2 allowed
  cp.reserveStep(a, 1);
  assert.is(cp.endStep(a), true);
  cp.setPolicy(policy({ budget: null, trigger: "continual" }));
  cp.reserveStep(a, 1);
  assert.is(cp.endStep(a), false); // no budget, never due
  cp.removeSequence(a);
  assert.is(cp.addSequence(), a);
  assert.equal(cp.stepOf(a), { numNew: 0, prefilling: true, promptTokens: 0, passes: 0, evictedKvs: 0, numAppended: 0 });
  assert.throws(() => cp.markAppended(a, 0), (e: unknown) => e instanceof InvalidArgumentError); // nothing reserved
});

steps("cancelStep and rewindSteps undo decode reserves exactly: free ring, tables, lengths", () => {
  const cp = plane();
  cp.setPolicy(policy({ budget: null }));
  const a = cp.addSequence(), b = cp.addSequence();
  cp.reserveStep(a, 7); cp.endStep(a); // prompt of 7: 2 blocks per head
  cp.reserveStep(b, 3); cp.endStep(b);
  const snap = () => ({ free: cp.freeBlockIds(), ctx: [...cp.ctxLens], tables: [...cp.blockTables], seqLen: cp.seqLens[a], step: cp.stepOf(a) });
  const before = snap();
  // Tokens 8 (fills block 2) and 9 (a new block in every head), then an open step for token 10.
  cp.reserveStep(a, 1); cp.endStep(a);
  cp.reserveStep(a, 1); cp.endStep(a);
  cp.reserveStep(a, 1);
  assert.ok(cp.freeBlockIds().length < before.free.length);
  cp.cancelStep(a);
  cp.rewindSteps(a, 2);
  assert.equal(snap(), before);
  assert.throws(() => cp.cancelStep(a), (e: unknown) => e instanceof InvalidArgumentError); // nothing reserved
  assert.throws(() => cp.rewindSteps(a, 1), (e: unknown) => e instanceof InvalidArgumentError); // would reach into the prompt
  const c = cp.addSequence();
  cp.reserveStep(c, 2);
  assert.throws(() => cp.cancelStep(c), (e: unknown) => e instanceof InvalidArgumentError); // prefilling
});

steps("planMoves counts a pass that evicted something, per sequence and for the pool", () => {
  const cp = plane();
  const a = cp.addSequence(), b = cp.addSequence();
  cp.reserveStep(a, 10);
  cp.reserveStep(b, 5);
  // A pass over [b, a]: rows [layer, k, kvHead] = 8; head (layer 0, a, kvHead 1) evicts
  // {0, 2, 3, 5, 8, 9} (6 KVs), head (layer 1, b, kvHead 0) evicts {4} (1 KV).
  cp.setPass([b, a]);
  const offsets = cp.evictedOffsets(2), idx = cp.evictedIdx;
  offsets.set([0, 0, 0, 0, 6, 7, 7, 7, 7]);
  idx.set([0, 2, 3, 5, 8, 9, 4]);
  cp.planMoves();
  assert.is(cp.stepOf(a).passes, 1);
  assert.is(cp.stepOf(a).evictedKvs, 6);
  assert.is(cp.stepOf(b).passes, 1);
  assert.is(cp.stepOf(b).evictedKvs, 1);
  const st = cp.stats();
  assert.is(st.passes, 1);
  assert.is(st.evictedKvs, 7);
  assert.equal(st.sequences.map((s) => [s.seqId, s.keptKvs, s.passes, s.evictedKvs]), [[a, 40 - 6, 1, 6], [b, 20 - 1, 1, 1]]);
  // A pass that evicts nothing is not counted.
  cp.setPass([a]);
  cp.evictedOffsets(1).fill(0);
  cp.planMoves();
  assert.is(cp.stepOf(a).passes, 1);
  assert.is(cp.stats().passes, 1);
});

steps.run();
