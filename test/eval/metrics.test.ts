// Metrics against hand-computed tiny cases. Every expected value is derived in the comment
// above it from the probabilities, not from the code under test.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { MetricAccumulator, argmax, klDivergence, klFromLogProbs, logSoftmax, nll, scorePredictions } from "../../src/eval/metrics";

const t = suite("eval metrics");
const LN2 = Math.log(2);
const LN3 = Math.log(3);
const close = (got: number, want: number, tol = 1e-6, msg = "") =>
  assert.ok(Math.abs(got - want) <= tol, `${msg} got ${got}, want ${want}`);
const f32 = (xs: number[]) => Float32Array.from(xs);

t("log-softmax of [0, 0] is [−ln2, −ln2]; shifted by 100 it is the same", () => {
  const a = logSoftmax(f32([0, 0]));
  close(a[0], -LN2, 1e-12);
  close(a[1], -LN2, 1e-12);
  const b = logSoftmax(f32([100, 100]));
  close(b[0], -LN2, 1e-12);
});

t("log-softmax does not overflow and handles −∞ (masked) logits", () => {
  // [1000, 0]: p0 = 1/(1+e^-1000) ≈ 1 → log p0 ≈ 0, log p1 ≈ −1000.
  const a = logSoftmax(f32([1000, 0]));
  close(a[0], 0, 1e-12);
  close(a[1], -1000, 1e-9);
  const b = logSoftmax(f32([0, -Infinity]));
  assert.is(b[0], 0);
  assert.is(b[1], -Infinity);
});

t("log-softmax rejects NaN and +∞ logits", () => {
  assert.throws(() => logSoftmax(f32([0, NaN])), /logits\[1\]/);
  assert.throws(() => logSoftmax(f32([Infinity, 0])), /logits\[0\]/);
});

t("NLL: logits [0, ln3] give p = [1/4, 3/4]; NLL(1) = ln(4/3), NLL(0) = ln 4", () => {
  close(nll(f32([0, LN3]), 1), Math.log(4 / 3)); // 0.28768…
  close(nll(f32([0, LN3]), 0), Math.log(4)); // 1.38629…
});

t("KL([1/2,1/2] ‖ [1/4,3/4]) = ½ln2 + ½ln(2/3) = ½ln(4/3); reversed = ¼ln½ + ¾ln(3/2)", () => {
  close(klDivergence(f32([0, 0]), f32([0, LN3])), 0.5 * Math.log(4 / 3)); // 0.143841
  close(klDivergence(f32([0, LN3]), f32([0, 0])), 0.25 * Math.log(0.5) + 0.75 * Math.log(1.5)); // 0.130812
});

t("KL([1/4,1/2,1/4] ‖ uniform 1/3) = ½ln(3/4) + ½ln(3/2) = ½ln(9/8)", () => {
  // p = [1,2,1]/4 from logits [0, ln2, 0]; Σ p ln(3p) = 2·¼·ln(3/4) + ½·ln(3/2).
  close(klDivergence(f32([0, LN2, 0]), f32([7, 7, 7])), 0.5 * Math.log(9 / 8)); // 0.058892
});

t("KL with zero-probability tokens: p = [1, 0] vs q = [½, ½] is ln2; reversed is +∞", () => {
  close(klDivergence(f32([0, -Infinity]), f32([0, 0])), LN2, 1e-12);
  assert.is(klDivergence(f32([0, 0]), f32([0, -Infinity])), Infinity);
});

t("KL is 0 for identical rows and ≥ 0 for 200 random pairs (vocab 512)", () => {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 20 - 10;
  for (let k = 0; k < 200; k++) {
    const a = Float32Array.from({ length: 512 }, rand);
    const b = Float32Array.from({ length: 512 }, rand);
    assert.is(klDivergence(a, a), 0);
    assert.ok(klDivergence(a, b) > 0, `pair ${k}`);
    // Near-identical rows: KL small but never negative.
    const c = a.map((x, i) => (i === 7 ? x + 1e-3 : x));
    assert.ok(klDivergence(a, c) >= 0);
  }
});

t("klFromLogProbs rejects rows of different vocabularies", () => {
  assert.throws(() => klFromLogProbs(new Float64Array(3), new Float64Array(4)), /logQ\.length/);
});

t("argmax breaks ties by the lower id", () => {
  assert.is(argmax([1, 3, 3]), 1);
  assert.is(argmax([5, 5, 5]), 0);
  assert.is(argmax([-Infinity, -2, -1]), 2);
});

t("scorePredictions: two predictions, sums computed by hand", () => {
  // Full rows: [0,0] → p=[½,½] (argmax 0 by the tie rule), [0,ln3] → [¼,¾] (argmax 1).
  // Policy rows: [0,ln3] twice → q=[¼,¾] (argmax 1). Targets [1, 1].
  // NLL sum = 2·ln(4/3); KL sum = ½ln(4/3) + 0; top-1 agrees only on the second row → 1.
  const full = [f32([0, 0]), f32([0, LN3])].map((r) => logSoftmax(r));
  const s = scorePredictions(full, [f32([0, LN3]), f32([0, LN3])], [1, 1]);
  assert.is(s.numPredictions, 2);
  close(s.nll, 2 * Math.log(4 / 3));
  close(s.kl, 0.5 * Math.log(4 / 3));
  assert.is(s.top1, 1);
});

t("scorePredictions rejects mismatched row counts and out-of-vocabulary targets", () => {
  const full = [logSoftmax(f32([0, 0]))];
  assert.throws(() => scorePredictions(full, [], [0]), /policy rows/);
  assert.throws(() => scorePredictions(full, [f32([0, 0])], [2]), /targetIds\[0\]/);
});

t("MetricAccumulator averages over predictions across windows", () => {
  // Window 1: 2 predictions, NLL sum 2, KL sum 0.5, top1 2. Window 2: 2 predictions, NLL sum 4, KL sum 0.1, top1 1.
  // Means over 4 predictions: NLL 6/4 = 1.5, KL 0.6/4 = 0.15, top1 3/4.
  const acc = new MetricAccumulator();
  acc.add({ numPredictions: 2, nll: 2, kl: 0.5, top1: 2 });
  acc.add({ numPredictions: 2, nll: 4, kl: 0.1, top1: 1 });
  const m = acc.mean();
  assert.is(m.numWindows, 2);
  assert.is(m.numPredictions, 4);
  close(m.nll, 1.5, 1e-12);
  close(m.kl, 0.15, 1e-12);
  close(m.top1, 0.75, 1e-12);
  assert.ok(Number.isNaN(new MetricAccumulator().mean().kl));
});

t.run();
