// The evaluation loop of docs/METHOD.md §5: windows × policies × ratios against the full
// cache. The model is injected as a WindowRunner so this loop, its metrics and its bookkeeping
// are tested without a model, and the Llama runner plugs in unchanged on GPU or CPU.
import { InvalidArgumentError } from "../errors";
import { MetricAccumulator, logSoftmax, scorePredictions } from "./metrics";
import { cutWindows } from "./windows";

/** What a policy run returns for one window. */
export interface PolicyRun {
  /** T−P logits rows over the whole vocabulary, predicting tokens P … T−1 (same order as runFull). */
  logits: Float32Array[];
  /**
   * KVs kept, summed over all layers and KV heads. Mode `once`: the prefix KVs left right after
   * the one compression. Mode `continual`: the KVs in the cache after the last step.
   */
  keptPrefixKvs: number;
  /** The same count for the full cache: P·L·H (`once`), or (T−1)·L·H (`continual`, the last step's cache). */
  totalPrefixKvs: number;
  /** KVs kept per head, `[layer][kvHead]`, counted at the same moment as `keptPrefixKvs`. */
  keptPerHead: number[][];
  /** KV bytes in use (whole blocks, q8/q4 scales included) ÷ the bytes of the full cache stored
   *  in f16, at the same moment as `keptPrefixKvs`. Absent: f16 storage, keptPrefixKvs ÷ totalPrefixKvs. */
  bytesRelF16?: number;
  /** Mode `once` with recall asked for: the prefix positions each head kept after the compression, `[layer][kvHead]`. */
  keptPositions?: Uint32Array[][];
}

/** The model, as the evaluation loop sees it. One instance per model and backend. */
export interface WindowRunner {
  /** Full cache over the whole window: logits predicting tokens P..T−1 (rows for positions P−1..T−2). */
  runFull(window: Int32Array, prefix: number): Promise<Float32Array[]>;
  /**
   * Prefill P tokens, compress once (mode "once") or keep the budget while decoding ("continual"),
   * teacher-force tokens P..T−1; the prediction of token P comes from the prefill's last position
   * BEFORE compression. `ratio` R keeps 1/R of the prefix KVs; R = 1 must keep every KV.
   */
  runPolicy(window: Int32Array, prefix: number, policy: string, ratio: number, mode: "once" | "continual",
    withPositions?: boolean): Promise<PolicyRun>;
  /**
   * Full cache: the attention mass that the T − P queries making the predictions (positions
   * P−1 … T−2) put on each prefix KV, summed over the KV head's query group: `[layer][kvHead]`
   * f64 [P], indexed by position. Needed for attention-mass recall only.
   */
  runFutureMass?(window: Int32Array, prefix: number): Promise<Float64Array[][]>;
}

export interface EvalOptions {
  /** Labels copied into the result (model id or path, text file name). */
  model: string;
  text: string;
  /** The whole text, tokenized once without special tokens. */
  tokenIds: ArrayLike<number>;
  bosId: number;
  /** T, P, N of docs/METHOD.md §5. */
  windowTokens: number;
  prefixTokens: number;
  numWindows: number;
  /** Policies to compare; `full` gives one row at ratio 1 (the prefill+decode path vs the whole-window pass). */
  policies: readonly string[];
  /** Nominal ratios R ≥ 1. */
  ratios: readonly number[];
  mode: "once" | "continual";
  /** Which (policy, ratio) keeps its per-head counts for the heatmap. Default kvcompress at 8. */
  heatmap?: { policy: string; ratio: number };
  /** Mode once: also measure attention-mass recall per head (needs runner.runFutureMass). */
  recall?: boolean;
}

