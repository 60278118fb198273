// vllmKvcompressSettings against the vLLM KV-Compress fork (IsaacRe/vllm-kvcompress @ 5e2a6394).
// Every expected flag and field is written by hand from the fork's code, cited beside it; none
// is computed by the function under test.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { vllmKvcompressSettings } from "../../src/vllm";
import { defineConfig } from "../../src/config";
import { ConfigError, InvalidArgumentError } from "../../src/errors";
import { PRESETS } from "../../src/presets";

const t = suite("vllm settings");
const settings = vllmKvcompressSettings;
const fields = (s: { warnings: readonly { setting: string }[] }) => s.warnings.map((w) => w.setting);
/** The settings the fork has: no value-norm weighting, no head floor (our kvcompress default has the value norm). */
const FORK = { headFloor: 0, valueNorm: false } as const;

t("kvcompress, C = 128: the default flags, C as is, the window + 1, compress once", () => {
  const s = settings({ policy: { name: "kvcompress", maxTokensPerHead: 128, ...FORK } });
  // vllm/engine/arg_utils.py: --enable-kvcompress (store_true), --block-size {8,16,32},
  // --metric-aggregation L2-sum, --prefill-metric-collection-window-size (our default obsWindow
  // 32), --no-maxpool-metrics (our default poolWidth 1; the fork pools by default). Decode
  // metrics stay on (the fork's default, our decodeMetric).
  assert.equal(s.serveArgs, [
    "--enable-kvcompress", "--enforce-eager", "--block-size", "16",
    "--metric-aggregation", "L2-sum", "--prefill-metric-collection-window-size", "32", "--no-maxpool-metrics",
  ]);
  assert.equal(s.engineArgs, {
    enable_kvcompress: true, enforce_eager: true, block_size: 16,
    metric_aggregation: "L2-sum", prefill_metric_collection_window_size: 32, maxpool_metrics: false,
  });
  // protocol.py CompletionRequest: max_cache_tokens, protected_window_size, compress_once. The
  // scheduler protects positions > (seqLen − 1) − w with the last token not yet cached, so 8
  // cached KVs need w = 9. trigger "prefill" (our default) is compress_once true.
  assert.equal(s.request, { max_cache_tokens: 128, protected_window_size: 9, compress_once: true });
  assert.equal(s.warnings, []);
  assert.ok(Object.isFrozen(s) && Object.isFrozen(s.request) && Object.isFrozen(s.serveArgs));
});

t("ratio budgets become max_cache_tokens from the prompt length, as the fork's scripts compute it", () => {
  // benchmarks/benchmark_throughput.py: max(128, (int(6000 / 8) − 1) // 16 * 16) = max(128, 736);
  // our floor is minTokens (0 here), so 736.
  assert.is(settings({ policy: { name: "kvcompress", ratio: 8 } }, { promptTokens: 6000 }).request.max_cache_tokens, 736);
  // The paper's 64x at 6000 tokens: (93 − 1) // 16 * 16 = 80, lifted to 128 by minTokens 128.
  assert.is(settings({ policy: { name: "kvcompress", ratio: 64, minTokens: 128 } }, { promptTokens: 6000 }).request.max_cache_tokens, 128);
  // Block size 32, 1000 tokens at 4x: 250 − 1 = 249, down to a multiple of 32 = 224.
  assert.is(settings({ policy: { name: "kvcompress", ratio: 4 }, blockSize: 32 }, { promptTokens: 1000 }).request.max_cache_tokens, 224);
  // No prompt length: no field, and a warning giving the formula.
  const s = settings({ policy: { name: "kvcompress", ratio: 8, trigger: "continual", ...FORK } });
  assert.equal(s.request, { protected_window_size: 9, compress_once: false });
  assert.equal(fields(s), ["policy.ratio"]);
  assert.match(s.warnings[0].message, /floor\(promptTokens \/ 8\) − 1/);
});

t("a KvCacheConfig carries block size, context and sequences to --block-size, --max-model-len, --max-num-seqs", () => {
  const cfg = defineConfig({
    ...PRESETS["llama-3.1-8b"], blockSize: 32, capacityTokens: 4096, maxSeqs: 4, maxContextTokens: 19000,
    policy: { name: "kvcompress", maxTokensPerHead: 256, protectedWindow: 31, obsWindow: 32, ...FORK },
  });
  const s = settings(cfg);
  assert.equal(s.serveArgs, [
    "--enable-kvcompress", "--enforce-eager", "--block-size", "32", "--max-model-len", "19000", "--max-num-seqs", "4",
    "--metric-aggregation", "L2-sum", "--prefill-metric-collection-window-size", "32", "--no-maxpool-metrics",
  ]);
  assert.equal(s.request, { max_cache_tokens: 256, protected_window_size: 32, compress_once: true });
});

