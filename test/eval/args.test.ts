// `kvcompress eval` flag parsing: defaults, both flag forms, and a UsageError naming the flag
// for each kind of bad input the eval command must refuse.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { EVAL_DEFAULTS, UsageError, parseEvalArgs } from "../../src/eval/args";
import { KvCompressError } from "../../src/errors";
import { evalPolicyInput } from "../../src/eval/modelRunner";

const t = suite("eval args");
const REQUIRED = ["--model", "stories260K", "--text", "val.txt"];

function usageError(argv: string[], flag: string, re: RegExp): void {
  try {
    parseEvalArgs(argv);
  } catch (err) {
    assert.instance(err, UsageError);
    assert.instance(err, KvCompressError);
    assert.is((err as UsageError).flag, flag);
    assert.match((err as Error).message, re);
    return;
  }
  assert.unreachable(`${argv.join(" ")}: expected a UsageError`);
}

t("defaults follow docs/METHOD.md §5", () => {
  const a = parseEvalArgs(REQUIRED);
  assert.is(a.model, "stories260K");
  assert.is(a.text, "val.txt");
  assert.is(a.windowTokens, 512);
  assert.is(a.prefixTokens, 384);
  assert.is(a.numWindows, EVAL_DEFAULTS.numWindows);
  assert.equal(a.policies, ["full", "streamingllm", "h2o", "snapkv", "pyramidkv", "kvcompress"]);
  assert.equal(a.ratios, [2, 4, 8, 16]);
  assert.is(a.mode, "once");
  assert.is(a.backend, "auto");
  assert.is(a.storage, "f32");
  assert.is(a.json, false);
  assert.is(a.outDir, undefined);
  assert.is(a.protectedWindow, undefined);
});

t("every flag, in both --flag value and --flag=value forms", () => {
  const a = parseEvalArgs([...REQUIRED, "--window=256", "--prefix", "192", "--windows", "2", "--policies", "full,kvcompress,kvcompress-l1,kvcompress-perhead,kvcompress-perlayer",
    "--ratios=8,1,2", "--mode", "continual", "--backend", "cpu", "--storage", "q4", "--protected-window", "0", "--json", "--out", "docs/q"]);
  assert.is(a.windowTokens, 256);
  assert.is(a.prefixTokens, 192);
  assert.is(a.numWindows, 2);
  assert.equal(a.policies, ["full", "kvcompress", "kvcompress-l1", "kvcompress-perhead", "kvcompress-perlayer"]);
  assert.equal(a.ratios, [1, 2, 8]); // sorted
  assert.is(a.mode, "continual");
  assert.is(a.backend, "cpu");
  assert.is(a.storage, "q4");
  assert.is(a.protectedWindow, 0);
  assert.is(a.json, true);
  assert.is(a.outDir, "docs/q");
  assert.equal(parseEvalArgs([...REQUIRED, "--ratios", "1.5"]).ratios, [1.5]);
});

t("--help needs no other flag", () => {
  assert.is(parseEvalArgs(["--help"]).help, true);
  assert.is(parseEvalArgs(["-h"]).help, true);
});

t("unknown policy, duplicate policy, empty name", () => {
  usageError([...REQUIRED, "--policies", "full,snapkv2"], "--policies", /unknown policy "snapkv2"; known: full, /);
  usageError([...REQUIRED, "--policies", "h2o,h2o"], "--policies", /listed twice/);
  usageError([...REQUIRED, "--policies", "h2o,,snapkv"], "--policies", /empty name/);
});

