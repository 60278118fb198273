// The WebGPU KvBackend (src/gpu/backend.ts) over a real control plane: splitting work into
// sequence groups (what big configs do to fit one scratch binding) changes no result.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import controlWasm from "kvcompress:wasm/control";
import { blockBytes, defineConfig } from "../../src/config";
import { ControlPlane } from "../../src/control/plane";
import { type GpuBackend, createGpuBackend } from "../../src/gpu/backend";
import { makeRng, maxRelErr } from "../reference/kernels";
import { testDevice } from "../harness/env";
import { freshSeed, randomArray } from "./helpers";

const test = suite("gpu: KvBackend on WebGPU");

test("grouped decode / chunk keys / evicted indices equal the one-group results", async () => {
  const device = await testDevice();
  const seed = freshSeed();
  const rng = makeRng(seed);
  const cfg = defineConfig({
    numLayers: 2, numQHeads: 4, numKvHeads: 2, headSize: 16, blockSize: 8, storage: "f32",
    capacityBlocks: 160, maxContextTokens: 96, maxSeqs: 4,
  });
  const control = await ControlPlane.create(controlWasm, {
    numLayers: cfg.numLayers, numKvHeads: cfg.numKvHeads, blockSize: cfg.blockSize, numBlocks: cfg.numBlocks,
    maxSeqs: cfg.maxSeqs, maxBlocksPerHead: cfg.maxBlocksPerHead, bytesPerBlock: blockBytes(cfg),
  });
  const one = await createGpuBackend(device, "test", cfg, control);
  const split = await createGpuBackend(device, "test", cfg, control, { batchSeqs: 1, passSeqs: 1 });
  const both = [one, split] as const;
  const lens = [37, 9, 70];
  const seqIds = lens.map(() => control.addSequence());
  const kvFloats = cfg.numKvHeads * cfg.headSize, qFloats = cfg.numQHeads * cfg.headSize;
  seqIds.forEach((s, i) => {
    assert.ok(control.reserve(s, lens[i]));
    for (const b of both) b.syncTables([s]);
    for (let l = 0; l < cfg.numLayers; l++) {
      const k = randomArray(rng, lens[i] * kvFloats), v = randomArray(rng, lens[i] * kvFloats);
      for (const b of both) b.append(l, s, lens[i], k, v);
    }
  });
  const metric = { mode: 2 as const, obsWindow: 8, poolWidth: 7 };
  for (const [i, s] of seqIds.entries()) for (let l = 0; l < cfg.numLayers; l++) {
    const q = randomArray(rng, lens[i] * qFloats);
    await Promise.all(both.map((b) => b.prefillAttention(l, s, q, lens[i], metric)));
  }
  const q = randomArray(rng, seqIds.length * qFloats);
  const [d1, d2] = await Promise.all(both.map((b) => b.decodeAttention(1, seqIds, q, 0)));
  assert.ok(maxRelErr(d2, d1) < 1e-5, `decode seed=${seed}`);
  const prot = { protectedWindow: 4, sinks: 1 };
  const numKeys = cfg.numLayers * seqIds.length * cfg.numKvHeads * cfg.maxBlocksPerHead;
  const keys = both.map(() => new Float32Array(numKeys));
  await Promise.all(both.map((b: GpuBackend, j) => b.chunkKeys(seqIds, prot, keys[j])));
  assert.equal(Array.from(keys[1]), Array.from(keys[0]), `chunk keys seed=${seed}`);
  const numRows = cfg.numLayers * seqIds.length * cfg.numKvHeads;
  // n ≤ ctxLen of the head (rows in [layer, k, kvHead] order; every head of seq k holds lens[k]).
  const counts = Int32Array.from({ length: numRows }, (_, r) => Math.min((r * 7) % 11, lens[Math.floor(r / cfg.numKvHeads) % seqIds.length]));
  // The offsets are an input (the wasm schedule writes them as prefix sums of the counts).
  const offsets = new Uint32Array(numRows + 1);
  counts.forEach((n, r) => { offsets[r + 1] = offsets[r] + n; });
  const out = both.map(() => ({ offsets: offsets.slice(), idx: new Uint32Array(numRows * 11) }));
  for (const [j, b] of both.entries()) await b.evictedIndices(seqIds, prot, counts, out[j].offsets, out[j].idx);
  assert.equal(Array.from(out[1].offsets), Array.from(out[0].offsets), `offsets seed=${seed}`);
  assert.equal(Array.from(out[1].idx), Array.from(out[0].idx), `evicted seed=${seed}`);
  for (let r = 0; r < numRows; r++) {
    const row = out[0].idx.subarray(out[0].offsets[r], out[0].offsets[r + 1]);
    for (let t = 1; t < row.length; t++) assert.ok(row[t - 1] < row[t], "ascending within a head");
  }
  for (const b of both) b.destroy();
});

test("decode reuses its MAP_READ buffers: none created after the first call of a size", async () => {
  const device = await testDevice();
  const rng = makeRng(freshSeed());
  const cfg = defineConfig({
    numLayers: 1, numQHeads: 4, numKvHeads: 2, headSize: 16, blockSize: 8, storage: "f32",
    capacityBlocks: 16, maxContextTokens: 32, maxSeqs: 2,
  });
  const control = await ControlPlane.create(controlWasm, {
    numLayers: cfg.numLayers, numKvHeads: cfg.numKvHeads, blockSize: cfg.blockSize, numBlocks: cfg.numBlocks,
    maxSeqs: cfg.maxSeqs, maxBlocksPerHead: cfg.maxBlocksPerHead, bytesPerBlock: blockBytes(cfg),
  });
  const b = await createGpuBackend(device, "test", cfg, control);
  try {
    const s = control.addSequence();
    const kvFloats = cfg.numKvHeads * cfg.headSize, qFloats = cfg.numQHeads * cfg.headSize;
    for (let t = 0; t < 6; t++) {
      assert.ok(control.reserve(s, 1));
      b.syncTables([s]);
      b.append(0, s, 1, randomArray(rng, kvFloats), randomArray(rng, kvFloats));
      // Two reads in flight at once take two buffers; afterwards both are idle again.
      await Promise.all([b.decodeAttention(0, [s], randomArray(rng, qFloats), 0), b.decodeAttention(0, [s], randomArray(rng, qFloats), 0)]);
      if (t === 0) assert.is(b.readbackBuffersCreated, 2);
    }
    assert.is(b.readbackBuffersCreated, 2, "no new MAP_READ buffer per decode call");
  } finally {
    b.destroy();
  }
});

test.run();
