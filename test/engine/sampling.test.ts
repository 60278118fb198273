// Sampled generation (temperature + top-p, seeded) on the GPU engine, where the token is drawn on
// the device from the same uniform numbers the host draws: the same ids as the CPU engine, which
// samples on the host with sampleToken, for the same seed; and a different seed gives other ids.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { loadEngine } from "../../sdk/index";
import { sharedModelSource, testDevice } from "../harness/env";

const t = suite("engine: seeded sampling on the GPU matches the host's");

t("stories260K, T = 0.9 / topP 0.9 and T = 2 / topP 0.95: GPU ids equal CPU ids for the same seed", async () => {
  const opts = { llama2c: { checkpoint: "stories260K.bin", tokenizer: "tok512.bin" }, policy: { name: "full" as const }, maxContextTokens: 64 };
  const gpu = await loadEngine(sharedModelSource("stories260K"), { ...opts, device: await testDevice() });
  const cpu = await loadEngine(sharedModelSource("stories260K"), { ...opts, backend: "cpu" });
  try {
    const run = async (e: typeof gpu, seed: number, temperature: number, topP: number) => {
      const out: number[] = [];
      for await (const id of e.generate([1, 403, 407, 261], { maxTokens: 12, stopIds: [], temperature, topP, seed })) out.push(id);
      return out;
    };
    const seed = 1 + Math.floor(Math.random() * 1e6);
    assert.equal(await run(gpu, seed, 0.9, 0.9), await run(cpu, seed, 0.9, 0.9), `T 0.9, seed ${seed}`);
    const hot = await run(gpu, seed, 2, 0.95);
    assert.equal(hot, await run(cpu, seed, 2, 0.95), `T 2, seed ${seed}`);
    const greedy: number[] = [];
    for await (const id of gpu.generate([1, 403, 407, 261], { maxTokens: 12, stopIds: [] })) greedy.push(id);
    assert.not.equal(hot, greedy, `seed ${seed}: T 2 sampling differs from greedy`);
  } finally {
    gpu.destroy();
    cpu.destroy();
  }
});

t.run();
