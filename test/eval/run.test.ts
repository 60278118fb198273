// The eval loop with a fake WindowRunner: proves the wiring (full reused per window, every
// (policy, ratio) scored against it, achieved ratio and heatmap bookkeeping) without a model.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { evalProgressTo, runEval, type EvalOptions, type EvalProgress, type PolicyRun, type WindowRunner } from "../../src/eval/run";
import { checkHarness } from "../../src/eval/check";

const t = suite("eval loop");
const close = (got: number, want: number, tol = 1e-9, msg = "") =>
  assert.ok(Math.abs(got - want) <= tol, `${msg} got ${got}, want ${want}`);

const L = 2, H = 3; // fake model: 2 layers × 3 KV heads
const VOCAB = 16;

/** Logits of a deterministic fake model: depend on the position and the token there. */
function fakeRow(window: Int32Array, pos: number): Float32Array {
  const row = new Float32Array(VOCAB);
  for (let v = 0; v < VOCAB; v++) row[v] = Math.sin(0.7 * v + 0.3 * pos + 0.11 * window[pos]) * 3;
  return row;
}

/**
 * Policy "noisy" perturbs logits more as R grows (≈ what eviction does); "full", and every
 * policy at R = 1, returns full's rows exactly. Kept KVs: floor(P/R) per head, window-dependent
 * +1 on head [0][0] of odd windows so the heatmap average is a real average.
 */
class FakeRunner implements WindowRunner {
  fullCalls = 0;
  policyCalls: string[] = [];
  async runFull(window: Int32Array, prefix: number): Promise<Float32Array[]> {
    this.fullCalls++;
    const rows: Float32Array[] = [];
    for (let pos = prefix - 1; pos <= window.length - 2; pos++) rows.push(fakeRow(window, pos));
    return rows;
  }
  modes = new Set<string>();
  async runPolicy(window: Int32Array, prefix: number, policy: string, ratio: number, mode: "once" | "continual"): Promise<PolicyRun> {
    this.policyCalls.push(`${policy}@${ratio}`);
    this.modes.add(mode);
    const rows = await this.runFull(window, prefix);
    this.fullCalls--; // internal reuse, not a full-cache run of the loop
    const noise = policy === "full" ? 0 : 1 - 1 / ratio;
    const logits = rows.map((r, k) => r.map((x, v) => x + noise * Math.cos(3.1 * v + k)));
    const odd = window[1] % 2 === 1 ? 1 : 0;
    const perHead = ratio === 1 ? prefix : Math.floor(prefix / ratio);
    const keptPerHead = Array.from({ length: L }, (_, l) => Array.from({ length: H }, (_, h) => perHead + (l === 0 && h === 0 && ratio > 1 ? odd : 0)));
    const kept = keptPerHead.flat().reduce((a, b) => a + b, 0);
    return { logits, keptPrefixKvs: kept, totalPrefixKvs: prefix * L * H, keptPerHead };
  }
}

const baseOpts = (over: Partial<EvalOptions> = {}): EvalOptions => ({
  model: "fake", text: "fake.txt",
  tokenIds: Array.from({ length: 100 }, (_, i) => (i * 7) % VOCAB),
  bosId: 1, windowTokens: 16, prefixTokens: 8, numWindows: 4,
  policies: ["full", "noisy"], ratios: [1, 2, 8], mode: "once", heatmap: { policy: "noisy", ratio: 8 },
  ...over,
});

t("attention-mass recall: kept mass over all prefix mass per head, averaged over windows; klSe over windows", async () => {
  // Window w: head [l][h] puts mass p + 1 on prefix position p (P = 8: total 36) and keeps
  // n = h + 1 + (w % 2) positions: the last n (heaviest) in layer 0, the first n (lightest) in layer 1.
  const runner = new FakeRunner();
  let w = -1;
  const withMass: WindowRunner = {
    runFull: (win, p) => { w++; return runner.runFull(win, p); },
    runFutureMass: async (_win, p) => Array.from({ length: L }, () => Array.from({ length: H }, () => Float64Array.from({ length: p }, (_, i) => i + 1))),
    runPolicy: async (win, p, policy, ratio, mode, withPositions) => {
      const run = await runner.runPolicy(win, p, policy, ratio, mode);
      assert.is(withPositions, true);
      const keptPositions = Array.from({ length: L }, (_, l) => Array.from({ length: H }, (_, h) =>
        Uint32Array.from({ length: h + 1 + (w % 2) }, (_, i) => (l === 0 ? p - 1 - i : i))));
      return { ...run, keptPositions };
    },
  };
  const r = await runEval(baseOpts({ policies: ["noisy"], ratios: [2], numWindows: 2, recall: true }), withMass);
  const row = r.results[0];
  // head 0: even window keeps {7} = 8/36, odd keeps {7, 6} = 15/36; head 1: 15/36, 21/36; head 2: 21/36, 26/36
  // layer 1 keeps {0} = 1/36, {0, 1} = 3/36, …; the oracle keeps layer 0's sets in both layers
  const want = [[(8 + 15) / 72, (15 + 21) / 72, (21 + 26) / 72], [(1 + 3) / 72, (3 + 6) / 72, (6 + 10) / 72]];
  for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) close(row.recall!.perHead[l][h], want[l][h], 1e-12, `[${l}][${h}]`);
  const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
  close(row.recall!.mean, mean(want.flat()), 1e-12);
  close(row.recall!.oracleMean, mean(want[0]), 1e-12, "oracle");
  const [a, b] = row.klPerWindow;
  close(row.klSe, Math.abs(a - b) / 2, 1e-12, "se of two windows = |a − b| / 2");
});

