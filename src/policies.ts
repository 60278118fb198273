// The six eviction policies (docs/METHOD.md §2.6) as settings of ONE machinery: a metric, which
// prompt queries score it, how heads share the budget, and when a pass runs. Defaults follow
// the KV-Compress paper unless a comment says otherwise.
import { ConfigError } from "./errors";

export type PolicyName = "full" | "streamingllm" | "h2o" | "snapkv" | "pyramidkv" | "kvcompress";
export const POLICY_NAMES: readonly PolicyName[] = ["full", "streamingllm", "h2o", "snapkv", "pyramidkv", "kvcompress"];

/** What a KV's score adds per query: nothing, its probability (L1), or its squared probability (L2, docs/METHOD.md §2.2). */
export type MetricKind = "none" | "l1" | "l2";
/** How heads share a sequence's budget: one global ranking over every (layer, KV head)
 *  (kvcompress), a ranking within each layer (ablation), equal blocks per head, or equal per
 *  head with per-layer budgets decreasing with depth (pyramidkv). */
export type Ranking = "global" | "layer" | "uniform" | "pyramid";
/** When a compression pass runs on its own: once after each prefill, or also during decode
 *  whenever a sequence holds more blocks than its budget (continual). */
export type Trigger = "prefill" | "continual";
export type GroupReduce = "sum" | "max";
/** How a KV's per-query terms combine into its rank: their sum, or their mean over the
 *  queries that could see it (seqLen − position; the paper's "-avg" variants). */
export type QueryReduce = "sum" | "avg";

/** The budget of each sequence: max tokens per head (C), or a ratio R of the prompt length. */
export type Budget =
  | { readonly kind: "tokens"; readonly maxTokensPerHead: number }
  | { readonly kind: "ratio"; readonly ratio: number; readonly minTokens: number };

/** What callers pass: a name, and any field to override. */
export interface PolicyInput {
  name: PolicyName;
  /** Keep at most this many KVs per (layer, KV head) (the paper's C). */
  maxTokensPerHead?: number;
  /** Keep about promptTokens / ratio KVs per head (docs/METHOD.md §2.4). */
  ratio?: number;
  /** Floor of the per-head budget in ratio mode. @default 0 — the paper ran with 128, which
   *  on short prompts cancels compression altogether; pass 128 to match its runs. */
  minTokens?: number;
  /** The most recent positions, never evicted. @default 8 (paper: 8 or 32; its reference server: 32). */
  protectedWindow?: number;
  /** The first positions, never evicted (attention sinks). @default 4 for streamingllm, 0 otherwise. */
  sinks?: number;
  metric?: MetricKind;
  /** Prompt queries that score keys at prefill: the last `obsWindow` (0 = all). @default 32 for kvcompress (the
   *  reference code's; the paper's 8 lost on both shared models, docs/QUALITY.md), 8 for snapkv and pyramidkv, 0 for h2o. */
  obsWindow?: number;
  /** Max-pool width along key positions at prefill (1 = no pooling). @default 1 for kvcompress (ours: the
   *  paper's and SnapKV's 7 lost on both shared models, docs/QUALITY.md), 7 for snapkv and pyramidkv. */
  poolWidth?: number;
  ranking?: Ranking;
  /** How the r query heads of a KV head combine their scores: "sum" (query-group compression,
   *  docs/METHOD.md §2.2) or "max" (the per-query-head ablation). @default "sum" */
  groupReduce?: GroupReduce;
  /** "avg" ranks by the metric over the number of queries that could see the KV (seqLen −
   *  position), which removes the sum's bias toward old positions. @default "sum" */
  queryReduce?: QueryReduce;
  trigger?: Trigger;
  /** Rank by the metric times ‖v‖₂ of the KV's stored value (ours; attention × value norm as in
   *  kvpress's ExpectedAttention and CurDKV, docs/METHOD.md §2.2). @default true for kvcompress
   *  (docs/QUALITY.md), false otherwise */
  valueNorm?: boolean;
  /** Global and per-layer rankings: every (layer, KV head) keeps at least this share (0 … 1) of
   *  the mean per-head share of the kept blocks (ours, docs/METHOD.md §2.4; 1 = every head keeps
   *  the mean, i.e. equal shares). @default 0: the paper's free global ranking (docs/QUALITY.md,
   *  third round: the rule picked floor 0 over the second round's 1) */
  headFloor?: number;
  /** pyramidkv: the smallest layer budget is maxTokens / beta. @default 20 (PyramidKV's default) */
  pyramidBeta?: number;
}

