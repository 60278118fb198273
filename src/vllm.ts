// Our cache settings as the server settings of the vLLM KV-Compress fork (IsaacRe/vllm-kvcompress,
// read at commit 5e2a6394). Pure: no I/O, nothing loaded. Every mapping below names the fork file
// and symbol it was read from; docs/SCALING.md explains each one and what has no equivalent.
import { ConfigError, InvalidArgumentError } from "./errors";
import { definePolicy, type PolicyConfig, type PolicyInput } from "./policies";

/** What {@link vllmKvcompressSettings} reads: a policy plus the cache fields the fork also has.
 *  A `KvCacheConfig` (from `defineConfig`, or `cache.config`) fits as it is. */
export interface VllmSettingsInput {
  readonly policy: PolicyInput | PolicyConfig;
  /** @default 16 (the fork takes 8, 16 or 32 too) */
  readonly blockSize?: number;
  /** Becomes `--max-model-len`; left out when undefined. */
  readonly maxContextTokens?: number;
  /** Becomes `--max-num-seqs`; left out when undefined. */
  readonly maxSeqs?: number;
}

export interface VllmSettingsOptions {
  /** Prompt length of the request, for a ratio budget: the fork's request API has no ratio, so
   *  `max_cache_tokens` is computed from it. Without it a ratio gives no `max_cache_tokens`. */
  readonly promptTokens?: number;
}

/** The per-request KV-Compress fields of the fork's OpenAI server (`CompletionRequest` and
 *  `ChatCompletionRequest` in vllm/entrypoints/openai/protocol.py) and of `SamplingParams`. */
export interface VllmRequestFields {
  max_cache_tokens?: number;
  protected_window_size?: number;
  compress_once?: boolean;
}

/** A setting of ours that the fork cannot express, or a request it would reject. */
export interface VllmSettingWarning {
  /** Our field, e.g. "policy.ranking". */
  readonly setting: string;
  readonly message: string;
}

export interface VllmSettings {
  /** `vllm serve MODEL` flags in order, one array element per shell word. */
  readonly serveArgs: readonly string[];
  /** The same settings as `EngineArgs` / `LLM(...)` keyword arguments. */
  readonly engineArgs: Readonly<Record<string, number | boolean | string>>;
  /** Fields to add to every request body (or `SamplingParams`). */
  readonly request: Readonly<VllmRequestFields>;
  readonly warnings: readonly VllmSettingWarning[];
}

const FORK_BLOCK_SIZES = [8, 16, 32]; // vllm/engine/arg_utils.py, --block-size choices
const FORK_POOL_WIDTH = 7; // vllm/attention/backends/flash_attn.py, F.max_pool1d(kernel_size=7)

function positiveInt(field: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) throw new ConfigError(field, `must be an integer ≥ 1, got ${String(v)}`);
  return v;
}

/** max(minTokens, floor_b(floor(P / R) − 1)), R in thousandths: the same integer steps as
 *  `capTokensForRatio` in assembly/budget.ts (docs/METHOD.md §2.4). */
function capForRatio(promptTokens: number, ratio: number, minTokens: number, blockSize: number): number {
  const ratioMilli = Math.round(ratio * 1000);
  let cap = Math.floor((promptTokens * 1000) / ratioMilli) - 1;
  if (cap < 0) cap = 0;
  cap -= cap % blockSize;
  return Math.max(cap, minTokens);
}

/**
 * The vLLM KV-Compress fork's settings (engine flags and per-request fields) equivalent to a cache
 * config, so a policy tuned here carries to a vLLM server. Semantics and sources: docs/SCALING.md.
 *
 * - budget: `maxTokensPerHead` C → `max_cache_tokens` C (both keep ceil(C / b)·L·H blocks); a
 *   ratio → `max_cache_tokens` computed from `options.promptTokens` with our formula;
 * - `protectedWindow` w → `protected_window_size` w + 1: the fork counts the sampled token whose
 *   KV is not cached yet, so w + 1 protects the same w cached KVs;
 * - `trigger` → `compress_once` (prefill → true, continual → false);
 * - `metric` → `--metric-aggregation L1-sum|L2-sum`, `obsWindow` →
 *   `--prefill-metric-collection-window-size`, `poolWidth` 1 → `--no-maxpool-metrics`, no decode
 *   metric → `--only-prefill-metrics`; `blockSize`, `maxContextTokens`, `maxSeqs` → `--block-size`,
 *   `--max-model-len`, `--max-num-seqs`.
 *
 * Rankings other than "global", sinks, `groupReduce: "max"`, pool widths other than 1 and 7, the
 * recency-only order (metric "none") and a ratio without `promptTokens` come back as warnings.
 * The `full` policy needs no KV-Compress setting: every field is empty.
 * @param config - a policy (input or validated) and optionally blockSize, maxContextTokens, maxSeqs.
 * @param options - `promptTokens` of the request, for a ratio budget.
 * @throws {ConfigError} on a bad policy, blockSize, maxContextTokens or maxSeqs.
 * @throws {InvalidArgumentError} when `promptTokens` is not an integer ≥ 1.
 * @example
 * ```ts
 * const s = vllmKvcompressSettings({ policy: { name: "kvcompress", maxTokensPerHead: 128 } });
 * s.serveArgs.join(" "); // "--enable-kvcompress --enforce-eager --block-size 16 --metric-aggregation L2-sum ..."
 * s.request; // { max_cache_tokens: 128, protected_window_size: 9, compress_once: true }
 * ```
 */