t("h2o: L1, every prompt query (window = max-model-len), no pooling, continual; uniform ranking warned", () => {
  const s = settings({ policy: { name: "h2o", maxTokensPerHead: 64 }, maxContextTokens: 8192 });
  // flash_attn.py _naive_kvc_attention scores the last min(promptLen, N) queries: N = 8192 is all.
  assert.equal(s.serveArgs, [
    "--enable-kvcompress", "--enforce-eager", "--block-size", "16", "--max-model-len", "8192",
    "--metric-aggregation", "L1-sum", "--prefill-metric-collection-window-size", "8192", "--no-maxpool-metrics",
  ]);
  assert.equal(s.request, { max_cache_tokens: 64, protected_window_size: 9, compress_once: false });
  assert.equal(fields(s), ["policy.ranking"]);
  // Without a context length the window cannot be "all": warned, no flag.
  const s2 = settings({ policy: { name: "h2o", maxTokensPerHead: 64 } });
  assert.not.ok(s2.serveArgs.includes("--prefill-metric-collection-window-size"));
  assert.equal(fields(s2), ["policy.obsWindow", "policy.ranking"]);
});

t("snapkv and pyramidkv: prefill-only metrics (--only-prefill-metrics), their rankings warned", () => {
  const snap = settings({ policy: { name: "snapkv", maxTokensPerHead: 128 } });
  assert.equal(snap.serveArgs.slice(4), ["--metric-aggregation", "L1-sum", "--prefill-metric-collection-window-size", "8", "--only-prefill-metrics"]);
  assert.equal(snap.engineArgs.record_decoding_metrics, false);
  assert.equal(fields(snap), ["policy.ranking"]);
  const pyr = settings({ policy: { name: "pyramidkv", maxTokensPerHead: 128 } });
  assert.equal(fields(pyr), ["policy.ranking"]);
  assert.match(pyr.warnings[0].message, /"pyramid"/);
});

t("streamingllm: no recency order and no sinks in the fork, so no metric flags and three warnings", () => {
  const s = settings({ policy: { name: "streamingllm", maxTokensPerHead: 64 } });
  assert.equal(s.serveArgs, ["--enable-kvcompress", "--enforce-eager", "--block-size", "16"]);
  assert.equal(s.request, { max_cache_tokens: 64, protected_window_size: 9, compress_once: false });
  assert.equal(fields(s), ["policy.metric", "policy.ranking", "policy.sinks"]);
});

t("settings without an equivalent are warned; the pool width 1 and 7 map", () => {
  const base = { name: "kvcompress" as const, maxTokensPerHead: 128, ...FORK };
  assert.equal(fields(settings({ policy: { ...base, groupReduce: "max" } })), ["policy.groupReduce"]);
  assert.equal(fields(settings({ policy: { ...base, poolWidth: 5 } })), ["policy.poolWidth"]);
  assert.equal(fields(settings({ policy: { ...base, ranking: "layer" } })), ["policy.ranking"]);
  assert.equal(fields(settings({ policy: { ...base, sinks: 4 } })), ["policy.sinks"]);
  assert.ok(settings({ policy: { ...base, poolWidth: 1 } }).serveArgs.includes("--no-maxpool-metrics"));
  // sampling_params.py _verify_args: ValueError when protected_window_size > max_cache_tokens.
  // Window 15 → 16 ≤ 16 passes; window 16 → 17 > 16 is rejected.
  assert.equal(fields(settings({ policy: { ...base, maxTokensPerHead: 16, protectedWindow: 15 } })), []);
  assert.equal(fields(settings({ policy: { ...base, maxTokensPerHead: 16, protectedWindow: 16 } })), ["policy.protectedWindow"]);
});

t("our kvcompress default's value norm has no fork equivalent: warned, flags unchanged; a head floor is warned too", () => {
  const s = settings({ policy: { name: "kvcompress", maxTokensPerHead: 128 } });
  assert.equal(fields(s), ["policy.valueNorm"]);
  assert.equal(fields(settings({ policy: { name: "kvcompress", maxTokensPerHead: 128, headFloor: 1 } })), ["policy.valueNorm", "policy.headFloor"]);
  assert.equal(s.serveArgs, settings({ policy: { name: "kvcompress", maxTokensPerHead: 128, ...FORK } }).serveArgs);
  assert.equal(fields(settings({ policy: { name: "kvcompress", maxTokensPerHead: 128, headFloor: 0.5, valueNorm: false } })), ["policy.headFloor"]);
});

t("full needs nothing from the fork", () => {
  assert.equal(settings({ policy: { name: "full" } }), { serveArgs: [], engineArgs: {}, request: {}, warnings: [] });
});

t("bad input: named errors naming the field", () => {
  const throwsNamed = (fn: () => unknown, cls: Function, field: string) => {
    try { fn(); } catch (e) {
      assert.instance(e, cls);
      assert.is((e as { field: string }).field, field);
      return;
    }
    assert.unreachable(`expected ${cls.name} on ${field}`);
  };
  const policy = { name: "kvcompress" as const, ratio: 4 };
  throwsNamed(() => settings({ policy, blockSize: 64 }), ConfigError, "blockSize");
  throwsNamed(() => settings({ policy, maxSeqs: 0 }), ConfigError, "maxSeqs");
  throwsNamed(() => settings({ policy, maxContextTokens: 1.5 }), ConfigError, "maxContextTokens");
  throwsNamed(() => settings({ policy: { name: "nope" as "full" } }), ConfigError, "policy.name");
  throwsNamed(() => settings({ policy }, { promptTokens: 0 }), InvalidArgumentError, "promptTokens");
  throwsNamed(() => settings(null as never), ConfigError, "config");
});

t.run();