/** A validated policy. */
export interface PolicyConfig {
  readonly name: PolicyName;
  readonly budget: Budget | null;
  readonly protectedWindow: number;
  readonly sinks: number;
  readonly metric: MetricKind;
  /** 0 = every prompt query scores (h2o). */
  readonly obsWindow: number;
  readonly poolWidth: number;
  /** Accumulate the metric on every decode step too (kvcompress, h2o). */
  readonly decodeMetric: boolean;
  readonly ranking: Ranking;
  readonly groupReduce: GroupReduce;
  readonly queryReduce: QueryReduce;
  readonly trigger: Trigger;
  readonly headFloor: number;
  readonly valueNorm: boolean;
  readonly pyramidBeta: number;
}

const DEFAULTS: Record<PolicyName, Omit<PolicyConfig, "name" | "budget" | "groupReduce">> = {
  full: { protectedWindow: 8, sinks: 0, metric: "none", obsWindow: 8, poolWidth: 1, queryReduce: "sum", decodeMetric: false, ranking: "uniform", trigger: "prefill", headFloor: 0, valueNorm: false, pyramidBeta: 20 },
  // Recency only: every score stays 0, so the (score, position) order evicts the oldest first.
  streamingllm: { protectedWindow: 8, sinks: 4, metric: "none", obsWindow: 8, poolWidth: 1, queryReduce: "sum", decodeMetric: false, ranking: "uniform", trigger: "continual", headFloor: 0, valueNorm: false, pyramidBeta: 20 },
  // Heavy hitters: plain attention summed over every query, prompt and decode, every step.
  h2o: { protectedWindow: 8, sinks: 0, metric: "l1", obsWindow: 0, poolWidth: 1, queryReduce: "sum", decodeMetric: true, ranking: "uniform", trigger: "continual", headFloor: 0, valueNorm: false, pyramidBeta: 20 },
  snapkv: { protectedWindow: 8, sinks: 0, metric: "l1", obsWindow: 8, poolWidth: 7, queryReduce: "sum", decodeMetric: false, ranking: "uniform", trigger: "prefill", headFloor: 0, valueNorm: false, pyramidBeta: 20 },
  pyramidkv: { protectedWindow: 8, sinks: 0, metric: "l1", obsWindow: 8, poolWidth: 7, queryReduce: "sum", decodeMetric: false, ranking: "pyramid", trigger: "prefill", headFloor: 0, valueNorm: false, pyramidBeta: 20 },
  // obsWindow 32, no pooling, value-aware, no head floor: chosen by the rule in docs/QUALITY.md
  // (the paper: 8, 7, attention only; the floor is ours and off by default since the third round).
  kvcompress: { protectedWindow: 8, sinks: 0, metric: "l2", obsWindow: 32, poolWidth: 1, queryReduce: "sum", decodeMetric: true, ranking: "global", trigger: "prefill", headFloor: 0, valueNorm: true, pyramidBeta: 20 },
};

function nonNegInt(field: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw new ConfigError(`policy.${field}`, `must be an integer ≥ 0, got ${String(v)}`);
  return v;
}

/**
 * Validates a policy and fills the paper's defaults.
 * @param input - a name and a budget (maxTokensPerHead or ratio), plus any field to override.
 * @throws {ConfigError} on an unknown name, a missing budget, or a bad field.
 * @example
 * ```ts
 * definePolicy({ name: "kvcompress", ratio: 8, protectedWindow: 32 }).metric; // "l2"
 * ```
 */
