// Real models on the compressed cache (issue 7), on the GPU and the CPU backend: with policy
// full at temperature 0 both shared models reproduce reference.json exactly and the 512-token
// window NLL to 1e-3; with kvcompress at ratio 4 generation runs past the compression.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { CachedSequence, createKvCache, generate, loadModel, type KvCache, type LoadedModel, type PolicyInput } from "../../sdk/index";
import { readSharedText, sharedModelSource, testDevice } from "../harness/env";

const MODELS = {
  stories260K: { llama2c: { checkpoint: "stories260K.bin", tokenizer: "tok512.bin" } },
  "tinystories-656K": { llama2c: undefined },
} as const;

const loaded = new Map<string, Promise<LoadedModel>>();
function model(id: keyof typeof MODELS): Promise<LoadedModel> {
  if (!loaded.has(id)) loaded.set(id, loadModel(sharedModelSource(id), { llama2c: MODELS[id].llama2c }));
  return loaded.get(id)!;
}

async function cacheFor(m: LoadedModel, backend: "gpu" | "cpu", policy: PolicyInput, maxContextTokens = 512): Promise<KvCache> {
  const c = m.model.config;
  return createKvCache({
    numLayers: c.numLayers, numQHeads: c.numQHeads, numKvHeads: c.numKvHeads, headSize: c.headSize,
    storage: "f32", maxSeqs: 1, maxContextTokens, capacityTokens: maxContextTokens, policy,
  }, backend === "gpu" ? { device: await testDevice() } : { backend: "cpu" });
}

for (const backend of ["gpu", "cpu"] as const) {
  const t = suite(`models on the cache (${backend})`);

  for (const id of Object.keys(MODELS) as (keyof typeof MODELS)[]) {
    t(`${id}: full policy reproduces the reference greedy ids`, async () => {
      const ref = JSON.parse(await readSharedText(`models/${id}/reference.json`));
      const m = await model(id);
      const cache = await cacheFor(m, backend, { name: "full" }, 64);
      try {
        const out = await generate(m.model, new CachedSequence(cache, cache.addSequence()), ref.greedy_from_bos.prompt_ids, { maxNewTokens: ref.greedy_from_bos.steps });
        assert.equal(out.ids, ref.greedy_from_bos.ids);
      } finally {
        cache.destroy();
      }
    });

    t(`${id}: full policy matches the 512-token window NLL to 1e-3`, async () => {
      const ref = JSON.parse(await readSharedText(`models/${id}/reference.json`));
      const m = await model(id);
      const text = (await readSharedText("data/tinystories-val/tinystories_val.txt")).slice(0, 4000);
      const ids = m.tokenizer.encode(text).slice(0, 512);
      assert.equal(ids.slice(0, 16), ref.tinystories_val_window.first_16_ids);
      const cache = await cacheFor(m, backend, { name: "full" });
      try {
        const logits = await m.model.forward(ids, new CachedSequence(cache, cache.addSequence()), { allLogits: true });
        const V = m.model.config.vocabSize;
        let nll = 0;
        for (let t = 0; t < 511; t++) {
          const row = logits.subarray(t * V, (t + 1) * V);
          let mx = -Infinity;
          for (const x of row) mx = Math.max(mx, x);
          let z = 0;
          for (const x of row) z += Math.exp(x - mx);
          nll += Math.log(z) + mx - row[ids[t + 1]];
        }
        const mean = nll / 511;
        assert.ok(Math.abs(mean - ref.tinystories_val_window.mean_nll_nats_over_511_predictions) < 1e-3, `NLL ${mean} vs ${ref.tinystories_val_window.mean_nll_nats_over_511_predictions}`);
      } finally {
        cache.destroy();
      }
    });
  }

  t("stories260K: kvcompress at ratio 4 generates past the compression", async () => {
    const m = await model("stories260K");
    // 300 prompt tokens: at ratio 4 each head keeps floor_16(300/4 − 1) = 64 KVs (4 blocks).
    const text = (await readSharedText("data/tinystories-val/tinystories_val.txt")).slice(0, 1200);
    const prompt = m.tokenizer.encode(text).slice(0, 300);
    // headFloor 0 (the default): the paper's free global ranking, so the heads' shares differ (a floor of 1 makes them equal)
    const cache = await cacheFor(m, backend, { name: "kvcompress", ratio: 4, headFloor: 0 });
    try {
      const seq = new CachedSequence(cache, cache.addSequence());
      const out = await generate(m.model, seq, prompt, { maxNewTokens: 16 });
      const s = cache.stats().sequences[0];
      assert.is(out.ids.length, prompt.length + 16);
      assert.ok(out.ids.every((x) => Number.isInteger(x) && x >= 0 && x < m.model.config.vocabSize));
      assert.ok(s.passes > 0, "compressed once after the prompt");
      assert.ok(s.bytesInUse * 3 <= s.bytesUncompressed, `${s.bytesInUse} in use vs ${s.bytesUncompressed} uncompressed`);
      assert.ok(new Set(s.keptPerHead).size > 1, `keptPerHead not uniform: ${s.keptPerHead}`);
    } finally {
      cache.destroy();
    }
  });

  t.run();
}
