// The eval harness on the real models (Node runtime): 2 windows, ratios 1, 2 and 8, every
// policy, both shared models, CPU backend. full against itself and every policy at ratio 1 give
// KL 0, ΔNLL 0, top-1 1; at ratio 8 every policy keeps about an eighth of the KVs with KL above 0;
// and the JSON that `kvcompress eval --json` really prints (the built CLI as a subprocess) has
// every field, with values that agree with the harness run in this process.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createKvCache, loadModel } from "../../sdk/index";
import { checkHarness } from "../../src/eval/check";
import { createModelWindowRunner } from "../../src/eval/modelRunner";
import { runEval } from "../../src/eval/run";
import { readSharedText, runtime, sharedBase, sharedModelSource } from "../harness/env";

/** Runs the built CLI (bin/kvcompress.mjs → dist/cli.mjs) in Node and returns what it printed. */
async function cliJson(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { spawn } = (await import("node:child_process" as string)) as typeof import("node:child_process");
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["bin/kvcompress.mjs", ...args], {
      env: { ...process.env, KVCOMPRESS_MODELS: `${sharedBase()}/models` }, stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "", stderr = "";
    child.stdout!.on("data", (d: Uint8Array) => { stdout += new TextDecoder().decode(d); });
    child.stderr!.on("data", (d: Uint8Array) => { stderr += new TextDecoder().decode(d); });
    child.on("error", reject);
    child.on("close", (code: number | null) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const POLICIES = ["full", "streamingllm", "h2o", "snapkv", "pyramidkv", "kvcompress"];

if (runtime === "node") {
  const t = suite("eval harness on the real models");
  for (const id of ["stories260K", "tinystories-656K"]) {
    t(`${id}: 2 windows, ratios 1, 2, 8`, async () => {
      const { model, tokenizer } = await loadModel(sharedModelSource(id), { llama2c: { checkpoint: "stories260K.bin", tokenizer: "tok512.bin" } });
      const text = (await readSharedText("data/tinystories-val/tinystories_val.txt")).slice(0, 12000);
      const c = model.config;
      const runner = createModelWindowRunner(model, (policy, maxContextTokens) => createKvCache({
        numLayers: c.numLayers, numQHeads: c.numQHeads, numKvHeads: c.numKvHeads, headSize: c.headSize,
        blockSize: 8, storage: "f32", maxSeqs: 1, maxContextTokens, capacityTokens: maxContextTokens, policy,
      }, { backend: "cpu" }));
      try {
        const r = await runEval({
          model: id, text: "tinystories_val.txt", tokenIds: tokenizer.encode(text, { bos: false }), bosId: tokenizer.bosId,
          windowTokens: 512, prefixTokens: 384, numWindows: 2, policies: POLICIES, ratios: [1, 2, 8], mode: "once",
        }, runner);
        assert.is(r.windows, 2);
        assert.equal(checkHarness(r), [], "harness problems");
        for (const p of POLICIES.slice(1)) {
          const at8 = r.results.find((x) => x.policy === p && x.ratio === 8)!;
          assert.ok(Math.abs(at8.achievedRatio - 1 / 8) < 0.02, `${p}@8 keeps ${at8.achievedRatio}`);
          assert.ok(at8.kl > 0, `${p}@8 KL ${at8.kl}`);
          for (const ratio of [1, 2]) assert.ok(r.results.some((x) => x.policy === p && x.ratio === ratio), `${p}@${ratio} present`);
        }
        if (id === "stories260K") {
          const run = await cliJson(["eval", "--model", id, "--text", `${sharedBase()}/data/tinystories-val/tinystories_val.txt`,
            "--windows", "1", "--policies", "full,kvcompress", "--ratios", "8", "--backend", "cpu", "--json"]);
          assert.is(run.code, 0, run.stderr);
          const json = JSON.parse(run.stdout);
          for (const k of ["model", "text", "windows", "tokens", "results"]) assert.ok(k in json, k);
          assert.is(json.model, id);
          assert.is(json.windows, 1);
          assert.is(json.results.length, 2, "full and kvcompress at ratio 8");
          for (const row of json.results) {
            for (const k of ["policy", "ratio", "achievedRatio", "nll", "deltaNll", "kl", "top1"]) assert.ok(k in row, `results[].${k}`);
          }
          const kv = json.results.find((x: { policy: string }) => x.policy === "kvcompress");
          assert.ok(kv && kv.kl > 0 && Math.abs(kv.achievedRatio - 1 / 8) < 0.02, `CLI kvcompress@8: ${JSON.stringify(kv)}`);
        }
      } finally {
        runner.destroy();
      }
    });
  }
  t.run();
}
