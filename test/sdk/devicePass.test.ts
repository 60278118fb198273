// KvCache on WebGPU with the pass decided on the device (src/gpu/kernels/devicePass.ts) against the
// same cache with the wasm schedule (devicePass: false): identical inputs, so every pass must
// report the same evictions and freed blocks, leave the same tables, lengths, free list and stats,
// and the same KVs (positions, metrics, and attention over them) in every head. Prompt passes and
// continual passes under decode, random and tied metrics, queryAvg, 9/3 heads.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import controlWasm from "kvcompress:wasm/control";
import { blockBytes, defineConfig } from "../../src/config";
import { poolGeometry } from "../../src/contract";
import { ControlPlane } from "../../src/control/plane";
import { createGpuBackend } from "../../src/gpu/backend";
import { KvCache } from "../../src/cache";
import { NoGpuAdapterError } from "../../src/errors";
import type { PolicyInput } from "../../src/policies";
import { freshSeed, testDevice } from "../harness/env";
import { makeRng } from "../reference/kernels";

const test = suite("sdk: device pass = wasm pass");
const device = await testDevice().catch((err) => {
  if (err instanceof NoGpuAdapterError) return null;
  throw err;
});

const L = 3, QH = 9, H = 3, D = 16;

async function pair(policy: PolicyInput) {
  const cfg = defineConfig({ numLayers: L, numQHeads: QH, numKvHeads: H, headSize: D, blockSize: 8, capacityBlocks: 3 * L * H * 30, maxContextTokens: 240, maxSeqs: 3, policy });
  const controlCfg = { ...poolGeometry(cfg), bytesPerBlock: blockBytes(cfg) };
  return Promise.all([true, false].map(async (devicePass) => {
    const control = await ControlPlane.create(controlWasm, controlCfg);
    const backend = await createGpuBackend(device!, "test", cfg, control, { devicePass });
    return { control, cache: new KvCache(cfg, control, backend, () => undefined) };
  }));
}

async function same(a: { control: ControlPlane; cache: KvCache }, b: { control: ControlPlane; cache: KvCache }, seqs: number[], tag: string) {
  assert.equal(a.cache.stats(), b.cache.stats(), `stats ${tag}`);
  assert.equal(Array.from(a.control.ctxLens), Array.from(b.control.ctxLens), `ctxLens ${tag}`);
  assert.equal(Array.from(a.control.blockTables), Array.from(b.control.blockTables), `block tables ${tag}`);
  assert.is(a.control.numFreeBlocks, b.control.numFreeBlocks, `free blocks ${tag}`);
  for (const s of seqs) for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) {
    const [x, y] = await Promise.all([a.cache.readHead(l, s, h), b.cache.readHead(l, s, h)]);
    assert.equal(Array.from(x.positions), Array.from(y.positions), `positions ${l}/${s}/${h} ${tag}`);
    assert.equal(Array.from(x.metrics), Array.from(y.metrics), `metrics ${l}/${s}/${h} ${tag}`);
  }
}

for (const [name, policy, zeroQ] of [
  ["ratio 3, random metrics", { name: "kvcompress", ratio: 3, protectedWindow: 5 }, false],
  ["max 24 tokens, tied metrics (zero queries), continual", { name: "kvcompress", maxTokensPerHead: 24, trigger: "continual", sinks: 2 }, true],
  ["ratio 2, queryAvg, continual", { name: "kvcompress", ratio: 2, queryReduce: "avg", trigger: "continual" }, false],
] as const) {
  if (!device) break;
  test(name, async () => {
    const seed = freshSeed(), rng = makeRng(seed);
    const both = await pair(policy as PolicyInput);
    const lens = [37 + Math.floor(rng() * 60), 90 + Math.floor(rng() * 40)];
    const seqs = lens.map(() => both.map((x) => x.cache.addSequence())[0]);
    const sym = () => rng() * 2 - 1;
    const step = async (s: number, n: number) => {
      await Promise.all(both.map((x) => x.cache.reserve(s, n)));
      for (let l = 0; l < L; l++) {
        const k = Float32Array.from({ length: n * H * D }, sym), v = Float32Array.from({ length: n * H * D }, sym);
        const q = Float32Array.from({ length: n * QH * D }, () => (zeroQ ? 0 : sym() * 3));
        for (const x of both) x.cache.append(l, s, k, v);
        const [oa, ob] = await Promise.all(both.map((x) => x.cache.attend(l, s, q)));
        assert.equal(Array.from(oa), Array.from(ob), `attention seq ${s} layer ${l} seed ${seed}`);
      }
      const [ra, rb] = await Promise.all(both.map((x) => x.cache.endStep([s])));
      assert.equal(ra, rb, `pass report seq ${s} seed ${seed}`);
      return ra;
    };
    for (const [i, s] of seqs.entries()) {
      const r = await step(s, lens[i]);
      assert.ok(r && r.evictedKvs > 0, `the prompt pass evicted something (seed ${seed})`);
      await same(both[0], both[1], seqs.slice(0, i + 1), `after prompt ${i} seed ${seed}`);
    }
    for (let t = 0; t < 9; t++) for (const s of seqs) await step(s, 1);
    await same(both[0], both[1], seqs, `after decode seed ${seed}`);
    const [pa, pb] = await Promise.all(both.map((x) => x.cache.compress()));
    assert.equal(pa, pb, `explicit pass over both sequences seed ${seed}`);
    await same(both[0], both[1], seqs, `after the two-sequence pass seed ${seed}`);
    for (const x of both) x.cache.destroy();
  });
}

test.run();
