// GPU vs CPU backend on the same random work (issue 6): two caches' worth of backends, each on
// its own control plane (deterministic, so both hand out the same blocks), fed identical
// appends, prefills and decodes. Registered only where a WebGPU adapter exists, so a runtime
// without one reports no test here rather than a vacuous pass.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import controlWasm from "kvcompress:wasm/control";
import cpuWasm from "kvcompress:wasm/cpu";
import { blockBytes, defineConfig } from "../../src/config";
import { ControlPlane } from "../../src/control/plane";
import { createCpuBackend } from "../../src/cpu/backend";
import { createGpuBackend } from "../../src/gpu/backend";
import { NoGpuAdapterError } from "../../src/errors";
import type { KvBackend } from "../../src/backend";
import { freshSeed, testDevice } from "../harness/env";
import { makeRng } from "../reference/kernels";
import { elemRelErr, randomF32, rowRelErr } from "./helpers";

const Cross = suite("cpu vs gpu backend");
const adapterDevice = await testDevice().catch((err) => {
  if (err instanceof NoGpuAdapterError) return null;
  throw err;
});

for (const storage of adapterDevice ? (["f32", "f16"] as const) : []) {
  Cross(`prefill, decode, metrics and chunk keys agree (${storage})`, async () => {
    const device = adapterDevice!;
    const seed = freshSeed(), rng = makeRng(seed);
    const cfg = defineConfig({
      numLayers: 2, numQHeads: 6, numKvHeads: 2, headSize: 16, blockSize: 8, storage,
      capacityBlocks: 160, maxContextTokens: 96, maxSeqs: 3,
    });
    const controlCfg = {
      numLayers: cfg.numLayers, numKvHeads: cfg.numKvHeads, blockSize: cfg.blockSize, numBlocks: cfg.numBlocks,
      maxSeqs: cfg.maxSeqs, maxBlocksPerHead: cfg.maxBlocksPerHead, bytesPerBlock: blockBytes(cfg),
    };
    const gpuControl = await ControlPlane.create(controlWasm, controlCfg);
    const gpu = await createGpuBackend(device, "test", cfg, gpuControl);
    const { control: cpuControl, backend: cpu } = await createCpuBackend(cpuWasm, cfg, controlCfg);
    const both: [ControlPlane, KvBackend][] = [[gpuControl, gpu], [cpuControl, cpu]];
    const lens = [41, 8, 77];
    const kvFloats = cfg.numKvHeads * cfg.headSize, qFloats = cfg.numQHeads * cfg.headSize;
    const round = (a: Float32Array) => (storage === "f16" ? a.map((x) => cpu.pool.wasm.cpuF16ToF32(cpu.pool.wasm.cpuF32ToF16(x))) : a);
    const seqIds = lens.map(() => both.map(([c]) => c.addSequence())[0]);
    const metric = { mode: 2 as const, obsWindow: 8, poolWidth: 7 };
    for (const [i, s] of seqIds.entries()) {
      for (const [c, b] of both) { assert.ok(c.reserve(s, lens[i])); b.syncTables([s]); }
      for (let l = 0; l < cfg.numLayers; l++) {
        const k = round(randomF32(rng, lens[i] * kvFloats)), v = round(randomF32(rng, lens[i] * kvFloats));
        for (const [, b] of both) b.append(l, s, lens[i], k, v);
        const q = randomF32(rng, lens[i] * qFloats);
        const [g, c] = await Promise.all(both.map(([, b]) => b.prefillAttention(l, s, q, lens[i], metric)));
        assert.ok(rowRelErr(c, g, cfg.headSize) < 1e-5, `seed ${seed} prefill seq ${i} layer ${l}`);
      }
    }
    const q = randomF32(rng, seqIds.length * qFloats);
    const [gd, cd] = await Promise.all(both.map(([, b]) => b.decodeAttention(1, seqIds, q, 2)));
    assert.ok(rowRelErr(cd, gd, cfg.headSize) < 1e-5, `seed ${seed} decode`);
    for (const s of seqIds) for (let l = 0; l < cfg.numLayers; l++) for (let h = 0; h < cfg.numKvHeads; h++) {
      const [gh, ch] = await Promise.all(both.map(([, b]) => b.readHead(l, s, h)));
      assert.equal(Array.from(ch.positions), Array.from(gh.positions), `seed ${seed} positions`);
      assert.ok(elemRelErr(ch.metrics, gh.metrics, 1e-6) < 1e-4, `seed ${seed} metrics ${l}/${s}/${h}`);
    }
    // chunk keys are scores of the two backends' own metrics: equal up to float summation order
    const prot = { protectedWindow: 4, sinks: 1 };
    const n = cfg.numLayers * seqIds.length * cfg.numKvHeads * cfg.maxBlocksPerHead;
    const keys = [new Float32Array(n), new Float32Array(n)];
    await Promise.all(both.map(([, b], j) => b.chunkKeys(seqIds, prot, keys[j])));
    const finite = (a: Float32Array) => a.map((x) => (Number.isFinite(x) ? x : -1));
    assert.equal(Array.from(keys[1]).map(Number.isFinite), Array.from(keys[0]).map(Number.isFinite), `seed ${seed} +inf pattern`);
    assert.ok(elemRelErr(finite(keys[1]), finite(keys[0]), 1e-6) < 1e-4, `seed ${seed} chunk keys`);
    gpu.destroy();
    cpu.destroy();
  });
}

Cross.run();
