// Flags of `kvcompress eval` (issue 8). Parsing is pure (argv in, object out) so the CLI, the
// tests and any other front end share one set of rules and one set of error messages.
import { KvCompressError } from "../errors";
import { parseVariant, VARIANT_PARTS } from "./variants";

/** Bad command-line input; the message names the flag, the value and what is allowed. The CLI prints it and exits 2. */
export class UsageError extends KvCompressError {
  constructor(readonly flag: string, detail: string) {
    super(`${flag}: ${detail}`);
  }
}

/**
 * Policies `eval` knows, with what each one measures. The first six are docs/METHOD.md §2.6; the
 * `kvcompress-*` ablations each change ONE part of kvcompress (issue 8, "the ablations that
 * tell the parts apart"), so a KL difference is attributable to that part.
 */
export const EVAL_POLICIES = {
  full: "no eviction (the reference; evaluated through the prefill+decode path as a harness check)",
  streamingllm: "sinks + most recent window",
  h2o: "accumulated plain attention (L1) over all queries, uniform budget per head",
  snapkv: "observation-window attention + pooling, uniform budget per head",
  pyramidkv: "snapkv with budgets decreasing over layers",
  kvcompress: "squared attention (L2) of the last 32 prompt queries, unpooled, summed over the query group, times the value norm, one ranking across all layers and heads",
  "kvcompress-l1": "the paper's kvcompress (8 queries, pool 7) with the plain-sum (L1) metric instead of L2",
  "kvcompress-perhead": "the paper's kvcompress scoring per query head (max over the group) instead of the group sum",
  "kvcompress-perlayer": "the paper's kvcompress ranking heads within each layer (equal budget per layer) instead of globally",
  "kvcompress-w32": "the paper's kvcompress with a 32-query observation window (the reference code's) instead of 8",
  "kvcompress-wall": "the paper's kvcompress scored by every prompt query (as h2o is) instead of the last 8",
} as const;

/** A named policy, or a variant `base+setting+…` (src/eval/variants.ts). */
export type EvalPolicy = keyof typeof EVAL_POLICIES | `${string}+${string}`;
export type EvalMode = "once" | "continual";
/** "auto": WebGPU on a hardware adapter, else the CPU backend (createKvCache's rule). */
export type EvalBackend = "auto" | "gpu" | "cpu";

/** Parsed `kvcompress eval` flags. */
export interface EvalArgs {
  /** Model path, URL or id (`--model`, required). */
  model: string;
  /** Text file to evaluate on (`--text`, required). */
  text: string;
  /** T: tokens per window including BOS (`--window`, default 512). */
  windowTokens: number;
  /** P: prefix tokens prefilled before compression (`--prefix`, default 384, < T). */
  prefixTokens: number;
  /** N: number of windows (`--windows`, default 64, the minimum issue 8 publishes). */
  numWindows: number;
  /** Policies in the order given (`--policies`); `full` is always run as the reference anyway. */
  policies: EvalPolicy[];
  /** Nominal compression ratios R ≥ 1 (`--ratios`, default 2,4,8,16); R = 1 is the harness check. */
  ratios: number[];
  /** `once`: compress once after the prefix (default); `continual`: keep the budget while decoding. */
  mode: EvalMode;
  backend: EvalBackend;
  /** KV storage of every cache (`--storage f32|f16|q8|q4`, default f32); rows report bytes against f16. */
  storage: EvalStorage;
  /** Tokens never evicted at the end of the sequence (`--protected-window`); undefined = policy default. */
  protectedWindow: number | undefined;
  /** Print the result as one JSON object on stdout. */
  json: boolean;
  /** Mode once: also measure each head's attention-mass recall (`--recall`; one more full run per window). */
  recall: boolean;
  /** Directory for the Markdown table and SVG plots (`--out`); undefined = none. */
  outDir: string | undefined;
  help: boolean;
}

export const EVAL_DEFAULTS = {
  windowTokens: 512,
  prefixTokens: 384,
  numWindows: 64,
  policies: ["full", "streamingllm", "h2o", "snapkv", "pyramidkv", "kvcompress"] as EvalPolicy[],
  ratios: [2, 4, 8, 16],
  mode: "once" as EvalMode,
  backend: "auto" as EvalBackend,
  storage: "f32" as EvalStorage,
};

export type EvalStorage = "f32" | "f16" | "q8" | "q4";

export const EVAL_USAGE = `usage: kvcompress eval --model PATH|ID --text FILE [--window 512] [--prefix 384] [--windows 64]
         [--policies ${EVAL_DEFAULTS.policies.join(",")}] [--ratios 2,4,8,16]
         [--mode once|continual] [--backend auto|gpu|cpu] [--storage f32|f16|q8|q4] [--protected-window W] [--recall] [--json]
         [--out DIR]
policies: ${Object.keys(EVAL_POLICIES).join(", ")}
  or a variant POLICY+SETTING+…, settings: ${VARIANT_PARTS.join(", ")}`;

const VALUE_FLAGS = ["--model", "--text", "--window", "--prefix", "--windows", "--policies", "--ratios", "--mode", "--backend", "--storage", "--protected-window", "--out"] as const;
const BOOL_FLAGS = ["--json", "--recall", "--help", "-h"] as const;

/**
 * Parses the arguments that follow `kvcompress eval`. Accepts `--flag value` and `--flag=value`.
 * @example parseEvalArgs(["--model", "stories260K", "--text", "val.txt", "--ratios", "2,8"])
 * @throws UsageError on an unknown flag, a missing or malformed value, an unknown policy,
 *   a ratio < 1, prefix ≥ window, or a missing --model / --text
 */
