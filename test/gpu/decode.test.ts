// Paged decode attention (split-K + reduce + metric) vs refDecode on random scattered pools.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createGpuKvPool } from "../../src/gpu/pool";
import { createDecodeAttention, decodeVariant, subgroupMinSize, type GroupReduce, type MetricMode } from "../../src/gpu/kernels/decodeAttention";
import { decodeSubgroupFits, type DecodeTuning, type KvDtype } from "../../src/gpu/layout";
import { makeRng, maxRelErr, randomPool, refDecode } from "../reference/kernels";
import { testDevice } from "../harness/env";
import { roundPoolToQuant } from "../reference/quant";
import { freshSeed, kernelDims, testBlockBytes, nanBuffer, randomArray, readBuffer, readPool, runPass, storageBuffer, uploadPool } from "./helpers";

const test = suite("gpu: paged decode attention");

interface Case { dtype: KvDtype; d: number; b: number; H: number; r: number; lens: number[][]; mode: MetricMode; maxBindingBlocks?: number; tuning?: Partial<DecodeTuning>; targetWorkgroups?: number; groupReduce?: GroupReduce }

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
  // q8/q4: the reference reads the dequantized values, the GPU its codes (dequantized in registers).
  if (c.dtype === "q8" || c.dtype === "q4") roundPoolToQuant(ref, c.dtype);
  const kd = kernelDims(dims, c.H * c.r, c.dtype);
  const blockBytes = testBlockBytes(kd);
  const gpu = createGpuKvPool(device, kd, { maxBindingBytes: c.maxBindingBlocks ? c.maxBindingBlocks * blockBytes : undefined });
  uploadPool(device, gpu, ref);
  // Sequence order in the batch differs from seqId order on purpose.
  const seqIds = Array.from({ length: numSeqs }, (_, i) => numSeqs - 1 - i);
  const q = randomArray(rng, numSeqs * kd.numQHeads * c.d);
  const queries = storageBuffer(device, q);
  const want = refDecode(ref, layer, seqIds, kd.numQHeads, q, c.mode, c.groupReduce);
  // f32 and q8/q4 hold the same f32 values here; the quantized loads dequantize with one
  // multiply-add per element, which a compiler may fuse: 1e-4 rather than 1e-5.
  const tol = c.dtype === "f16" ? 2e-3 : c.dtype === "f32" ? 1e-5 : 1e-4;
  // Both partial kernels where this adapter can run the subgroup one; the metric update is
  // checked after the first run only (a second run would add the metric again).
  const variants = c.tuning?.subgroups === false || !subgroupKernelRuns(device, c.d) ? [false] : [true, false];
  for (const [run, subgroups] of variants.entries()) {
    const outRun = nanBuffer(device, q.length);
    const kernel = await createDecodeAttention(device, gpu, { maxBatchSeqs: numSeqs, targetWorkgroups: c.targetWorkgroups ?? 64, tuning: { ...c.tuning, subgroups } });
    assert.is(kernel.variant, subgroups ? "subgroup" : "portable");
    await runPass(device, (pass) => kernel.encode(pass, { layer, seqIds, queries, out: outRun, metricMode: run === 0 ? c.mode : 0, groupReduce: c.groupReduce }));
    const got = new Float32Array(await readBuffer(device, outRun));
    const tag = `seed=${seed} ${kernel.variant} ${JSON.stringify(c)}`;
    const eOut = maxRelErr(got, want);
    assert.ok(eOut < tol, `out rel err ${eOut} ${tag}`);
    if (run === 0) {
      const after = await readPool(device, gpu, ref);
      const eMetric = maxRelErr(after.metrics, ref.metrics);
      assert.ok(eMetric < tol, `metric rel err ${eMetric} ${tag}`);
    }
    kernel.destroy(); outRun.destroy();
  }
  gpu.destroy(); queries.destroy();
}