/** One row of the result. All means are over every prediction of every window. */
export interface EvalRow {
  policy: string;
  /** Nominal compression ratio R asked for (keep 1/R of the prefix KVs). */
  ratio: number;
  /**
   * FRACTION of KVs kept: KVs kept ÷ KVs of the full cache, over all layers and KV heads,
   * averaged over windows (docs/METHOD.md §5). ≈ 1/R: about 0.125 at R = 8; 1 means nothing evicted.
   * Smaller is more compression. The achieved compression factor is 1 / achievedRatio.
   */
  achievedRatio: number;
  /** Mean NLL of the true next token, nats. */
  nll: number;
  /** nll − full's nll (often negative on these models: judge by kl and top1, docs/METHOD.md §5). */
  deltaNll: number;
  /** Mean KL(full ‖ policy) over the whole vocabulary, nats. The ranking measure. */
  kl: number;
  /** Standard error of kl over windows (sd of the per-window means / √windows; 0 for one window). */
  klSe: number;
  /** Mean KL of each window, in window order (pair rows window by window to compare policies). */
  klPerWindow: number[];
  /** Fraction of predictions whose argmax (ties → lower id) equals full's, in [0, 1]. */
  top1: number;
  /** KV bytes in use ÷ the f16 full cache's bytes (whole blocks, scales included), averaged over
   *  windows: the x-axis users pay for (0.25 = a quarter of the f16 bytes). */
  bytes: number;
  /**
   * Attention-mass recall (with `recall`): the share of the full cache's attention mass, from the
   * queries making the predictions, on prefix KVs that the policy kept; per head `[layer][kvHead]`
   * and its mean over heads, both averaged over windows.
   */
  recall?: { mean: number; perHead: number[][]; oracleMean: number };
}

/** Mean KVs kept per head for one (policy, ratio), for the heatmap. */
export interface KeptPerHead {
  policy: string;
  ratio: number;
  /** `[layer][kvHead]` mean kept KVs over windows. */
  kept: number[][];
  /** Full-cache KVs of one head (totalPrefixKvs ÷ (L·H)): the heatmap's 100%. */
  fullKvsPerHead: number;
}

export interface EvalResult {
  model: string;
  text: string;
  /** Windows evaluated (may be fewer than asked when the text is short). */
  windows: number;
  /** Tokens of the text evaluated: windows × (T − 1), BOS not counted. */
  tokens: number;
  windowTokens: number;
  prefixTokens: number;
  /** Predictions behind every row: windows × (T − P). */
  predictions: number;
  mode: "once" | "continual";
  /** Mean NLL of the full cache over the same predictions, nats. */
  fullNll: number;
  results: EvalRow[];
  keptPerHead: KeptPerHead | null;
}

/** Progress after each runner call; tokens count T per call (a whole window pushed through the model). */
export interface EvalProgress {
  windowsDone: number;
  numWindows: number;
  tokensDone: number;
  tokensTotal: number;
  /** What just finished, e.g. `window 3/64 kvcompress@8`. */
  step: string;
}

/** Anything with the progress bar's `update` (src/cli/progress.ts), without importing the CLI. */
export interface ProgressTarget {
  update(done: number, extra?: { total?: number; detail?: string }): void;
}

/** Adapts runEval's progress events to a progress bar: tokens as the unit, windows and the step as detail. */
export function evalProgressTo(bar: ProgressTarget): (p: EvalProgress) => void {
  return (p) => bar.update(p.tokensDone, { total: p.tokensTotal, detail: `${p.windowsDone}/${p.numWindows} windows  ${p.step}` });
}

interface RowState {
  policy: string;
  ratio: number;
  metrics: MetricAccumulator;
  windowKl: number[];
  recallSum: number[][] | null;
  /** Σ over windows of the mean over heads of the best recall the same per-head counts allow. */
  oracleSum: number;
  keptFractionSum: number;
  bytesSum: number;
  keptSum: number[][] | null;
  fullKvsPerHeadSum: number;
}

/**
 * Runs the quality protocol: for every window, full once, then every (policy, ratio).
 * @throws InvalidArgumentError on bad options, too short a text, or a runner returning the
 *   wrong number of rows or inconsistent KV counts
 */