t("full vs itself and every policy at R = 1: KL 0, top-1 1, ΔNLL 0, all KVs kept", async () => {
  const r = await runEval(baseOpts(), new FakeRunner());
  for (const row of r.results.filter((x) => x.ratio === 1)) {
    assert.is(row.kl, 0, row.policy);
    assert.is(row.top1, 1, row.policy);
    assert.is(row.deltaNll, 0, row.policy);
    assert.is(row.achievedRatio, 1, row.policy);
    assert.is(row.nll, r.fullNll);
  }
  assert.equal(r.results.filter((x) => x.policy === "full").map((x) => x.ratio), [1]); // full: one row only
});

t("compressed rows: KL > 0, grows with R; achievedRatio is the kept fraction ≈ 1/R", async () => {
  const r = await runEval(baseOpts(), new FakeRunner());
  const at = (ratio: number) => r.results.find((x) => x.policy === "noisy" && x.ratio === ratio)!;
  assert.ok(at(2).kl > 0 && at(8).kl > at(2).kl);
  assert.ok(at(8).top1 <= 1);
  // R = 8: 1 KV of 8 per head (6 heads → 6 of 48), plus 1 on head [0][0] in odd windows.
  // Windows start with text tokens 0, 15·7 % 16 = 9, 30·7 % 16 = 2, 45·7 % 16 = 11 → odd in windows 2 and 4.
  // Per window: 6/48, 7/48, 6/48, 7/48 → mean 26/192.
  close(at(8).achievedRatio, 26 / 192, 1e-12);
  assert.equal(r.keptPerHead?.kept, [[1.5, 1, 1], [1, 1, 1]]);
  assert.is(r.keptPerHead?.fullKvsPerHead, 8);
});

t("even R = 2: odd windows add 1 to head [0][0] too", async () => {
  // 4 of 8 per head → 24/48 on even windows, 25/48 on odd → mean (24+25+24+25)/192 = 98/192.
  const r = await runEval(baseOpts(), new FakeRunner());
  close(r.results.find((x) => x.policy === "noisy" && x.ratio === 2)!.achievedRatio, 98 / 192, 1e-12);
});

t("full is run once per window and reused; every (policy, ratio) once per window", async () => {
  const runner = new FakeRunner();
  const r = await runEval(baseOpts(), runner);
  assert.is(r.windows, 4); // floor(100 / 15) = 6 available, 4 asked
  assert.is(runner.fullCalls, 4);
  assert.is(runner.policyCalls.length, 4 * (1 + 3)); // full@1 + noisy@{1,2,8}
  assert.is(r.tokens, 4 * 15);
  assert.is(r.predictions, 4 * 8);
  assert.equal([...runner.modes], ["once"]);
  const continual = new FakeRunner();
  assert.is((await runEval(baseOpts({ mode: "continual", numWindows: 1 }), continual)).mode, "continual");
  assert.equal([...continual.modes], ["continual"]);
});

t("hand-computed loop: full p = [½,½], policy q = [¼,¾], every target 1", async () => {
  // Vocab 2, every target token is 1. Full NLL = ln2; policy NLL = ln(4/3) → ΔNLL = −ln(3/2);
  // KL = ½ln(4/3) per prediction; full's argmax is 0 (tie → lower id), the policy's is 1 → top-1 0.
  const runner: WindowRunner = {
    async runFull(w, p) { return Array.from({ length: w.length - p }, () => Float32Array.of(0, 0)); },
    async runPolicy(w, p) {
      return { logits: Array.from({ length: w.length - p }, () => Float32Array.of(0, Math.log(3))), keptPrefixKvs: 1, totalPrefixKvs: 4, keptPerHead: [[1]] };
    },
  };
  const r = await runEval(baseOpts({ tokenIds: new Array(30).fill(1), bosId: 0, policies: ["skew"], ratios: [4], heatmap: { policy: "skew", ratio: 4 } }), runner);
  const row = r.results[0];
  close(r.fullNll, Math.log(2), 1e-7);
  close(row.nll, Math.log(4 / 3), 1e-7);
  close(row.deltaNll, -Math.log(1.5), 1e-7);
  close(row.kl, 0.5 * Math.log(4 / 3), 1e-7);
  assert.is(row.top1, 0);
  assert.is(row.achievedRatio, 0.25);
  assert.is(row.bytes, 0.25, "no bytesRelF16 from the runner: f16, the kept fraction");
  assert.is(r.windows, 2); // floor(30 / 15)
});

