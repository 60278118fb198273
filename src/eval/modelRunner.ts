// The real WindowRunner: a Llama model whose attention goes through a KvCache (GPU or CPU),
// following docs/METHOD.md §5 step by step. One cache per (policy, ratio, mode), reused across
// windows: each window is one sequence, removed when the window ends.
import { ConfigError } from "../errors";
import type { KvCache } from "../cache";
import type { LlamaModel } from "../model/llama";
import type { PolicyInput } from "../policies";
import { CachedSequence } from "../model/cachedSequence";
import { blockBytes } from "../config";
import { parseVariant } from "./variants";
import type { PolicyRun, WindowRunner } from "./run";

/** Makes a cache for the model with the given policy (the caller picks backend and storage);
 *  `reference` is true for the full-cache reference run, which the caller keeps in f32 so that
 *  quantized storage is measured against the unquantized model. */
export type CacheFactory = (policy: PolicyInput, maxContextTokens: number, reference?: boolean) => Promise<KvCache>;

/** Turns an eval policy name (with its ablations) and a per-head budget into a PolicyInput. */
export function evalPolicyInput(name: string, maxTokensPerHead: number, mode: "once" | "continual", protectedWindow?: number): PolicyInput {
  const pw = protectedWindow !== undefined ? { protectedWindow } : {};
  const trigger = mode === "continual" ? "continual" as const : "prefill" as const;
  const base = { maxTokensPerHead, trigger, ...pw };
  // The kvcompress-* ablations change one setting of the PAPER's kvcompress (w 8, pool 7), so the
  // tables measured with them stay reproducible after the default changed (docs/QUALITY.md).
  const paper = { name: "kvcompress" as const, obsWindow: 8, poolWidth: 7, headFloor: 0, valueNorm: false, ...base };
  switch (name) {
    case "full": return { name: "full" };
    case "kvcompress-l1": return { ...paper, metric: "l1" };
    case "kvcompress-perhead": return { ...paper, groupReduce: "max" };
    case "kvcompress-perlayer": return { ...paper, ranking: "layer" };
    case "kvcompress-w32": return { ...paper, obsWindow: 32 };
    case "kvcompress-wall": return { ...paper, obsWindow: 0 };
    case "streamingllm": case "h2o": case "snapkv": case "pyramidkv": case "kvcompress":
      return { name, ...base };
    default: {
      const v = parseVariant(name);
      if (v === null) throw new ConfigError("policy", `unknown eval policy ${name}`);
      return { name: v.name, ...base, ...v.overrides };
    }
  }
}

/** A LlamaModel, or an engine's forward pass (Engine.windowModel()), over a CachedSequence. */
export type WindowForward = Pick<LlamaModel, "config"> & {
  forward(tokens: readonly number[], seq: CachedSequence, options?: { allLogits?: boolean }): Promise<Float32Array>;
};

