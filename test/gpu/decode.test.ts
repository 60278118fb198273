// Paged decode attention (split-K + reduce + metric) vs refDecode on random scattered pools.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createGpuKvPool } from "../../src/gpu/pool";
import { createDecodeAttention, type GroupReduce, type MetricMode } from "../../src/kernels/decodeAttention";
import type { DecodeTuning, KvDtype } from "../../src/layout";
import { makeRng, maxRelErr, randomPool, refDecode } from "../reference/kernels";
import { testDevice } from "../harness/env";
import { freshSeed, kernelDims, nanBuffer, randomArray, readBuffer, readPool, runPass, storageBuffer, uploadPool } from "./helpers";

const test = suite("gpu: paged decode attention");

interface Case { dtype: KvDtype; d: number; b: number; H: number; r: number; lens: number[][]; mode: MetricMode; maxBindingBlocks?: number; tuning?: Partial<DecodeTuning>; groupReduce?: GroupReduce }

async function check(c: Case): Promise<void> {
  const device = await testDevice();
  const seed = freshSeed();
  const rng = makeRng(seed);
  const numSeqs = c.lens.length, maxLen = Math.max(1, ...c.lens.flat());
  const M = Math.ceil(maxLen / c.b) + 1;
  const dims = { numLayers: 2, maxSeqs: numSeqs + 1, numKvHeads: c.H, headSize: c.d, blockSize: c.b, numBlocks: 0, maxBlocksPerHead: M };
  dims.numBlocks = 2 * (numSeqs + 1) * c.H * M;
  const layer = 1;
  const seqLens = [...c.lens.map((l) => Math.max(...l) + 3), 0];
  const ref = randomPool(rng, { dims, seqLens, ctxLenOf: (l, s, h) => (s < numSeqs ? (l === layer ? c.lens[s][h] : Math.min(5, c.lens[s][h])) : 0) });
  if (c.dtype === "f16") ref.roundToF16();
  const kd = kernelDims(dims, c.H * c.r, c.dtype);
  const blockBytes = 2 * c.b * c.d * (c.dtype === "f16" ? 2 : 4);
  const gpu = createGpuKvPool(device, kd, { maxBindingBytes: c.maxBindingBlocks ? c.maxBindingBlocks * blockBytes : undefined });
  uploadPool(device, gpu, ref);
  // Sequence order in the batch differs from seqId order on purpose.
  const seqIds = Array.from({ length: numSeqs }, (_, i) => numSeqs - 1 - i);
  const q = randomArray(rng, numSeqs * kd.numQHeads * c.d);
  const queries = storageBuffer(device, q);
  const out = nanBuffer(device, q.length);
  const kernel = await createDecodeAttention(device, gpu, { maxBatchSeqs: numSeqs, targetWorkgroups: 64, tuning: c.tuning });
  await runPass(device, (pass) => kernel.encode(pass, { layer, seqIds, queries, out, metricMode: c.mode, groupReduce: c.groupReduce }));
  const got = new Float32Array(await readBuffer(device, out));
  const want = refDecode(ref, layer, seqIds, kd.numQHeads, q, c.mode, c.groupReduce);
  const tol = c.dtype === "f16" ? 2e-3 : 1e-5;
  const tag = `seed=${seed} ${JSON.stringify(c)}`;
  const eOut = maxRelErr(got, want);
  assert.ok(eOut < tol, `out rel err ${eOut} ${tag}`);
  const after = await readPool(device, gpu, ref);
  const eMetric = maxRelErr(after.metrics, ref.metrics);
  assert.ok(eMetric < tol, `metric rel err ${eMetric} ${tag}`);
  kernel.destroy(); gpu.destroy(); queries.destroy(); out.destroy();
}

test("f32 d=8 b=8 r=2, L2, lens 0/1/odd, 3 seqs", () =>
  check({ dtype: "f32", d: 8, b: 8, H: 2, r: 2, lens: [[0, 1], [13, 40], [7, 300]], mode: 2 }));