export function vllmKvcompressSettings(config: VllmSettingsInput, options: VllmSettingsOptions = {}): VllmSettings {
  if (config === null || typeof config !== "object") throw new ConfigError("config", `must be an object with a policy, got ${String(config)}`);
  const p = validPolicy(config.policy);
  const blockSize = config.blockSize ?? 16;
  if (!FORK_BLOCK_SIZES.includes(blockSize)) throw new ConfigError("blockSize", `must be one of ${FORK_BLOCK_SIZES.join(", ")}, got ${String(blockSize)}`);
  const maxContextTokens = config.maxContextTokens === undefined ? undefined : positiveInt("maxContextTokens", config.maxContextTokens);
  const maxSeqs = config.maxSeqs === undefined ? undefined : positiveInt("maxSeqs", config.maxSeqs);
  const promptTokens = options.promptTokens;
  if (promptTokens !== undefined && !(Number.isInteger(promptTokens) && promptTokens >= 1)) {
    throw new InvalidArgumentError("promptTokens", promptTokens, "must be an integer ≥ 1");
  }
  if (p.name === "full") return Object.freeze({ serveArgs: [], engineArgs: {}, request: {}, warnings: [] });

  const warnings: VllmSettingWarning[] = [];
  const warn = (setting: string, message: string) => warnings.push(Object.freeze({ setting, message }));
  const engineArgs: Record<string, number | boolean | string> = {};
  const serveArgs: string[] = [];
  const flag: Flag = (field, value, word, shown) => {
    engineArgs[field] = value;
    serveArgs.push(word, ...(shown === undefined ? [] : [shown]));
  };
  // vllm/engine/arg_utils.py EngineArgs.add_cli_args; --enforce-eager because the fork's README
  // lists CUDA graphs as unsupported and serves with it.
  flag("enable_kvcompress", true, "--enable-kvcompress");
  flag("enforce_eager", true, "--enforce-eager");
  flag("block_size", blockSize, "--block-size", String(blockSize));
  if (maxContextTokens !== undefined) flag("max_model_len", maxContextTokens, "--max-model-len", String(maxContextTokens));
  if (maxSeqs !== undefined) flag("max_num_seqs", maxSeqs, "--max-num-seqs", String(maxSeqs));
  metricFlags(p, maxContextTokens, flag, warn);
  rankingWarnings(p, warn);

  const request: VllmRequestFields = {};
  const budget = p.budget!;
  if (budget.kind === "tokens") request.max_cache_tokens = budget.maxTokensPerHead;
  else if (promptTokens !== undefined) request.max_cache_tokens = capForRatio(promptTokens, budget.ratio, budget.minTokens, blockSize);
  else {
    warn("policy.ratio", `the fork's request API has no ratio: set max_cache_tokens per request to max(${budget.minTokens}, ` +
      `floor_${blockSize}(floor(promptTokens / ${budget.ratio}) − 1)), or pass promptTokens`);
  }
  request.protected_window_size = p.protectedWindow + 1;
  request.compress_once = p.trigger === "prefill";
  const c = request.max_cache_tokens;
  // vllm/sampling_params.py SamplingParams._verify_args: ValueError when protected_window_size >
  // max_cache_tokens > 0; and with max_cache_tokens 0 the scheduler's assert in
  // vllm/kvcompress/scheduler.py _schedule_seq_evictions fails once a sequence holds protected KVs.
  if (c !== undefined && c < request.protected_window_size) {
    warn("policy.protectedWindow", `the fork rejects max_cache_tokens ${c} < protected_window_size ${request.protected_window_size} ` +
      `(protectedWindow ${p.protectedWindow} + 1); raise the budget or lower the window`);
  }
  return Object.freeze({ serveArgs: Object.freeze(serveArgs), engineArgs: Object.freeze(engineArgs), request: Object.freeze(request), warnings: Object.freeze(warnings) });
}