export function parseEvalArgs(argv: readonly string[]): EvalArgs {
  const raw = new Map<string, string>();
  let json = false;
  let recall = false;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if ((BOOL_FLAGS as readonly string[]).includes(flag)) {
      if (eq > 0) throw new UsageError(flag, "takes no value");
      if (flag === "--json") json = true;
      else if (flag === "--recall") recall = true;
      else help = true;
      continue;
    }
    if (!(VALUE_FLAGS as readonly string[]).includes(flag)) {
      throw new UsageError(flag, `unknown ${flag.startsWith("-") ? "flag" : "argument"}\n${EVAL_USAGE}`);
    }
    if (raw.has(flag)) throw new UsageError(flag, "given twice");
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      // A following flag is not a value: `--out --json` is a forgotten DIR, not a dir named "--json".
      if (value === undefined || value.startsWith("--")) throw new UsageError(flag, "needs a value");
      i++;
    }
    if (value === "") throw new UsageError(flag, "needs a non-empty value");
    raw.set(flag, value);
  }
  if (help) return { ...defaults(), help: true };
  const model = raw.get("--model");
  const text = raw.get("--text");
  if (model === undefined) throw new UsageError("--model", `is required\n${EVAL_USAGE}`);
  if (text === undefined) throw new UsageError("--text", `is required\n${EVAL_USAGE}`);

  const windowTokens = intFlag(raw, "--window", EVAL_DEFAULTS.windowTokens, 2);
  const prefixTokens = intFlag(raw, "--prefix", EVAL_DEFAULTS.prefixTokens, 1);
  if (prefixTokens >= windowTokens) {
    throw new UsageError("--prefix", `must be < --window (${windowTokens}) so at least one token is predicted after compression, got ${prefixTokens}`);
  }
  const protectedRaw = raw.get("--protected-window");
  return {
    model,
    text,
    windowTokens,
    prefixTokens,
    numWindows: intFlag(raw, "--windows", EVAL_DEFAULTS.numWindows, 1),
    policies: parsePolicies(raw.get("--policies")),
    ratios: parseRatios(raw.get("--ratios")),
    mode: choice(raw, "--mode", ["once", "continual"] as const, EVAL_DEFAULTS.mode),
    backend: choice(raw, "--backend", ["auto", "gpu", "cpu"] as const, EVAL_DEFAULTS.backend),
    storage: choice(raw, "--storage", ["f32", "f16", "q8", "q4"] as const, EVAL_DEFAULTS.storage),
    protectedWindow: protectedRaw === undefined ? undefined : intFlag(raw, "--protected-window", 0, 0),
    json,
    recall,
    outDir: raw.get("--out"),
    help: false,
  };
}

function defaults(): EvalArgs {
  return {
    model: "", text: "", ...EVAL_DEFAULTS, policies: [...EVAL_DEFAULTS.policies], ratios: [...EVAL_DEFAULTS.ratios],
    protectedWindow: undefined, json: false, recall: false, outDir: undefined, help: false,
  };
}

/** Whether `name` is a policy `eval` can run. */
export function isEvalPolicy(name: string): name is EvalPolicy {
  return Object.prototype.hasOwnProperty.call(EVAL_POLICIES, name) || parseVariant(name) !== null;
}

function parsePolicies(value: string | undefined): EvalPolicy[] {
  if (value === undefined) return [...EVAL_DEFAULTS.policies];
  const names = value.split(",").map((s) => s.trim());
  const out: EvalPolicy[] = [];
  for (const name of names) {
    if (name === "") throw new UsageError("--policies", `empty name in "${value}"`);
    if (!isEvalPolicy(name)) throw new UsageError("--policies", `unknown policy "${name}"; known: ${Object.keys(EVAL_POLICIES).join(", ")}`);
    if (out.includes(name)) throw new UsageError("--policies", `"${name}" listed twice`);
    out.push(name);
  }
  return out;
}

function parseRatios(value: string | undefined): number[] {
  if (value === undefined) return [...EVAL_DEFAULTS.ratios];
  const out: number[] = [];
  for (const part of value.split(",")) {
    const s = part.trim();
    // Number("") is 0 and Number("0x10") is 16: insist on a plain decimal.
    const r = /^-?\d+(\.\d+)?$/.test(s) ? Number(s) : NaN;
    if (!Number.isFinite(r)) throw new UsageError("--ratios", `"${s}" is not a number`);
    // R is "keep 1/R of the prefix KVs": R < 1 would keep more KVs than exist, R = 1 keeps all.
    if (r < 1) throw new UsageError("--ratios", `each ratio must be ≥ 1 (1 = no compression), got ${s}`);
    if (out.includes(r)) throw new UsageError("--ratios", `${s} listed twice`);
    out.push(r);
  }
  return out.sort((a, b) => a - b);
}

function intFlag(raw: Map<string, string>, flag: string, fallback: number, min: number): number {
  const s = raw.get(flag);
  if (s === undefined) return fallback;
  if (!/^-?\d+$/.test(s)) throw new UsageError(flag, `must be an integer, got "${s}"`);
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(flag, `must be an integer ≥ ${min}, got ${s}`);
  return n;
}

function choice<T extends string>(raw: Map<string, string>, flag: string, allowed: readonly T[], fallback: T): T {
  const s = raw.get(flag);
  if (s === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(s)) throw new UsageError(flag, `must be one of ${allowed.join(", ")}, got "${s}"`);
  return s as T;
}
