// `kvcompress generate`: load a model, run a prompt through the compressed cache, stream the
// text to stdout and a summary (or one JSON object) at the end.
import { ConfigError } from "../../src/errors";
import { loadEngine } from "../engine";
import { definePolicy, type PolicyInput, type PolicyName } from "../../src/policies";
import { CliUsageError, parseFlags, usage, type FlagSpec } from "./args";
import { readContextLength, readTextFlag, resolveModel } from "./models";
import { loadProgress } from "./output";

export const GENERATE_FLAGS = {
  model: { type: "string", help: "model directory, URL or id (default stories260K)" },
  prompt: { type: "string", help: "prompt text (required unless --prompt-file)" },
  "prompt-file": { type: "string", help: "read the prompt from this file" },
  "max-tokens": { type: "int", help: "tokens to generate (default 128)" },
  temperature: { type: "number", help: "0 = greedy (default 0)" },
  "top-p": { type: "number", help: "nucleus mass in (0, 1] (default 0.9)" },
  seed: { type: "int", help: "sampling seed (default 0)" },
  policy: { type: "string", help: "full|streamingllm|h2o|snapkv|pyramidkv|kvcompress (default kvcompress)" },
  ratio: { type: "number", help: "keep about promptTokens/ratio KVs per head (default 4)" },
  "max-cache-tokens": { type: "int", help: "keep at most this many KVs per head instead of --ratio" },
  "protected-window": { type: "int", help: "recent positions never evicted (default 8)" },
  continual: { type: "boolean", help: "keep the budget while decoding too (the default)" },
  once: { type: "boolean", help: "compress only once, at the end of the prompt (a short prompt then keeps everything)" },
  backend: { type: "string", help: "gpu|cpu (default: gpu on a hardware adapter, else cpu)" },
  storage: { type: "string", help: "f32|f16|q8|q4 KV storage (default f32; q8/q4: docs/QUANTIZATION.md)" },
  json: { type: "boolean", help: "print one JSON object instead of text" },
  help: { type: "boolean", help: "show this help" },
} satisfies Record<string, FlagSpec>;