export function createModelWindowRunner(model: WindowForward, makeCache: CacheFactory, opts: { protectedWindow?: number } = {}): WindowRunner & { destroy(): void } {
  const caches = new Map<string, KvCache>();
  const c = model.config;
  async function cacheFor(key: string, policy: PolicyInput, windowTokens: number, reference = false): Promise<KvCache> {
    let cache = caches.get(key);
    if (!cache) {
      cache = await makeCache(policy, windowTokens, reference);
      caches.set(key, cache);
    }
    return cache;
  }
  function keptCounts(cache: KvCache, seqId: number): { kept: number; perHead: number[][]; bytesRelF16: number } {
    const s = cache.stats().sequences.find((x) => x.seqId === seqId)!;
    const perHead = Array.from({ length: c.numLayers }, (_, l) => Array.from(s.keptPerHead.subarray(l * c.numKvHeads, (l + 1) * c.numKvHeads)));
    // bytesUncompressed is the full cache in this cache's storage: rescale it to f16 blocks
    const f16Full = s.bytesUncompressed * blockBytes({ ...cache.config, storage: "f16" }) / blockBytes(cache.config);
    return { kept: s.keptKvs, perHead, bytesRelF16: s.bytesInUse / f16Full };
  }
  async function prefixPositions(cache: KvCache, seqId: number, prefix: number): Promise<Uint32Array[][]> {
    const out: Uint32Array[][] = [];
    for (let l = 0; l < c.numLayers; l++) {
      out.push([]);
      for (let h = 0; h < c.numKvHeads; h++) out[l].push((await cache.readHead(l, seqId, h)).positions.filter((p) => p < prefix));
    }
    return out;
  }
  return {
    async runFull(window, prefix) {
      const cache = await cacheFor("full", { name: "full" }, window.length, true);
      const seq = new CachedSequence(cache, cache.addSequence());
      try {
        // Tokens 0..T−2 in one pass; rows P−1..T−2 predict tokens P..T−1.
        const logits = await model.forward(Array.from(window.subarray(0, window.length - 1)), seq, { allLogits: true });
        const rows: Float32Array[] = [];
        for (let t = prefix - 1; t < window.length - 1; t++) rows.push(logits.slice(t * c.vocabSize, (t + 1) * c.vocabSize));
        return rows;
      } finally {
        cache.removeSequence(seq.seqId);
      }
    },
    async runFutureMass(window, prefix) {
      // L1 with pool 1 and obsWindow 1 scores the last prompt query; every decode step adds its
      // own: the metric is then the mass of exactly the queries that make the predictions. The
      // budget holds the whole window, so nothing is evicted (the full cache's attention).
      const T = window.length;
      const input: PolicyInput = { name: "kvcompress", metric: "l1", obsWindow: 1, poolWidth: 1, maxTokensPerHead: T, trigger: "prefill" };
      const cache = await cacheFor("future-mass", input, T);
      const seq = new CachedSequence(cache, cache.addSequence());
      try {
        await model.forward(Array.from(window.subarray(0, prefix)), seq);
        for (let t = prefix; t < T - 1; t++) await model.forward([window[t]], seq);
        const out: Float64Array[][] = [];
        for (let l = 0; l < c.numLayers; l++) {
          out.push([]);
          for (let h = 0; h < c.numKvHeads; h++) {
            const { positions, metrics } = await cache.readHead(l, seq.seqId, h);
            const m = new Float64Array(prefix);
            positions.forEach((p, i) => { if (p < prefix) m[p] = metrics[i]; });
            out[l].push(m);
          }
        }
        return out;
      } finally {
        cache.removeSequence(seq.seqId);
      }
    },
    async runPolicy(window, prefix, policy, ratio, mode, withPositions): Promise<PolicyRun> {
      // R keeps 1/R of the P prefix KVs per head; R = 1 keeps all of them (no eviction at all).
      const maxTokensPerHead = Math.max(1, Math.round(prefix / ratio));
      const input = ratio <= 1 ? { name: "full" as const } : evalPolicyInput(policy, maxTokensPerHead, mode, opts.protectedWindow);
      const cache = await cacheFor(`${policy}@${ratio}/${mode}`, input, window.length);
      const seq = new CachedSequence(cache, cache.addSequence());
      try {
        const rows: Float32Array[] = [await model.forward(Array.from(window.subarray(0, prefix)), seq)];
        let counted = keptCounts(cache, seq.seqId);
        const keptPositions = withPositions && mode === "once" ? await prefixPositions(cache, seq.seqId, prefix) : undefined;
        for (let t = prefix; t < window.length - 1; t++) rows.push(await model.forward([window[t]], seq));
        if (mode === "continual") counted = keptCounts(cache, seq.seqId);
        const totalTokens = mode === "continual" ? window.length - 1 : prefix;
        return {
          logits: rows, keptPrefixKvs: counted.kept, totalPrefixKvs: totalTokens * c.numLayers * c.numKvHeads,
          keptPerHead: counted.perHead, bytesRelF16: counted.bytesRelF16, ...(keptPositions ? { keptPositions } : {}),
        };
      } finally {
        cache.removeSequence(seq.seqId);
      }
    },
    destroy() {
      for (const cache of caches.values()) cache.destroy();
      caches.clear();
    },
  };
}