t("bytes: the mean of the runner's bytesRelF16 over windows", async () => {
  let calls = 0;
  const runner: WindowRunner = {
    async runFull(w, p) { return Array.from({ length: w.length - p }, () => Float32Array.of(0, 0)); },
    async runPolicy(w, p) {
      // window 1: 0.1, window 2: 0.3 of the f16 full cache's bytes → mean 0.2
      const bytesRelF16 = calls++ === 0 ? 0.1 : 0.3;
      return { logits: Array.from({ length: w.length - p }, () => Float32Array.of(0, 0)), keptPrefixKvs: 1, totalPrefixKvs: 4, keptPerHead: [[1]], bytesRelF16 };
    },
  };
  const r = await runEval(baseOpts({ tokenIds: new Array(30).fill(1), bosId: 0, policies: ["q"], ratios: [4], heatmap: { policy: "q", ratio: 4 } }), runner);
  close(r.results[0].bytes, 0.2, 1e-12);
});

t("progress: monotonic tokens, ends at the total with every window done", async () => {
  const events: EvalProgress[] = [];
  await runEval(baseOpts({ numWindows: 2 }), new FakeRunner(), (p) => events.push(p));
  assert.is(events.length, 2 * (1 + 4));
  for (let i = 1; i < events.length; i++) assert.ok(events[i].tokensDone > events[i - 1].tokensDone);
  const last = events[events.length - 1];
  assert.is(last.tokensDone, last.tokensTotal);
  assert.is(last.windowsDone, 2);
  assert.is(last.step, "window 2/2 noisy@8");
});

t("runner mistakes and bad options are named errors", async () => {
  const short: WindowRunner = { ...new FakeRunner(), async runFull() { return []; }, runPolicy: new FakeRunner().runPolicy };
  await assertRejects(() => runEval(baseOpts(), short), /runFull rows/);
  const liar = new FakeRunner();
  liar.runPolicy = async (w, p) => ({ logits: await new FakeRunner().runFull(w, p), keptPrefixKvs: 99, totalPrefixKvs: 48, keptPerHead: [] });
  await assertRejects(() => runEval(baseOpts(), liar), /keptPrefixKvs/);
  await assertRejects(() => runEval(baseOpts({ prefixTokens: 16 }), new FakeRunner()), /prefixTokens/);
  await assertRejects(() => runEval(baseOpts({ ratios: [0.5] }), new FakeRunner()), /ratios/);
  await assertRejects(() => runEval(baseOpts({ tokenIds: [1, 2, 3] }), new FakeRunner()), /tokenIds/);
});

t("checkHarness: the fake passes; a broken ratio-1 row, a miscounted ratio and a zero KL are reported", async () => {
  const r = await runEval(baseOpts({ ratios: [1, 2] }), new FakeRunner());
  assert.equal(checkHarness(r), []);
  const bad = structuredClone(r);
  bad.results.find((x) => x.policy === "noisy" && x.ratio === 1)!.kl = 0.01;
  const two = bad.results.find((x) => x.ratio === 2)!;
  two.achievedRatio = 0.25;
  bad.results.push({ ...two, ratio: 8, achievedRatio: 0.125, kl: 0 });
  const problems = checkHarness(bad);
  assert.is(problems.length, 3, problems.join("\n"));
  assert.match(problems[0], /^noisy@1: KL 0\.01 should be 0/);
  assert.match(problems[1], /^noisy@2: kept 0\.2500 of the KVs, want 0\.5000/);
  assert.match(problems[2], /^noisy@8: KL 0 should be > 0/);
});

t("evalProgressTo feeds a progress bar tokens, total and the window count", async () => {
  const seen: string[] = [];
  const onProgress = evalProgressTo({ update: (done, extra) => void seen.push(`${done}/${extra?.total} ${extra?.detail}`) });
  await runEval(baseOpts({ numWindows: 1, policies: ["noisy"], ratios: [2] }), new FakeRunner(), onProgress);
  assert.equal(seen, ["16/32 0/1 windows  window 1/1 full", "32/32 1/1 windows  window 1/1 noisy@2"]);
});

async function assertRejects(fn: () => Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await fn();
  } catch (err) {
    assert.match((err as Error).message, re);
    return;
  }
  assert.unreachable(`expected a rejection matching ${re}`);
}

t.run();