export function definePolicy(input: PolicyInput): PolicyConfig {
  if (!input || typeof input !== "object") throw new ConfigError("policy", `must be an object like { name: "kvcompress", ratio: 4 }, got ${String(input)}`);
  const name = input.name;
  if (!POLICY_NAMES.includes(name)) throw new ConfigError("policy.name", `must be one of ${POLICY_NAMES.join(", ")}, got ${JSON.stringify(name)}`);
  const d = DEFAULTS[name];
  let budget: Budget | null = null;
  if (input.maxTokensPerHead !== undefined && input.ratio !== undefined) throw new ConfigError("policy", "give maxTokensPerHead or ratio, not both");
  if (input.maxTokensPerHead !== undefined) {
    const c = input.maxTokensPerHead;
    if (!Number.isInteger(c) || c < 1) throw new ConfigError("policy.maxTokensPerHead", `must be an integer ≥ 1, got ${String(c)}`);
    budget = { kind: "tokens", maxTokensPerHead: c };
  } else if (input.ratio !== undefined) {
    const r = input.ratio;
    if (typeof r !== "number" || !Number.isFinite(r) || r < 1) throw new ConfigError("policy.ratio", `must be a number ≥ 1, got ${String(r)}`);
    budget = { kind: "ratio", ratio: r, minTokens: nonNegInt("minTokens", input.minTokens ?? 0) };
  } else if (name !== "full") {
    throw new ConfigError("policy", `${name} needs a budget: maxTokensPerHead or ratio`);
  }
  const metric = input.metric ?? d.metric;
  if (!["none", "l1", "l2"].includes(metric)) throw new ConfigError("policy.metric", `must be "none", "l1" or "l2", got ${String(metric)}`);
  const ranking = input.ranking ?? d.ranking;
  if (!["global", "layer", "uniform", "pyramid"].includes(ranking)) throw new ConfigError("policy.ranking", `must be global, layer, uniform or pyramid, got ${String(ranking)}`);
  const groupReduce = input.groupReduce ?? "sum";
  if (groupReduce !== "sum" && groupReduce !== "max") throw new ConfigError("policy.groupReduce", `must be "sum" or "max", got ${String(groupReduce)}`);
  const queryReduce = input.queryReduce ?? d.queryReduce;
  if (queryReduce !== "sum" && queryReduce !== "avg") throw new ConfigError("policy.queryReduce", `must be "sum" or "avg", got ${String(queryReduce)}`);
  const trigger = input.trigger ?? d.trigger;
  if (trigger !== "prefill" && trigger !== "continual") throw new ConfigError("policy.trigger", `must be "prefill" or "continual", got ${String(trigger)}`);
  const poolWidth = nonNegInt("poolWidth", input.poolWidth ?? d.poolWidth);
  if (poolWidth % 2 !== 1) throw new ConfigError("policy.poolWidth", `must be odd (centred window), got ${poolWidth}`);
  const headFloor = input.headFloor ?? d.headFloor;
  if (typeof headFloor !== "number" || !(headFloor >= 0 && headFloor <= 1)) throw new ConfigError("policy.headFloor", `must be in [0, 1], got ${String(headFloor)}`);
  const valueNorm = input.valueNorm ?? d.valueNorm;
  if (typeof valueNorm !== "boolean") throw new ConfigError("policy.valueNorm", `must be true or false, got ${String(valueNorm)}`);
  const pyramidBeta = input.pyramidBeta ?? d.pyramidBeta;
  if (typeof pyramidBeta !== "number" || !(pyramidBeta >= 1)) throw new ConfigError("policy.pyramidBeta", `must be ≥ 1, got ${String(pyramidBeta)}`);
  return Object.freeze({
    name,
    budget: name === "full" ? null : budget,
    protectedWindow: nonNegInt("protectedWindow", input.protectedWindow ?? d.protectedWindow),
    sinks: nonNegInt("sinks", input.sinks ?? d.sinks),
    metric,
    obsWindow: nonNegInt("obsWindow", input.obsWindow ?? d.obsWindow),
    poolWidth,
    decodeMetric: d.decodeMetric && metric !== "none",
    ranking,
    groupReduce,
    queryReduce,
    trigger,
    headFloor,
    valueNorm: valueNorm && metric !== "none",
    pyramidBeta,
  });
}

/** The metric as the kernels' `metricMode` (0 none, 1 L1, 2 L2; docs/CONTRACTS.md). */
export function metricModeOf(metric: MetricKind): 0 | 1 | 2 {
  return metric === "none" ? 0 : metric === "l1" ? 1 : 2;
}
