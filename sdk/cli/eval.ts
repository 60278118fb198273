// `kvcompress eval`: quality under compression (docs/METHOD.md §5) — every policy against the full
// cache on a real model and text, with a progress bar, JSON, and a Markdown + SVG report.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { createProgressBar, stderrSink } from "../../src/cli/progress";
import { EVAL_USAGE, UsageError, parseEvalArgs } from "../../src/eval/args";
import { createModelWindowRunner } from "../../src/eval/modelRunner";
import { writeReport } from "../../src/eval/report";
import { runEval, type EvalResult } from "../../src/eval/run";
import { loadEngine } from "../engine";
import { ensureWritableDir } from "./download";
import { readContextLength, readTextFlag, resolveModel } from "./models";
import { loadProgress } from "./output";

/** Block size of eval caches: 8 gives the budgets of small prefixes a finer grain than 16. */
const EVAL_BLOCK_SIZE = 8;

/** `--out` must be a directory we can create files in (a probe file is created and removed). */
async function checkOutDir(dir: string): Promise<void> {
  try {
    await ensureWritableDir(dir, "--out");
  } catch (err) {
    throw new UsageError("--out", (err as Error).message);
  }
}

/** Runs an evaluation in-process (the CLI and the tests share it). */
export async function evaluate(argv: readonly string[], onLine?: (s: string) => void): Promise<EvalResult | null> {
  const a = parseEvalArgs(argv);
  if (a.help) {
    onLine?.(EVAL_USAGE + "\n");
    return null;
  }
  // Inputs and the output directory are checked before the model loads and the run starts:
  // a bad --out must not cost the results of a long run.
  const text = await readTextFlag("--text", a.text);
  if (a.outDir !== undefined) await checkOutDir(a.outDir);
  const downloads = loadProgress(() => {}, !a.json, "download");
  const resolved = await resolveModel(a.model, downloads);
  downloads.done?.();
  const contextTokens = await readContextLength(resolved);
  if (a.windowTokens > contextTokens) throw new UsageError("--window", `must be ≤ the model's context of ${contextTokens} tokens, got ${a.windowTokens}`);
  // The engine holds the weights once (on the device, or in wasm memory); each policy gets its own
  // cache on the same backend from engine.createCache.
  const engine = await loadEngine(resolved.source, { backend: a.backend, llama2c: resolved.llama2c, policy: { name: "full" } });
  const { tokenizer } = engine;
  const tokenIds = tokenizer.encode(text, { bos: false });
  // Every policy's cache in --storage; the full-cache reference stays f32, so a quantized row's
  // KL includes what quantization costs.
  const inner = createModelWindowRunner(engine.windowModel(),
    (policy, maxContextTokens, reference) => engine.createCache(policy, maxContextTokens, EVAL_BLOCK_SIZE, reference ? "f32" : a.storage),
    { protectedWindow: a.protectedWindow });
  const runner = { ...inner, destroy() { inner.destroy(); engine.destroy(); } };
  const bar = createProgressBar({ ...stderrSink(), label: "eval", unit: "tokens" });
  try {
    const result = await runEval({
      model: resolved.name, text: path.basename(a.text), tokenIds, bosId: tokenizer.bosId,
      windowTokens: a.windowTokens, prefixTokens: a.prefixTokens, numWindows: a.numWindows,
      policies: a.policies, ratios: a.ratios, mode: a.mode, recall: a.recall && a.mode === "once",
    }, runner, (p) => bar.update(p.tokensDone, { total: p.tokensTotal, detail: p.step }));
    bar.finish();
    if (a.outDir) {
      await mkdir(a.outDir, { recursive: true });
      await writeReport(a.outDir, result, (p, t) => writeFile(p, t));
    }
    return result;
  } finally {
    runner.destroy();
  }
}

export async function runEvalCommand(argv: readonly string[], io: { out: (s: string) => void; err: (s: string) => void }): Promise<void> {
  const result = await evaluate(argv, io.out);
  if (!result) return;
  if (argv.includes("--json")) {
    const { model, text, windows, tokens, results } = result;
    io.out(JSON.stringify({ model, text, windows, tokens, results }) + "\n");
  } else {
    const { markdownReport } = await import("../../src/eval/report");
    io.out(markdownReport(result) + "\n");
  }
}
