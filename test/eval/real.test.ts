// Issue 8's harness check on the real models (Node runtime): 2 windows, ratios 1, 2 and 8,
// every policy, both shared models, CPU backend. full against itself and every policy at
// ratio 1 give KL 0, ΔNLL 0, top-1 1; at ratio 8 every policy keeps about an eighth of the
// KVs with KL above 0; the JSON the CLI prints has every field.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createKvCache, loadModel } from "../../sdk/index";
import { checkHarness } from "../../src/eval/check";
import { createModelWindowRunner } from "../../src/eval/modelRunner";
import { runEval } from "../../src/eval/run";
import { readSharedText, runtime, sharedModelSource } from "../harness/env";

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
        const json = JSON.parse(JSON.stringify({ model: r.model, text: r.text, windows: r.windows, tokens: r.tokens, results: r.results }));
        for (const k of ["model", "text", "windows", "tokens", "results"]) assert.ok(k in json, k);
        for (const row of json.results) for (const k of ["policy", "ratio", "achievedRatio", "nll", "deltaNll", "kl", "top1"]) assert.ok(k in row, `results[].${k}`);
      } finally {
        runner.destroy();
      }
    });
  }
  t.run();
}