export async function runGenerate(argv: readonly string[], io: { out: (s: string) => void; err: (s: string) => void }): Promise<void> {
  const f = parseFlags(argv, GENERATE_FLAGS);
  if (f.help) return io.out(usage("generate", GENERATE_FLAGS) + "\n");
  // Every check that needs no model runs first: a usage error must never cost a download.
  if (f["prompt-file"] !== undefined && f.prompt !== undefined) throw new CliUsageError("give --prompt or --prompt-file, not both");
  const prompt = f["prompt-file"] !== undefined ? await readTextFlag("--prompt-file", f["prompt-file"]) : f.prompt;
  if (prompt === undefined) throw new CliUsageError("--prompt TEXT (or --prompt-file FILE) is required");
  const policy = policyFromFlags(f);
  const backend = f.backend ?? "auto";
  if (!["auto", "gpu", "cpu"].includes(backend)) throw new CliUsageError(`--backend must be gpu or cpu, got ${JSON.stringify(backend)}`);
  const maxTokens = f["max-tokens"] ?? 128;
  if (maxTokens < 0) throw new CliUsageError(`--max-tokens must be ≥ 0, got ${maxTokens}`);
  const temperature = f.temperature ?? 0;
  if (!(temperature >= 0)) throw new CliUsageError(`--temperature must be ≥ 0 (0 = greedy), got ${temperature}`);
  const topP = f["top-p"] ?? 0.9;
  if (!(topP > 0 && topP <= 1)) throw new CliUsageError(`--top-p must be in (0, 1], got ${topP}`);
  const seed = f.seed ?? 0;
  if (seed < 0 || seed > 0xffffffff) throw new CliUsageError(`--seed must be in [0, 4294967295], got ${seed}`);
  const storage = f.storage ?? "f32";
  if (storage !== "f32" && storage !== "f16" && storage !== "q8" && storage !== "q4") {
    throw new CliUsageError(`--storage must be f32, f16, q8 or q4, got ${JSON.stringify(storage)}`);
  }

  // Per-file bars on stderr: the download (only when the model is not on disk yet), then the load.
  const downloads = loadProgress(io.err, !f.json, "download");
  const resolved = await resolveModel(f.model, downloads);
  downloads.done?.();
  const progress = loadProgress(io.err, !f.json);
  // The context length comes from the config (or the llama2.c header), read before the weights.
  const contextTokens = await readContextLength(resolved);
  if (maxTokens >= contextTokens) throw new CliUsageError(`--max-tokens must be < the model's context of ${contextTokens} tokens, got ${maxTokens}`);
  if (f["max-cache-tokens"] !== undefined && f["max-cache-tokens"] > contextTokens) {
    throw new CliUsageError(`--max-cache-tokens must be ≤ the model's context of ${contextTokens} tokens, got ${f["max-cache-tokens"]}`);
  }
  // The engine: on the GPU the whole forward pass runs on the device (weights in their stored
  // precision); on the CPU backend the wasm SIMD forward over the CPU cache.
  const engine = await loadEngine(resolved.source, {
    backend: backend as "auto" | "gpu" | "cpu", policy, storage, onProgress: progress, llama2c: resolved.llama2c,
  });
  progress.done?.();
  try {
    const { tokenizer } = engine;
    const c = engine.config;
    const promptIds = tokenizer.encode(prompt);
    const maxContextTokens = engine.maxContextTokens;
    if (promptIds.length + maxTokens > maxContextTokens) throw new CliUsageError(`prompt (${promptIds.length} tokens) + --max-tokens (${maxTokens}) exceeds the model's context of ${maxContextTokens} tokens`);
    const decoder = tokenizer.createStreamDecoder();
    const generated: number[] = [];
    for await (const id of engine.generate(promptIds, {
      maxTokens, temperature, topP, seed, stopIds: [tokenizer.eosId],
    })) {
      generated.push(id);
      if (!f.json) io.out(decoder.push(id));
    }
    const result = { ids: [...promptIds, ...generated], prefillMs: engine.timings.prefillMs, decodeMs: engine.timings.decodeMs };
    const numGenerated = generated.length;
    const text = tokenizer.decode(generated);
    const stats = engine.stats();
    const seqStats = stats.sequences[stats.sequences.length - 1]!;
    const kv = {
      policy: policy.name,
      keptPerHead: Array.from({ length: c.numLayers }, (_, l) => Array.from(seqStats.keptPerHead.subarray(l * c.numKvHeads, (l + 1) * c.numKvHeads))),
      blocksInUse: seqStats.blocksInUse, bytesInUse: seqStats.bytesInUse, bytesUncompressed: seqStats.bytesUncompressed,
      achievedRatio: seqStats.achievedRatio, passes: seqStats.passes, evictedKvs: seqStats.evictedKvs,
    };
    const decodeTokensPerSecond = numGenerated > 1 && result.decodeMs > 0 ? (numGenerated - 1) / (result.decodeMs / 1000) : 0;
    if (f.json) {
      io.out(JSON.stringify({
        model: resolved.name, backend: engine.backend, adapter: engine.adapterName, promptTokens: promptIds.length, ids: result.ids, text,
        timings: { prefillMs: result.prefillMs, decodeMs: result.decodeMs, decodeTokensPerSecond }, kv,
      }) + "\n");
    } else {
      io.out(decoder.flush() + "\n");
      io.err(`\n[${engine.backend}: ${engine.adapterName}] prefill ${promptIds.length} tokens in ${result.prefillMs.toFixed(1)} ms ` +
        `(${(promptIds.length / (result.prefillMs / 1000)).toFixed(1)} tok/s), decode ${decodeTokensPerSecond.toFixed(1)} tok/s\n` +
        `KV ${policy.name}${policy.name === "full" ? "" : f.once ? " (once, at the end of the prompt)" : " (continual)"}: ${fmtBytes(kv.bytesInUse)} in use vs ${fmtBytes(kv.bytesUncompressed)} uncompressed, ` +
        `achieved ratio ${kv.achievedRatio.toFixed(2)}x, ${kv.passes} compression pass(es), ${kv.evictedKvs} KVs evicted\n`);
    }
  } finally {
    engine.destroy();
  }
}

/** Ratios past this keep under one KV per head of any prompt a supported model can hold. */
const MAX_RATIO = 1 << 20;

function policyFromFlags(f: { policy?: string; ratio?: number; "max-cache-tokens"?: number; "protected-window"?: number; continual?: boolean; once?: boolean }): PolicyInput {
  const name = (f.policy ?? "kvcompress") as PolicyName;
  if (f.ratio !== undefined && f["max-cache-tokens"] !== undefined) throw new CliUsageError("give --ratio or --max-cache-tokens, not both");
  if (f.continual && f.once) throw new CliUsageError("give --continual or --once, not both");
  if (f.ratio !== undefined && !(f.ratio >= 1 && f.ratio <= MAX_RATIO)) throw new CliUsageError(`--ratio must be ≥ 1 and ≤ ${MAX_RATIO}, got ${f.ratio}`);
  if (f["protected-window"] !== undefined && f["protected-window"] < 0) throw new CliUsageError(`--protected-window must be ≥ 0, got ${f["protected-window"]}`);
  if (f["max-cache-tokens"] !== undefined && f["max-cache-tokens"] < 1) throw new CliUsageError(`--max-cache-tokens must be ≥ 1, got ${f["max-cache-tokens"]}`);
  const budget = name === "full" ? {} : f["max-cache-tokens"] !== undefined ? { maxTokensPerHead: f["max-cache-tokens"] } : { ratio: f.ratio ?? 4 };
  const input: PolicyInput = {
    name, ...budget,
    ...(f["protected-window"] !== undefined ? { protectedWindow: f["protected-window"] } : {}),
    // Continual by default: a prompt shorter than the budget would otherwise show no compression
    // at all, and a generation that outgrows its budget is what the cache is for.
    ...(name !== "full" && !f.once ? { trigger: "continual" as const } : {}),
  };
  // The cache would reject a bad policy too, but only after the model loaded.
  try {
    definePolicy(input);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliUsageError(`--policy: ${err.message}`);
    throw err;
  }
  return input;
}

function fmtBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}
