// `kvcompress vllm-args` as a subprocess: the printed `vllm serve` line and request fields, the
// --json object, warnings on stderr, and usage errors exiting 2. Expected flags are written by
// hand from the vLLM KV-Compress fork (see test/unit/vllm.test.ts for the citations). Browsers
// cannot spawn processes, so this suite is registered in Node and Deno only.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { runtime } from "../harness/env";

interface Run { code: number; stdout: string; stderr: string }

async function cli(args: string[]): Promise<Run> {
  const { spawn } = (await import("node:child_process" as string)) as typeof import("node:child_process");
  const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
  const [cmd, pre] = deno ? [deno.execPath(), ["run", "-A", "--no-config", "--no-lock"]] : [process.execPath, []];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...pre, "bin/kvcompress.mjs", "vllm-args", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    child.stdout!.on("data", (d: Uint8Array) => { stdout += new TextDecoder().decode(d); });
    child.stderr!.on("data", (d: Uint8Array) => { stderr += new TextDecoder().decode(d); });
    child.on("error", reject);
    child.on("close", (code: number | null) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

if (runtime !== "chromium") {
  const t = suite(`kvcompress vllm-args (${runtime})`);

  t("text: the serve line and the request fields; continual by default, as in generate", async () => {
    const r = await cli(["--ratio", "8", "--prompt-tokens", "6000", "--model", "meta-llama/Llama-3.1-8B-Instruct"]);
    assert.is(r.code, 0, r.stderr);
    // (int(6000 / 8) − 1) // 16 * 16 = 736; protected window 8 → protected_window_size 9;
    // kvcompress's default observation window 32 and no pooling.
    assert.is(r.stdout,
      "vllm serve meta-llama/Llama-3.1-8B-Instruct --enable-kvcompress --enforce-eager --block-size 16 " +
      "--metric-aggregation L2-sum --prefill-metric-collection-window-size 32 --no-maxpool-metrics\n" +
      "request fields (every /v1/completions or /v1/chat/completions body): " +
      '{"max_cache_tokens":736,"protected_window_size":9,"compress_once":false}\n');
    // The default's value norm (docs/QUALITY.md) has no counterpart in the fork; its head floor is 0, as the fork's.
    assert.is(r.stderr,
      "kvcompress: warning: policy.valueNorm: the fork ranks by attention alone; it has no value-norm weighting " +
      "(pass valueNorm: false to match it)\n");
  });

  t("--json: one object; warnings for what the fork lacks, also on stderr in text mode", async () => {
    const r = await cli(["--policy", "snapkv", "--max-cache-tokens", "128", "--once", "--pool-width", "1", "--json"]);
    assert.is(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.serveArgs, [
      "--enable-kvcompress", "--enforce-eager", "--block-size", "16", "--metric-aggregation", "L1-sum",
      "--prefill-metric-collection-window-size", "8", "--no-maxpool-metrics", "--only-prefill-metrics",
    ]);
    assert.equal(out.request, { max_cache_tokens: 128, protected_window_size: 9, compress_once: true });
    assert.equal(out.warnings.map((w: { setting: string }) => w.setting), ["policy.ranking"]);
    const text = await cli(["--policy", "streamingllm", "--max-cache-tokens", "64"]);
    assert.is(text.code, 0, text.stderr);
    assert.match(text.stderr, /warning: policy\.metric: /);
    assert.match(text.stderr, /warning: policy\.sinks: /);
  });

  t("usage errors exit 2 naming the flag", async () => {
    const cases: [string[], RegExp][] = [
      [["--ratio", "2", "--max-cache-tokens", "8"], /give --ratio or --max-cache-tokens, not both/],
      [["--continual", "--once"], /give --continual or --once, not both/],
      [["--pool-width", "4"], /CliUsageError: --pool-width \(policy\.poolWidth\): must be odd/],
      [["--block-size", "64"], /--block-size \(blockSize\): must be one of 8, 16, 32, got 64/],
      [["--prompt-tokens", "0"], /--prompt-tokens \(promptTokens\): must be an integer ≥ 1, got 0/],
      [["--policy", "nope"], /--policy \(policy\.name\): must be one of/],
      [["--frobnicate"], /unknown flag --frobnicate/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      assert.is(r.code, 2, `${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, message, `${args.join(" ")}: ${r.stderr}`);
      assert.is(r.stdout, "", args.join(" "));
    }
  });

  t.run();
}