export async function runEval(
  opts: EvalOptions,
  runner: WindowRunner,
  onProgress: (p: EvalProgress) => void = () => {},
): Promise<EvalResult> {
  validate(opts);
  const T = opts.windowTokens;
  const P = opts.prefixTokens;
  const windows = cutWindows(opts.tokenIds, T, opts.numWindows, opts.bosId);
  if (windows.length === 0) {
    throw new InvalidArgumentError("tokenIds.length", opts.tokenIds.length, `must be ≥ T−1 = ${T - 1} for one window`);
  }
  // `full` vs itself needs no ratio sweep: one row at R = 1 is the harness check.
  const rows: RowState[] = [];
  for (const policy of opts.policies) {
    for (const ratio of policy === "full" ? [1] : opts.ratios) {
      rows.push({ policy, ratio, metrics: new MetricAccumulator(), windowKl: [], recallSum: null, oracleSum: 0, keptFractionSum: 0, bytesSum: 0, keptSum: null, fullKvsPerHeadSum: 0 });
    }
  }
  const heat = heatmapTarget(opts);
  const fullMetrics = new MetricAccumulator();
  const tokensTotal = windows.length * T * (1 + rows.length);
  let tokensDone = 0;

  for (let w = 0; w < windows.length; w++) {
    const window = windows[w];
    const targets = window.subarray(P, T);
    const fullRows = await runner.runFull(window, P);
    const mass = opts.recall && runner.runFutureMass ? await runner.runFutureMass(window, P) : null;
    checkRows("runFull", fullRows, T - P);
    // log-softmax of full once per window, reused by every (policy, ratio) of this window.
    const fullLogProbs = fullRows.map((r) => logSoftmax(r));
    fullMetrics.add(scorePredictions(fullLogProbs, fullRows, targets));
    tokensDone += T;
    onProgress({ windowsDone: w, numWindows: windows.length, tokensDone, tokensTotal, step: `window ${w + 1}/${windows.length} full` });

    for (const row of rows) {
      const run = await runner.runPolicy(window, P, row.policy, row.ratio, opts.mode, mass !== null);
      if (mass && run.keptPositions) addRecall(row, mass, run.keptPositions);
      const what = `runPolicy(${row.policy}, ${row.ratio})`;
      checkRows(what, run.logits, T - P);
      const sums = scorePredictions(fullLogProbs, run.logits, targets);
      row.metrics.add(sums);
      row.windowKl.push(sums.kl / sums.numPredictions);
      addKept(row, run, what, row.policy === heat.policy && row.ratio === heat.ratio);
      row.bytesSum += run.bytesRelF16 ?? run.keptPrefixKvs / run.totalPrefixKvs;
      tokensDone += T;
      onProgress({
        windowsDone: row === rows[rows.length - 1] ? w + 1 : w,
        numWindows: windows.length, tokensDone, tokensTotal,
        step: `window ${w + 1}/${windows.length} ${row.policy}@${row.ratio}`,
      });
    }
  }
  if (rows.length === 0) onProgress({ windowsDone: windows.length, numWindows: windows.length, tokensDone, tokensTotal, step: "done" });
  return summarize(opts, windows.length, fullMetrics.mean().nll, rows);
}

/** Adds one window's per-head recall: kept mass / all mass over the prefix (1 where a head has
 *  no mass), and the oracle's: the same number of KVs per head, chosen by the future mass itself. */
function addRecall(row: RowState, mass: Float64Array[][], kept: Uint32Array[][]): void {
  row.recallSum ??= mass.map((layer) => layer.map(() => 0));
  let oracle = 0, numHeads = 0;
  for (let l = 0; l < mass.length; l++) for (let h = 0; h < mass[l].length; h++) {
    const m = mass[l][h];
    let all = 0, got = 0, best = 0;
    for (let p = 0; p < m.length; p++) all += m[p];
    let n = 0;
    for (const p of kept[l][h]) if (p < m.length) { got += m[p]; n++; }
    const top = Array.from(m).sort((a, b) => b - a);
    for (let i = 0; i < n; i++) best += top[i];
    row.recallSum[l][h] += all > 0 ? got / all : 1;
    oracle += all > 0 ? best / all : 1;
    numHeads++;
  }
  row.oracleSum += oracle / numHeads;
}

function recallOf(sum: number[][], oracleSum: number, numWindows: number): { mean: number; perHead: number[][]; oracleMean: number } {
  const perHead = sum.map((layer) => layer.map((v) => v / numWindows));
  const flat = perHead.flat();
  return { mean: flat.reduce((a, x) => a + x, 0) / flat.length, perHead, oracleMean: oracleSum / numWindows };
}

/** sd / √n of per-window means (n − 1 in the variance); 0 below two windows. */
export function standardError(xs: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mean = xs.reduce((a, x) => a + x, 0) / n;
  const v = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1);
  return Math.sqrt(v / n);
}

