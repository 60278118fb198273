// The device pass (src/gpu/kernels/devicePass.ts) against straight-loop references of the pass it
// replaces: chunk keys → refScheduleKvCompress (the schedule's ranking and tie rule) → n per head
// → refEvictedIdx (each head's n lowest by score, position) → refPlanMoves. Counts and the whole
// move list must match exactly, on random pools with awkward shapes, ties and protection.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createGpuKvPool } from "../../src/gpu/pool";
import { createDevicePass } from "../../src/gpu/kernels/devicePass";
import { makeRng, randomPool, refChunkKeys, refEvictedIdx, refPlanMoves } from "../reference/kernels";
import { evictCountOf, refScheduleKvCompress } from "../reference/schedule";
import { testDevice } from "../harness/env";
import { freshSeed, kernelDims, readBuffer, uploadPool } from "./helpers";

const test = suite("gpu: device pass");

type Metrics = "random" | "ties" | "tied";
interface Case { b: number; L: number; H: number; seqs: { seqLen: number; lens: number[] }[]; protectedWindow: number; sinks: number; metrics: Metrics }

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
  if (c.metrics === "ties") for (let i = 0; i < ref.metrics.length; i++) ref.metrics[i] = Math.floor(ref.metrics[i]) / 2;
  if (c.metrics === "tied") ref.metrics.fill(1);
  const gpu = createGpuKvPool(device, kernelDims(dims, c.H, "f32"));
  uploadPool(device, gpu, ref);
  const seqIds = Array.from({ length: S }, (_, i) => (i * 2 + 1) % S);
  const seqLens = seqIds.map((s) => c.seqs[s].seqLen);
  // Budgets: none, a random share, everything (more than the finite keys), per sequence.
  const budgets = seqIds.map((s) => {
    let blocks = 0;
    for (let l = 0; l < c.L; l++) for (let h = 0; h < c.H; h++) blocks += Math.ceil(ref.ctxLens[ref.headIdx(l, s, h)] / c.b);
    return [0, Math.floor(rng() * (blocks + 1)), blocks + 5, Math.floor(rng() * (blocks + 1))][Math.floor(rng() * 4)];
  });
  // The reference: the current pass in straight loops.
  const { protectedWindow, sinks } = c;
  const keys = refChunkKeys(ref, seqIds, protectedWindow, sinks);
  const k = S, H = c.H;
  const counts = new Int32Array(c.L * k * H);
  seqIds.forEach((s, i) => {
    const ctxLens = [], ks = [];
    for (let l = 0; l < c.L; l++) {
      ctxLens.push(Array.from({ length: H }, (_, h) => ref.ctxLens[ref.headIdx(l, s, h)]));
      ks.push(Array.from({ length: H }, (_, h) => Array.from(keys.subarray(((l * k + i) * H + h) * M, ((l * k + i) * H + h + 1) * M))));
    }
    const e = refScheduleKvCompress({ ctxLens, keys: ks }, c.b, budgets[i]);
    for (let l = 0; l < c.L; l++) for (let h = 0; h < H; h++) counts[(l * k + i) * H + h] = evictCountOf(ctxLens[l][h], e[l][h], c.b);
  });
  const want = refEvictedIdx(ref, seqIds, protectedWindow, sinks, counts);
  const wantMoves = refPlanMoves(ref, seqIds, want.evictedIdx, want.evictedOffsets).moves;
  // The device pass, twice: the second run starts from poisoned outputs and the first run's scratch.
  const dp = await createDevicePass(device, gpu);
  let maxCtxLen = 0, maxMoves = 0;
  for (let l = 0; l < c.L; l++) for (const s of seqIds) for (let h = 0; h < H; h++) {
    const len = ref.ctxLens[ref.headIdx(l, s, h)];
    maxCtxLen = Math.max(maxCtxLen, len);
    maxMoves += len >> 1;
  }
  const args = { seqIds, seqLens, budgets, protectedWindow, sinks, maxCtxLen, maxMoves };
  const tag = `seed=${seed} budgets=${budgets} ${JSON.stringify(c)}`;
  for (let run = 0; run < 2; run++) {
    device.queue.writeBuffer(dp.result, 0, new Uint32Array(dp.result.size / 4).fill(0xdeadbeef));
    device.queue.writeBuffer(dp.moves, 0, new Uint32Array(dp.moves.size / 4).fill(0xdeadbeef));
    device.pushErrorScope("validation");
    const enc = device.createCommandEncoder();
    dp.encode(enc, args);
    device.queue.submit([enc.finish()]);
    const err = await device.popErrorScope();
    if (err) throw new Error(`GPU validation: ${err.message}`);
    const result = new Uint32Array(await readBuffer(device, dp.result));
    assert.equal(Array.from(result.subarray(1, 1 + counts.length)), Array.from(counts), `n per head (run ${run}) ${tag}`);
    assert.is(result[0], wantMoves.length / 2, `number of moves (run ${run}) ${tag}`);
    const moves = new Uint32Array(await readBuffer(device, dp.moves)).subarray(0, wantMoves.length);
    assert.equal(Array.from(moves), Array.from(wantMoves), `moves (run ${run}) ${tag}`);
  }
  dp.destroy(); gpu.destroy();
}

for (const metrics of ["random", "ties", "tied"] as const) {
  test(`b=16, 2 layers × 3 heads, 2 seqs, short heads (0, 1, b, b+1), protected window (${metrics})`, () =>
    check({ b: 16, L: 2, H: 3, seqs: [{ seqLen: 60, lens: [0, 1, 37, 60, 16, 17] }, { seqLen: 20, lens: [17, 20, 3, 9, 0, 20] }], protectedWindow: 8, sinks: 0, metrics }));
  test(`b=8, one head longer than a chunk (4096) next to tiny ones, sinks (${metrics})`, () =>
    check({ b: 8, L: 1, H: 3, seqs: [{ seqLen: 5000, lens: [4500, 2, 513] }], protectedWindow: 32, sinks: 4, metrics }));
  test(`b=32, 2 heads (14/2), 3 seqs, long positions (${metrics})`, () =>
    check({ b: 32, L: 2, H: 2, seqs: [{ seqLen: 70000, lens: [299, 64] }, { seqLen: 33, lens: [33, 32] }, { seqLen: 5, lens: [5, 0] }], protectedWindow: 4, sinks: 1, metrics }));
}
test("b=5 (not a power of two), 3 layers × 1 head, no protection (ties)", () =>
  check({ b: 5, L: 3, H: 1, seqs: [{ seqLen: 200, lens: [200, 151, 7] }], protectedWindow: 0, sinks: 0, metrics: "ties" }));

test.run();