test("f32 d=16 b=16 r=1, L1", () => check({ dtype: "f32", d: 16, b: 16, H: 3, r: 1, lens: [[17, 1, 33], [64, 5, 0]], mode: 1 }));
test("f32 d=64 b=32 r=4, no metric, long head split 3 ways", () =>
  check({ dtype: "f32", d: 64, b: 32, H: 2, r: 4, lens: [[600, 3]], mode: 0 }));
test("f16 d=128 b=16 r=4, L2", () => check({ dtype: "f16", d: 128, b: 16, H: 2, r: 4, lens: [[77, 290], [1, 16]], mode: 2 }));
test("f16 d=8 b=8 r=1, L1", () => check({ dtype: "f16", d: 8, b: 8, H: 2, r: 1, lens: [[9, 31]], mode: 1 }));
test("f32 d=16 b=8 r=3 (padded quad), L2", () => check({ dtype: "f32", d: 16, b: 8, H: 2, r: 3, lens: [[45, 300], [1, 0]], mode: 2 }));
test("f16 d=64 b=16 r=8 (two quads), L1", () => check({ dtype: "f16", d: 64, b: 16, H: 1, r: 8, lens: [[290], [33]], mode: 1 }));
test("f16 d=128 r=4 with the bench's kernel variants (wg 64/128/256, lanes 1–16, 512-key splits)", async () => {
  for (const tuning of [{ wgSize: 128, lanesPerKey: 1 }, { wgSize: 64, lanesPerKey: 4 }, { wgSize: 256, lanesPerKey: 2 }, { wgSize: 256, maxSplitKeys: 512, lanesPerKey: 16 }]) {
    await check({ dtype: "f16", d: 128, b: 16, H: 1, r: 4, lens: [[1100], [37]], mode: 2, tuning });
  }
});
test("f32 d=8 r=2, 70 sequences (two uniform batches of ≤ 64)", () => {
  const lens = Array.from({ length: 70 }, (_, i) => [(i * 7) % 23, (i * 5) % 19]);
  return check({ dtype: "f32", d: 8, b: 8, H: 2, r: 2, lens, mode: 2 });
});
test("f32 pool over 3 shards (tiny binding limit)", async () => {
  const lens = [[50, 20], [33, 9]];
  // numBlocks = 2·3·2·M with M = 8 → 96 blocks; 40 blocks per shard → 3 shards.
  await check({ dtype: "f32", d: 16, b: 8, H: 2, r: 2, lens, mode: 2, maxBindingBlocks: 40 });
});
test("f16 pool over 4 shards", () => check({ dtype: "f16", d: 64, b: 16, H: 2, r: 2, lens: [[40, 70], [100, 2]], mode: 2, maxBindingBlocks: 24 }));
test("shard paths: hoisted switch over 3 and 4 shards, no fast path on one shard", async () => {
  await check({ dtype: "f32", d: 16, b: 8, H: 2, r: 2, lens: [[50, 20], [33, 9]], mode: 2, maxBindingBlocks: 40, tuning: { hoistShardSwitch: true } });
  await check({ dtype: "f16", d: 64, b: 16, H: 2, r: 2, lens: [[40, 70], [100, 2]], mode: 1, maxBindingBlocks: 24, tuning: { hoistShardSwitch: true } });
  await check({ dtype: "f16", d: 128, b: 16, H: 1, r: 4, lens: [[700]], mode: 2, tuning: { shardFastPath: false } });
});
test("groupReduce max: f32 d=16 b=8 r=4, L2, split 3 ways", () =>
  check({ dtype: "f32", d: 16, b: 8, H: 2, r: 4, lens: [[600, 1], [37, 0]], mode: 2, groupReduce: "max" }));
test("groupReduce max: f16 d=128 b=16 r=3 (padded quad), L1", () =>
  check({ dtype: "f16", d: 128, b: 16, H: 2, r: 3, lens: [[290, 77]], mode: 1, groupReduce: "max" }));

test.run();
