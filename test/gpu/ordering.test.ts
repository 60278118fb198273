// Score ordering (gather, segmented bitonic sort, chunk keys, evicted indices) vs the reference.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createGpuKvPool } from "../../src/gpu/pool";
import { createScoreOrdering } from "../../src/gpu/kernels/scoreOrdering";
import { makeRng, randomPool, refChunkKeys, refEvictedIdx } from "../reference/kernels";
import { testDevice } from "../harness/env";
import { freshSeed, kernelDims, nanBuffer, readBuffer, runPass, storageBuffer, uploadPool } from "./helpers";

const test = suite("gpu: score ordering");

interface Case { b: number; L: number; H: number; seqs: { seqLen: number; lens: number[] }[]; protectedWindow: number; sinks: number; ties: boolean; queryAvg?: boolean; valueNorm?: boolean }

async function check(c: Case): Promise<void> {
  const device = await testDevice();
  const seed = freshSeed();
  const rng = makeRng(seed);
  const S = c.seqs.length;
  const maxLen = Math.max(1, ...c.seqs.flatMap((s) => s.lens));
  const M = Math.ceil(maxLen / c.b) + 1;
  const dims = { numLayers: c.L, maxSeqs: S + 1, numKvHeads: c.H, headSize: 8, blockSize: c.b, numBlocks: c.L * S * c.H * M, maxBlocksPerHead: M };
  const ref = randomPool(rng, {
    dims, seqLens: [...c.seqs.map((s) => s.seqLen), 0],
    ctxLenOf: (l, s, h) => (s < S ? c.seqs[s].lens[(l * c.H + h) % c.seqs[s].lens.length] : 0),
  });
  // Many equal scores exercise the (score, position) tie-break.
  if (c.ties) for (let i = 0; i < ref.metrics.length; i++) ref.metrics[i] = Math.floor(ref.metrics[i]) / 2;
  // Value-aware: values on a grid of 1/4, so Σ v² is exact in any order (with or without FMA).
  if (c.valueNorm) for (let i = 0; i < ref.values.length; i++) ref.values[i] = Math.round(ref.values[i] * 8) / 4;
  const gpu = createGpuKvPool(device, kernelDims(dims, c.H, "f32"));
  uploadPool(device, gpu, ref);
  const seqIds = Array.from({ length: S }, (_, i) => (i * 2 + 1) % S);
  const seqLens = seqIds.map((s) => c.seqs[s].seqLen);
  const ordering = await createScoreOrdering(device, gpu, { maxSeqsPerPass: S });
  const numHeads = c.L * S * c.H;
  const chunkKeys = nanBuffer(device, numHeads * M);
  const counts = new Int32Array(numHeads);
  let hIdx = 0;
  for (let l = 0; l < c.L; l++) for (const s of seqIds) for (let h = 0; h < c.H; h++) {
    const len = ref.ctxLens[ref.headIdx(l, s, h)];
    counts[hIdx++] = [0, len, Math.floor(rng() * (len + 1))][Math.floor(rng() * 3)];
  }
  const queryAvg = c.queryAvg ?? false, valueNorm = c.valueNorm ?? false;
  const want = refEvictedIdx(ref, seqIds, c.protectedWindow, c.sinks, counts, queryAvg, valueNorm);
  const evictedIdx = storageBuffer(device, new Uint32Array(Math.max(4, want.evictedIdx.length)).fill(0xdeadbeef));
  const countsBuf = storageBuffer(device, counts), offsetsBuf = storageBuffer(device, want.evictedOffsets);
  await runPass(device, (pass) => {
    ordering.encodeSort(pass, { seqIds, seqLens, protectedWindow: c.protectedWindow, sinks: c.sinks, queryAvg, valueNorm, chunkKeys });
    ordering.encodeEvicted(pass, { evictCounts: countsBuf, evictedOffsets: offsetsBuf, evictedIdx });
  });
  const tag = `seed=${seed} ${JSON.stringify(c)}`;
  const gotKeys = new Float32Array(await readBuffer(device, chunkKeys));
  const wantKeys = refChunkKeys(ref, seqIds, c.protectedWindow, c.sinks, queryAvg, valueNorm);
  // WGSL division and sqrt are exact to 2.5 ulp, not correctly rounded: such keys match to 1e-6.
  for (let i = 0; i < wantKeys.length; i++) {
    const close = (queryAvg || valueNorm) && Math.abs(gotKeys[i] - wantKeys[i]) <= 1e-6 * Math.abs(wantKeys[i]);
    if (!Object.is(gotKeys[i], wantKeys[i]) && !close) assert.unreachable(`chunkKeys[${i}] = ${gotKeys[i]}, want ${wantKeys[i]} ${tag}`);
  }
  const gotIdx = new Uint32Array(await readBuffer(device, evictedIdx)).subarray(0, want.evictedIdx.length);
  assert.equal(Array.from(gotIdx), Array.from(want.evictedIdx), `evictedIdx ${tag}`);
  ordering.destroy(); gpu.destroy(); chunkKeys.destroy(); evictedIdx.destroy(); countsBuf.destroy(); offsetsBuf.destroy();
}

test("b=16, short heads (0, 1, odd), ties, protected window", () =>
  check({ b: 16, L: 2, H: 2, seqs: [{ seqLen: 60, lens: [0, 1, 37, 60] }, { seqLen: 20, lens: [17, 20, 3, 9] }], protectedWindow: 8, sinks: 0, ties: true }));
test("b=8, one long head (global merge steps) next to tiny ones, sinks", () =>
  check({ b: 8, L: 1, H: 3, seqs: [{ seqLen: 900, lens: [700, 2, 513] }], protectedWindow: 32, sinks: 4, ties: true }));
test("b=32, distinct scores, 3 seqs", () =>
  check({ b: 32, L: 2, H: 1, seqs: [{ seqLen: 300, lens: [299, 64] }, { seqLen: 33, lens: [33, 32] }, { seqLen: 5, lens: [5, 0] }], protectedWindow: 4, sinks: 1, ties: false }));
test("b=8, distinct scores averaged over the queries that could see each KV", () =>
  check({ b: 8, L: 2, H: 2, seqs: [{ seqLen: 70, lens: [70, 13, 41, 0] }, { seqLen: 9, lens: [9, 5, 1, 8] }], protectedWindow: 4, sinks: 0, ties: false, queryAvg: true }));
test("b=8, distinct scores times the value norm (f32 storage), one with averaging", async () => {
  await check({ b: 8, L: 2, H: 2, seqs: [{ seqLen: 70, lens: [70, 13, 41, 0] }, { seqLen: 9, lens: [9, 5, 1, 8] }], protectedWindow: 4, sinks: 1, ties: false, valueNorm: true });
  await check({ b: 4, L: 1, H: 3, seqs: [{ seqLen: 40, lens: [40, 17, 3] }], protectedWindow: 0, sinks: 0, ties: false, valueNorm: true, queryAvg: true });
});

test.run();