function validPolicy(policy: PolicyInput | PolicyConfig): PolicyConfig {
  if (policy === null || typeof policy !== "object") throw new ConfigError("policy", `must be an object like { name: "kvcompress", ratio: 4 }, got ${String(policy)}`);
  // A validated PolicyConfig has `budget` and `decodeMetric`, which no PolicyInput carries.
  return "budget" in policy && "decodeMetric" in policy ? (policy as PolicyConfig) : definePolicy(policy as PolicyInput);
}

type Flag = (field: string, value: number | boolean | string, word: string, shown?: string) => void;
type Warn = (setting: string, message: string) => void;

/** The score: metric, observation window, pooling, decode accumulation (docs/SCALING.md). */
function metricFlags(p: PolicyConfig, maxContextTokens: number | undefined, flag: Flag, warn: Warn): void {
  if (p.metric === "none") {
    warn("policy.metric", `${p.name} orders by age only (metric "none"); the fork always ranks by attention score ` +
      `(its --random-evict is random, not oldest-first), so it will evict by its default L2-sum score instead`);
    return;
  }
  // vllm/config.py KVCompressConfig: metric_aggregation "L1-sum" | "L2-sum" | "L1-avg" | "L2-avg".
  const aggregation = p.metric === "l1" ? "L1-sum" : "L2-sum";
  flag("metric_aggregation", aggregation, "--metric-aggregation", aggregation);
  // flash_attn.py _naive_kvc_attention scores the last min(promptLen, N) prompt queries, so N at
  // least the longest prompt means "every prompt query" (our obsWindow 0).
  if (p.obsWindow > 0) flag("prefill_metric_collection_window_size", p.obsWindow, "--prefill-metric-collection-window-size", String(p.obsWindow));
  else if (maxContextTokens !== undefined) {
    flag("prefill_metric_collection_window_size", maxContextTokens, "--prefill-metric-collection-window-size", String(maxContextTokens));
  } else {
    warn("policy.obsWindow", "obsWindow 0 scores every prompt query: pass maxContextTokens, or set " +
      "--prefill-metric-collection-window-size to at least the longest prompt (the fork's default is 32)");
  }
  if (p.poolWidth === 1) flag("maxpool_metrics", false, "--no-maxpool-metrics");
  else if (p.poolWidth !== FORK_POOL_WIDTH) {
    warn("policy.poolWidth", `the fork max-pools with a fixed width of ${FORK_POOL_WIDTH} (or not at all), got ${p.poolWidth}`);
  }
  if (!p.decodeMetric) flag("record_decoding_metrics", false, "--only-prefill-metrics");
  if (p.groupReduce === "max") {
    warn("policy.groupReduce", "the fork sums the scores of the query heads of a KV head; it has no per-query-head maximum");
  }
  if (p.valueNorm) {
    warn("policy.valueNorm", "the fork ranks by attention alone; it has no value-norm weighting (pass valueNorm: false to match it)");
  }
}

/** How heads share the budget, and what never gets evicted, beyond the protected window. */
function rankingWarnings(p: PolicyConfig, warn: Warn): void {
  // vllm/kvcompress/metrics.py CompressionMetrics.schedule_evictions ranks all blocks of all
  // (layer, KV head) of a sequence together; its uniform_evict branch is never reached from
  // the scheduler, and --even-layer-evict only rounds the block count to a multiple of layers.
  if (p.ranking !== "global") {
    warn("policy.ranking", `the fork ranks every (layer, KV head) of a sequence together (our "global"); ` +
      `it has no "${p.ranking}" ranking, so the budget will be shared unevenly across heads`);
  }
  if (p.headFloor > 0) {
    warn("policy.headFloor", `the fork's global ranking has no per-head floor, got ${p.headFloor} ` +
      `(pass headFloor: 0 to match it; 1 gives every head the same share)`);
  }
  // CompressionMetrics(num_attention_sinks=0): no engine argument or request field sets it.
  if (p.sinks > 0) warn("policy.sinks", `the fork has no setting for attention sinks (it keeps 0), got ${p.sinks}`);
}