/** Whether this adapter runs paged_attention_decode_subgroup.wgsl for head size d. */
function subgroupKernelRuns(device: GPUDevice, d: number): boolean {
  return device.features.has("subgroups") && decodeSubgroupFits({ headSize: d }, subgroupMinSize(device));
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
test("f16 d=128 r=4 with the bench's kernel variants (wg 32/64/128, splits of 32–1024 keys, split-major grid)", async () => {
  for (const [tuning, targetWorkgroups] of [[{ wgSize: 64, splitMajor: true }, 64], [{ wgSize: 128, maxSplitKeys: 1024 }, 1], [{ maxSplitKeys: 32 }, 64], [{ wgSize: 32 }, 4096]] as const) {
    await check({ dtype: "f16", d: 128, b: 16, H: 1, r: 4, lens: [[1100], [37]], mode: 2, tuning, targetWorkgroups });
  }
});
test("f32 d=12 (3 lanes a key, 10 key groups) b=8 r=5 (two quads, the second of one head), L2", () =>
  check({ dtype: "f32", d: 12, b: 8, H: 2, r: 5, lens: [[70, 1], [0, 129]], mode: 2 }));
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
test("shards: f16 d=128 over 4 shards in 1024-key splits; f32 d=64 b=32 over 2 shards, 96-key splits, split-major grid", async () => {
  await check({ dtype: "f16", d: 128, b: 16, H: 2, r: 4, lens: [[1500, 20], [333, 900]], mode: 2, maxBindingBlocks: 300, tuning: { maxSplitKeys: 1024 }, targetWorkgroups: 1 });
  await check({ dtype: "f32", d: 64, b: 32, H: 2, r: 2, lens: [[700, 33], [64, 1]], mode: 1, maxBindingBlocks: 140, tuning: { maxSplitKeys: 96, splitMajor: true }, targetWorkgroups: 1 });
});
test("groupReduce max: f32 d=16 b=8 r=4, L2, split 3 ways", () =>
  check({ dtype: "f32", d: 16, b: 8, H: 2, r: 4, lens: [[600, 1], [37, 0]], mode: 2, groupReduce: "max" }));
test("groupReduce max: f16 d=128 b=16 r=3 (padded quad), L1", () =>
  check({ dtype: "f16", d: 128, b: 16, H: 2, r: 3, lens: [[290, 77]], mode: 1, groupReduce: "max" }));

test("f16 d=32 b=16 r=4 (4 lanes a key: the subgroup kernel on 4-wide subgroups) over 2 shards, L2", () =>
  check({ dtype: "f16", d: 32, b: 16, H: 2, r: 4, lens: [[513, 2], [64, 100]], mode: 2, maxBindingBlocks: 210 }));test("q8 d=64 b=16 r=3 (padded quad) and q4 d=48 (a group of 16) b=8 r=2 over 3 shards, L2", async () => {
  await check({ dtype: "q8", d: 64, b: 16, H: 3, r: 3, lens: [[70, 1, 0], [17, 33, 9]], mode: 2 });
  await check({ dtype: "q4", d: 48, b: 8, H: 2, r: 2, lens: [[50, 20], [33, 9]], mode: 2, maxBindingBlocks: 40 });
});
test("q4 d=128 b=16 r=4, L1, split 2 ways; q8 d=12 (3 lanes a key) b=8 r=5, L2", async () => {
  await check({ dtype: "q4", d: 128, b: 16, H: 1, r: 4, lens: [[100], [7]], mode: 1, tuning: { maxSplitKeys: 64 } });
  await check({ dtype: "q8", d: 12, b: 8, H: 2, r: 5, lens: [[70, 1], [0, 29]], mode: 2 });
});
// The subgroup kernel on 4-wide subgroups: q4 d=8 has one lane a key whose two chunks are the two
// halves of one code word (kvUnpackAt picks the half by the chunk's position, not at the load).
test("q4 d=8 b=8 r=2 and q8 d=32 b=16 r=4 (the subgroup kernel where subgroups are 4 wide), L2", async () => {
  await check({ dtype: "q4", d: 8, b: 8, H: 2, r: 2, lens: [[40, 3]], mode: 2 });
  await check({ dtype: "q8", d: 32, b: 16, H: 1, r: 4, lens: [[70], [9]], mode: 2 });
});

test("the default decode runs the subgroup kernel exactly where it fits", async () => {
  const device = await testDevice();
  const sg = subgroupMinSize(device);
  const has = device.features.has("subgroups");
  // Fits: subgroups on, d/8 lanes a key (8 elements each), a power of two within a subgroup.
  const want = (d: number) => has && d % 8 === 0 && [1, 2, 4, 8, 16, 32, 64].includes(d / 8) && d / 8 <= sg ? "subgroup" : "portable";
  for (const d of [8, 12, 16, 24, 32, 64, 128]) {
    assert.is(decodeVariant(device, { headSize: d }), want(d), `d=${d} subgroups=${has} smallest subgroup ${sg}`);
    assert.is(decodeVariant(device, { headSize: d }, false), "portable", `d=${d}, subgroups off`);
  }
  // The kernel built is the one chosen (each build compiles three pipelines: two head sizes, one on
  // each side of the rule where this adapter has subgroups).
  for (const d of [12, 32]) {
    const gpu = createGpuKvPool(device, kernelDims({ numLayers: 1, maxSeqs: 1, numKvHeads: 1, headSize: d, blockSize: 16, numBlocks: 4, maxBlocksPerHead: 4 }, 4, "f16"));
    const kernel = await createDecodeAttention(device, gpu, { maxBatchSeqs: 1 });
    assert.is(kernel.variant, want(d), `d=${d} subgroups=${has} smallest subgroup ${sg}`);
    kernel.destroy(); gpu.destroy();
  }
});

test.run();
