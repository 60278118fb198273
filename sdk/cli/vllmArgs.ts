// `kvcompress vllm-args`: the vLLM KV-Compress server settings equivalent to a policy given with
// the same flags as `generate` (plus the policy fields generate leaves at their defaults).
// Loads nothing; docs/SCALING.md explains each mapping.
import { ConfigError, InvalidArgumentError } from "../../src/errors";
import { POLICY_NAMES, type MetricKind, type PolicyInput, type PolicyName, type Ranking } from "../../src/policies";
import { vllmKvcompressSettings, type VllmSettings } from "../../src/vllm";
import { CliUsageError, parseFlags, usage, type FlagSpec } from "./args";

export const VLLM_ARGS_FLAGS = {
  policy: { type: "string", help: `${POLICY_NAMES.join("|")} (default kvcompress)` },
  ratio: { type: "number", help: "keep about promptTokens/ratio KVs per head (default 4)" },
  "max-cache-tokens": { type: "int", help: "keep at most this many KVs per head instead of --ratio" },
  "min-tokens": { type: "int", help: "floor of a ratio budget in tokens (default 0; the paper used 128)" },
  "prompt-tokens": { type: "int", help: "prompt length, to turn --ratio into max_cache_tokens" },
  "protected-window": { type: "int", help: "recent positions never evicted (default 8)" },
  "obs-window": { type: "int", help: "last prompt queries that score keys, 0 = all (default 8)" },
  "pool-width": { type: "int", help: "max-pool width of prefill scores, odd (default 7)" },
  metric: { type: "string", help: "none|l1|l2 (default: the policy's)" },
  ranking: { type: "string", help: "global|layer|uniform|pyramid (default: the policy's)" },
  "group-reduce": { type: "string", help: "sum|max (default sum)" },
  sinks: { type: "int", help: "first positions never evicted (default: the policy's)" },
  continual: { type: "boolean", help: "keep the budget while decoding too (the default, as in generate)" },
  once: { type: "boolean", help: "compress only once, after the prompt" },
  "block-size": { type: "int", help: "8|16|32 (default 16)" },
  "max-context-tokens": { type: "int", help: "longest sequence, becomes --max-model-len" },
  "max-seqs": { type: "int", help: "sequences at once, becomes --max-num-seqs" },
  model: { type: "string", help: "model id for the printed `vllm serve` line (default MODEL)" },
  json: { type: "boolean", help: "print one JSON object instead of text" },
  help: { type: "boolean", help: "show this help" },
} satisfies Record<string, FlagSpec>;

type Flags = ReturnType<typeof parseFlags<typeof VLLM_ARGS_FLAGS>>;

export async function runVllmArgs(argv: readonly string[], io: { out: (s: string) => void; err: (s: string) => void }): Promise<void> {
  const f = parseFlags(argv, VLLM_ARGS_FLAGS);
  if (f.help) return io.out(usage("vllm-args", VLLM_ARGS_FLAGS) + "\n");
  const policy = policyFromFlags(f);
  let s: VllmSettings;
  try {
    s = vllmKvcompressSettings(
      { policy, blockSize: f["block-size"], maxContextTokens: f["max-context-tokens"], maxSeqs: f["max-seqs"] },
      { promptTokens: f["prompt-tokens"] },
    );
  } catch (err) {
    if (err instanceof ConfigError || err instanceof InvalidArgumentError) throw new CliUsageError(flagMessage(err));
    throw err;
  }
  const model = f.model ?? "MODEL";
  if (f.json) return io.out(JSON.stringify({ model, serveArgs: s.serveArgs, engineArgs: s.engineArgs, request: s.request, warnings: s.warnings }) + "\n");
  io.out(s.serveArgs.length ? `vllm serve ${model} ${s.serveArgs.join(" ")}\n` : `vllm serve ${model}\n`);
  io.out(`request fields (every /v1/completions or /v1/chat/completions body): ${JSON.stringify(s.request)}\n`);
  for (const w of s.warnings) io.err(`kvcompress: warning: ${w.setting}: ${w.message}\n`);
}

/** A ConfigError names our field ("policy.poolWidth"); the user typed a flag. */
function flagMessage(err: ConfigError | InvalidArgumentError): string {
  const flags: Record<string, string> = {
    "policy.name": "--policy", "policy.ratio": "--ratio", "policy.maxTokensPerHead": "--max-cache-tokens",
    "policy.minTokens": "--min-tokens", "policy.protectedWindow": "--protected-window", "policy.obsWindow": "--obs-window",
    "policy.poolWidth": "--pool-width", "policy.metric": "--metric", "policy.ranking": "--ranking",
    "policy.groupReduce": "--group-reduce", "policy.sinks": "--sinks", blockSize: "--block-size",
    maxContextTokens: "--max-context-tokens", maxSeqs: "--max-seqs", promptTokens: "--prompt-tokens",
  };
  const flag = flags[err.field];
  return flag ? `${flag} (${err.field}): ${err.message.slice(err.field.length + 2)}` : err.message;
}

function policyFromFlags(f: Flags): PolicyInput {
  const name = (f.policy ?? "kvcompress") as PolicyName;
  if (f.ratio !== undefined && f["max-cache-tokens"] !== undefined) throw new CliUsageError("give --ratio or --max-cache-tokens, not both");
  if (f.continual && f.once) throw new CliUsageError("give --continual or --once, not both");
  if (f["min-tokens"] !== undefined && f["max-cache-tokens"] !== undefined) throw new CliUsageError("--min-tokens goes with --ratio, not --max-cache-tokens");
  const budget = name === "full" ? {} : f["max-cache-tokens"] !== undefined
    ? { maxTokensPerHead: f["max-cache-tokens"] }
    : { ratio: f.ratio ?? 4, ...(f["min-tokens"] !== undefined ? { minTokens: f["min-tokens"] } : {}) };
  const given = <T>(v: T | undefined, key: string) => (v === undefined ? {} : { [key]: v });
  return {
    name, ...budget,
    ...given(f["protected-window"], "protectedWindow"),
    ...given(f["obs-window"], "obsWindow"),
    ...given(f["pool-width"], "poolWidth"),
    ...given(f.metric as MetricKind | undefined, "metric"),
    ...given(f.ranking as Ranking | undefined, "ranking"),
    ...given(f["group-reduce"], "groupReduce"),
    ...given(f.sinks, "sinks"),
    // Continual unless --once, as `kvcompress generate` does, so one set of flags means one policy.
    ...(name !== "full" && !f.once ? { trigger: "continual" as const } : {}),
  };
}