function summarize(opts: EvalOptions, numWindows: number, fullNll: number, rows: RowState[]): EvalResult {
  const results: EvalRow[] = rows.map((r) => {
    const m = r.metrics.mean();
    return {
      policy: r.policy, ratio: r.ratio, achievedRatio: r.keptFractionSum / numWindows, nll: m.nll, deltaNll: m.nll - fullNll,
      kl: m.kl, klSe: standardError(r.windowKl), klPerWindow: r.windowKl, top1: m.top1, bytes: r.bytesSum / numWindows,
      ...(r.recallSum ? { recall: recallOf(r.recallSum, r.oracleSum, numWindows) } : {}),
    };
  });
  const heat = heatmapTarget(opts);
  const heatRow = rows.find((r) => r.policy === heat.policy && r.ratio === heat.ratio && r.keptSum !== null);
  const keptPerHead: KeptPerHead | null = heatRow?.keptSum
    ? {
        policy: heatRow.policy,
        ratio: heatRow.ratio,
        kept: heatRow.keptSum.map((layer) => layer.map((v) => v / numWindows)),
        fullKvsPerHead: heatRow.fullKvsPerHeadSum / numWindows,
      }
    : null;
  return {
    model: opts.model,
    text: opts.text,
    windows: numWindows,
    tokens: numWindows * (opts.windowTokens - 1),
    windowTokens: opts.windowTokens,
    prefixTokens: opts.prefixTokens,
    predictions: numWindows * (opts.windowTokens - opts.prefixTokens),
    mode: opts.mode,
    fullNll,
    results,
    keptPerHead,
  };
}

/** The heatmap's (policy, ratio): kvcompress at ratio 8 unless the caller says otherwise. */
function heatmapTarget(opts: EvalOptions): { policy: string; ratio: number } {
  return opts.heatmap ?? { policy: "kvcompress", ratio: 8 };
}

function addKept(row: RowState, run: PolicyRun, what: string, keepHeads: boolean): void {
  const { keptPrefixKvs: kept, totalPrefixKvs: total } = run;
  if (!(total > 0) || !(kept >= 0) || kept > total) {
    throw new InvalidArgumentError(`${what}.keptPrefixKvs`, `${kept} of ${total}`, "must satisfy 0 ≤ kept ≤ total, total > 0");
  }
  row.keptFractionSum += kept / total;
  if (!keepHeads) return;
  const heads = run.keptPerHead;
  const numHeads = heads.reduce((n, layer) => n + layer.length, 0);
  const sum = heads.reduce((s, layer) => s + layer.reduce((a, b) => a + b, 0), 0);
  // The per-head counts must add up to the total, or the heatmap would disagree with the table.
  if (numHeads === 0 || sum !== kept) {
    throw new InvalidArgumentError(`${what}.keptPerHead`, `sum ${sum} over ${numHeads} heads`, `must sum to keptPrefixKvs = ${kept}`);
  }
  if (row.keptSum === null) row.keptSum = heads.map((layer) => layer.map(() => 0));
  const acc = row.keptSum;
  if (acc.length !== heads.length || acc.some((layer, l) => layer.length !== heads[l].length)) {
    throw new InvalidArgumentError(`${what}.keptPerHead`, "shape", "must be the same [layer][kvHead] shape in every window");
  }
  for (let l = 0; l < heads.length; l++) for (let h = 0; h < heads[l].length; h++) acc[l][h] += heads[l][h];
  row.fullKvsPerHeadSum += total / numHeads;
}

function checkRows(what: string, rows: readonly Float32Array[], want: number): void {
  if (rows.length !== want) throw new InvalidArgumentError(`${what} rows`, rows.length, `must be T−P = ${want}`);
}

function validate(o: EvalOptions): void {
  if (!Number.isInteger(o.windowTokens) || o.windowTokens < 2) throw new InvalidArgumentError("windowTokens", o.windowTokens, "must be an integer ≥ 2");
  if (!Number.isInteger(o.prefixTokens) || o.prefixTokens < 1 || o.prefixTokens >= o.windowTokens) {
    throw new InvalidArgumentError("prefixTokens", o.prefixTokens, `must be an integer in [1, windowTokens = ${o.windowTokens})`);
  }
  for (const r of o.ratios) if (!(r >= 1) || !Number.isFinite(r)) throw new InvalidArgumentError("ratios", r, "each must be a finite number ≥ 1");
  if (new Set(o.policies).size !== o.policies.length) throw new InvalidArgumentError("policies", o.policies.join(","), "must not repeat a policy");
}
