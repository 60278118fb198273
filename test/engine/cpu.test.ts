// The CPU engine's wasm SIMD dense path (weights in wasm memory, stored dtype) against the f32
// TypeScript forward (src/model/llama.ts), the straight-loop reference, on both shared models.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { loadEngine, type Engine } from "../../sdk/index";
import { readSharedText, sharedModelSource } from "../harness/env";

const MODELS = {
  stories260K: { checkpoint: "stories260K.bin", tokenizer: "tok512.bin" },
  "tinystories-656K": undefined,
} as const;

const t = suite("engine (cpu): wasm dense vs the TypeScript reference");

for (const id of Object.keys(MODELS) as (keyof typeof MODELS)[]) {
  t(`${id}: logits of a 300-token prompt and 3 decode steps agree to 1e-4 (relative to max |logit|)`, async () => {
    const opts = { backend: "cpu" as const, llama2c: MODELS[id], policy: { name: "full" as const }, maxContextTokens: 512 };
    const wasm = await loadEngine(sharedModelSource(id), opts);
    const ts = await loadEngine(sharedModelSource(id), { ...opts, cpuForward: "typescript" });
    const engines: Engine[] = [wasm, ts];
    try {
      const text = (await readSharedText("data/tinystories-val/tinystories_val.txt")).slice(0, 2000);
      const ids = wasm.tokenizer.encode(text).slice(0, 300);
      const [a, b] = engines.map((e) => e.openSequence());
      const pairs: [Float32Array, Float32Array][] = [[await a.prefill(ids), await b.prefill(ids)]];
      for (const next of [5, 77, 300]) pairs.push([await a.step(next), await b.step(next)]);
      a.close(); b.close();
      for (const [x, y] of pairs) {
        let maxDiff = 0, maxAbs = 0;
        for (let i = 0; i < x.length; i++) { maxDiff = Math.max(maxDiff, Math.abs(x[i] - y[i])); maxAbs = Math.max(maxAbs, Math.abs(y[i])); }
        assert.ok(Number.isFinite(maxDiff) && maxDiff <= 1e-4 * maxAbs, `max |Δ| ${maxDiff} vs max |logit| ${maxAbs}`);
      }
    } finally {
      for (const e of engines) e.destroy();
    }
  });
}

t.run();