t("policy variants: base+setting+… changes one field per part; bad parts and bases are refused", () => {
  assert.equal(parseEvalArgs([...REQUIRED, "--policies", "kvcompress+l1+w0+avg,h2o+pool3+layer"]).policies,
    ["kvcompress+l1+w0+avg", "h2o+pool3+layer"]);
  assert.equal(evalPolicyInput("kvcompress+l1+w0+pool1+avg+gmax+uniform+pw4+sinks2", 48, "once"), {
    name: "kvcompress", maxTokensPerHead: 48, trigger: "prefill", metric: "l1", obsWindow: 0, poolWidth: 1,
    queryReduce: "avg", groupReduce: "max", ranking: "uniform", protectedWindow: 4, sinks: 2,
  });
  assert.equal(evalPolicyInput("kvcompress+floor50+vnorm", 48, "once"), {
    name: "kvcompress", maxTokensPerHead: 48, trigger: "prefill", headFloor: 0.5, valueNorm: true,
  });
  assert.equal(evalPolicyInput("kvcompress+vnorm+novnorm+floor0", 48, "once"), {
    name: "kvcompress", maxTokensPerHead: 48, trigger: "prefill", headFloor: 0, valueNorm: false,
  });
  for (const bad of ["kvcompress+l3", "kvcompress+pool4", "kvcompress+", "full+l1", "snap+l1", "kvcompress+w-1", "kvcompress+floor101"]) {
    usageError([...REQUIRED, "--policies", bad], "--policies", /unknown policy/);
  }
});

t("ratios: ≤ 0, below 1, not a number, repeated", () => {
  usageError([...REQUIRED, "--ratios", "0"], "--ratios", /must be ≥ 1.*got 0/);
  usageError([...REQUIRED, "--ratios", "2,-4"], "--ratios", /must be ≥ 1.*got -4/);
  usageError([...REQUIRED, "--ratios", "0.5"], "--ratios", /must be ≥ 1/);
  usageError([...REQUIRED, "--ratios", "2,x"], "--ratios", /"x" is not a number/);
  usageError([...REQUIRED, "--ratios", "0x10"], "--ratios", /not a number/);
  usageError([...REQUIRED, "--ratios", "2,"], "--ratios", /"" is not a number/);
  usageError([...REQUIRED, "--ratios", "4,4"], "--ratios", /listed twice/);
});

t("prefix ≥ window, and integer bounds", () => {
  usageError([...REQUIRED, "--prefix", "512"], "--prefix", /must be < --window \(512\)/);
  usageError([...REQUIRED, "--window", "100", "--prefix", "200"], "--prefix", /must be < --window \(100\)/);
  usageError([...REQUIRED, "--prefix", "0"], "--prefix", /≥ 1/);
  usageError([...REQUIRED, "--window", "1"], "--window", /≥ 2/);
  usageError([...REQUIRED, "--windows", "0"], "--windows", /≥ 1, got 0/);
  usageError([...REQUIRED, "--windows", "2.5"], "--windows", /must be an integer, got "2.5"/);
  usageError([...REQUIRED, "--protected-window", "-1"], "--protected-window", /≥ 0/);
});

t("missing required flags, missing values, unknown flags, bad choices", () => {
  usageError(["--text", "x"], "--model", /is required/);
  usageError(["--model", "x"], "--text", /is required/);
  usageError([...REQUIRED, "--out"], "--out", /needs a value/);
  usageError([...REQUIRED, "--out", "--json"], "--out", /needs a value/);
  usageError([...REQUIRED, "--model=", ], "--model", /given twice|non-empty/);
  usageError([...REQUIRED, "--model", "y"], "--model", /given twice/);
  usageError([...REQUIRED, "--ratio", "8"], "--ratio", /unknown flag/);
  usageError([...REQUIRED, "extra"], "extra", /unknown argument/);
  usageError([...REQUIRED, "--json=1"], "--json", /takes no value/);
  usageError([...REQUIRED, "--mode", "sometimes"], "--mode", /one of once, continual, got "sometimes"/);
  usageError([...REQUIRED, "--backend", "tpu"], "--backend", /one of auto, gpu, cpu/);
  usageError([...REQUIRED, "--storage", "q2"], "--storage", /one of f32, f16, q8, q4/);
});

t.run();
