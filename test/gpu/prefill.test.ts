// Paged prefill attention (causal by position) and the prefill metric vs refPrefill.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createGpuKvPool } from "../../src/gpu/pool";
import type { GroupReduce, MetricMode } from "../../src/gpu/kernels/decodeAttention";
import { createPrefillAttention } from "../../src/gpu/kernels/prefillAttention";
import type { KvDtype } from "../../src/gpu/layout";
import { makeRng, maxRelErr, randomPool, refPrefill } from "../reference/kernels";
import { testDevice } from "../harness/env";
import { roundPoolToQuant } from "../reference/quant";
import { freshSeed, kernelDims, testBlockBytes, nanBuffer, randomArray, readBuffer, readPool, runPass, storageBuffer, uploadPool } from "./helpers";

const test = suite("gpu: paged prefill attention");

interface Case {
  dtype: KvDtype; d: number; b: number; H: number; r: number;
  /** Per seq: [seqLen, numNew, ctxLen per kv head]; the chunk's queries are the last numNew positions. */
  seqs: [number, number, number[]][];
  mode: MetricMode; obsWindow: number; poolWidth?: number; contiguous?: boolean; maxBindingBlocks?: number;
  groupReduce?: GroupReduce;
}

async function check(c: Case): Promise<void> {
  const device = await testDevice();
  const seed = freshSeed();
  const rng = makeRng(seed);
  const S = c.seqs.length;
  const maxLen = Math.max(1, ...c.seqs.flatMap((s) => s[2]));
  const M = Math.ceil(maxLen / c.b) + 1;
  const dims = { numLayers: 1, maxSeqs: S, numKvHeads: c.H, headSize: c.d, blockSize: c.b, numBlocks: S * c.H * M, maxBlocksPerHead: M };
  const ref = randomPool(rng, {
    dims, seqLens: c.seqs.map((s) => s[0]), ctxLenOf: (l, s, h) => c.seqs[s][2][h], contiguousPositions: c.contiguous,
  });
  if (c.dtype === "f16") ref.roundToF16();
  // q8/q4: the reference reads the dequantized values, the GPU its codes (dequantized in registers).
  if (c.dtype === "q8" || c.dtype === "q4") roundPoolToQuant(ref, c.dtype);
  const kd = kernelDims(dims, c.H * c.r, c.dtype);
  const bb = testBlockBytes(kd);
  const gpu = createGpuKvPool(device, kd, { maxBindingBytes: c.maxBindingBlocks ? c.maxBindingBlocks * bb : undefined });
  uploadPool(device, gpu, ref);
  const seqIds = Array.from({ length: S }, (_, i) => S - 1 - i);
  const tokenOffsets = [0];
  for (const s of seqIds) tokenOffsets.push(tokenOffsets.at(-1)! + c.seqs[s][1]);
  const numTokens = tokenOffsets.at(-1)!;
  const qPos: number[] = [];
  seqIds.forEach((s) => { for (let t = 0; t < c.seqs[s][1]; t++) qPos.push(c.seqs[s][0] - c.seqs[s][1] + t); });
  const q = randomArray(rng, numTokens * kd.numQHeads * c.d);
  const queries = storageBuffer(device, q);
  const kernel = await createPrefillAttention(device, gpu);
  const out = nanBuffer(device, kernel.outBytes(numTokens, S) / 4);
  await runPass(device, (pass) => kernel.encode(pass, {
    layer: 0, numTokens, queries, out, metricMode: c.mode, obsWindow: c.obsWindow, poolWidth: c.poolWidth, groupReduce: c.groupReduce,
    seqs: seqIds.map((s, k) => ({ seqId: s, tokenStart: tokenOffsets[k], numNew: c.seqs[s][1], firstPos: c.seqs[s][0] - c.seqs[s][1] })),
  }));
  const got = new Float32Array(await readBuffer(device, out, 0, numTokens * kd.numQHeads * c.d * 4));
  const want = refPrefill(ref, 0, seqIds, tokenOffsets, kd.numQHeads, q, qPos, c.mode, c.obsWindow, c.poolWidth ?? 7, c.groupReduce);
  // f32 and q8/q4 hold the same f32 values here; the quantized loads dequantize with one
  // multiply-add per element, which a compiler may fuse: 1e-4 rather than 1e-5.
  const tol = c.dtype === "f16" ? 2e-3 : c.dtype === "f32" ? 1e-5 : 1e-4;
  const tag = `seed=${seed} ${JSON.stringify(c)}`;
  const e = maxRelErr(got, want);
  assert.ok(e < tol, `out rel err ${e} ${tag}`);
  const after = await readPool(device, gpu, ref);
  const em = maxRelErr(after.metrics, ref.metrics);
  assert.ok(em < tol, `metric rel err ${em} ${tag}`);
  kernel.destroy(); gpu.destroy(); queries.destroy(); out.destroy();
}

test("f32 d=16 b=8 r=2, fresh prompts (contiguous), L2 window 8", () =>
  check({ dtype: "f32", d: 16, b: 8, H: 2, r: 2, seqs: [[37, 37, [37, 37]], [5, 5, [5, 5]]], mode: 2, obsWindow: 8, contiguous: true }));
test("f32 d=8 b=16 r=1, chunk over a compressed cache (scrambled positions), L1", () =>
  check({ dtype: "f32", d: 8, b: 16, H: 3, r: 1, seqs: [[90, 20, [60, 1, 0]], [40, 1, [33, 40, 7]]], mode: 1, obsWindow: 32 }));
test("f32 d=16 b=8 r=2, obsWindow 0 (all queries), poolWidth 1 (h2o-style)", () =>
  check({ dtype: "f32", d: 16, b: 8, H: 2, r: 2, seqs: [[45, 45, [45, 45]], [30, 10, [20, 30]]], mode: 1, obsWindow: 0, poolWidth: 1 }));
test("f32 d=16 b=8 r=1, poolWidth 3", () =>
  check({ dtype: "f32", d: 16, b: 8, H: 1, r: 1, seqs: [[25, 25, [25]]], mode: 2, obsWindow: 4, poolWidth: 3, contiguous: true }));
test("f32 d=64 b=32 r=4, 130-token prompt (9 query tiles of 16 tokens, 3 key tiles), no metric", () =>
  check({ dtype: "f32", d: 64, b: 32, H: 1, r: 4, seqs: [[130, 130, [130]]], mode: 0, obsWindow: 0, contiguous: true }));
test("f16 d=128 b=16 r=2, L2 window 32", () =>
  check({ dtype: "f16", d: 128, b: 16, H: 2, r: 2, seqs: [[70, 70, [70, 70]], [100, 12, [50, 81]]], mode: 2, obsWindow: 32, contiguous: false }));
test("f32 pool over 4 shards (tiny binding limit)", () =>
  check({ dtype: "f32", d: 16, b: 8, H: 2, r: 2, seqs: [[60, 60, [60, 60]], [30, 30, [30, 30]]], mode: 2, obsWindow: 8, contiguous: true, maxBindingBlocks: 10 }));
test("groupReduce max: f32 d=16 b=8 r=4, L2 window 8 (max over the group after pooling)", () =>
  check({ dtype: "f32", d: 16, b: 8, H: 2, r: 4, seqs: [[41, 41, [41, 41]], [60, 9, [30, 55]]], mode: 2, obsWindow: 8, groupReduce: "max" }));
test("groupReduce max: f16 d=64 b=16 r=3, L1 all queries, poolWidth 1", () =>
  check({ dtype: "f16", d: 64, b: 16, H: 1, r: 3, seqs: [[50, 50, [50]]], mode: 1, obsWindow: 0, poolWidth: 1, contiguous: true, groupReduce: "max" }));
test("q8 d=64 b=16 r=3, chunk over a scrambled cache, L2 window 8; q4 d=40 (a group of 8) b=8 r=2 over 3 shards, L1", async () => {
  await check({ dtype: "q8", d: 64, b: 16, H: 2, r: 3, seqs: [[50, 12, [40, 50]], [9, 9, [9, 9]]], mode: 2, obsWindow: 8 });
  await check({ dtype: "q4", d: 40, b: 8, H: 2, r: 2, seqs: [[37, 37, [37, 37]], [20, 5, [20, 11]]], mode: 1, obsWindow: 0, contiguous: true, maxBindingBlocks: 8 });
});

/** Chunked prefill of fresh prompts: chunk i's queries attend to every earlier chunk's KVs plus their
 *  own, causally; ctxLens grow chunk by chunk (as after each chunk's append) and the metric sums. */
interface ChunkedCase { dtype: KvDtype; d: number; b: number; H: number; r: number; chunks: number[][]; mode: MetricMode; obsWindow: number }

async function checkChunked(c: ChunkedCase): Promise<void> {
  const device = await testDevice();
  const seed = freshSeed();
  const rng = makeRng(seed);
  const S = c.chunks.length;
  const totals = c.chunks.map((ch) => ch.reduce((a, x) => a + x, 0));
  const M = Math.ceil(Math.max(...totals) / c.b) + 1;
  const dims = { numLayers: 1, maxSeqs: S, numKvHeads: c.H, headSize: c.d, blockSize: c.b, numBlocks: S * c.H * M, maxBlocksPerHead: M };
  const ref = randomPool(rng, { dims, seqLens: totals, ctxLenOf: (_l, s) => totals[s], contiguousPositions: true });
  if (c.dtype === "f16") ref.roundToF16();
  if (c.dtype === "q8" || c.dtype === "q4") roundPoolToQuant(ref, c.dtype);
  const kd = kernelDims(dims, c.H * c.r, c.dtype);
  const gpu = createGpuKvPool(device, kd);
  uploadPool(device, gpu, ref);
  const kernel = await createPrefillAttention(device, gpu);
  const tol = c.dtype === "f16" ? 2e-3 : c.dtype === "f32" ? 1e-5 : 1e-4;
  const tag = `seed=${seed} ${JSON.stringify(c)}`;
  const starts = c.chunks.map(() => 0);
  for (let i = 0; i < c.chunks[0].length; i++) {
    const sizes = c.chunks.map((ch) => ch[i]);
    for (let sq = 0; sq < S; sq++) for (let h = 0; h < c.H; h++) ref.ctxLens[ref.headIdx(0, sq, h)] = starts[sq] + sizes[sq];
    gpu.writeCtxLens(0, Int32Array.from(ref.ctxLens));
    const seqIds = Array.from({ length: S }, (_, k) => k);
    const tokenOffsets = [0];
    for (const sq of seqIds) tokenOffsets.push(tokenOffsets.at(-1)! + sizes[sq]);
    const numTokens = tokenOffsets.at(-1)!;
    const qPos: number[] = [];
    for (const sq of seqIds) for (let t = 0; t < sizes[sq]; t++) qPos.push(starts[sq] + t);
    const q = randomArray(rng, numTokens * kd.numQHeads * c.d);
    const queries = storageBuffer(device, q);
    const out = nanBuffer(device, kernel.outBytes(numTokens, S) / 4);
    await runPass(device, (pass) => kernel.encode(pass, {
      layer: 0, numTokens, queries, out, metricMode: c.mode, obsWindow: c.obsWindow,
      seqs: seqIds.map((sq, k) => ({ seqId: sq, tokenStart: tokenOffsets[k], numNew: sizes[sq], firstPos: starts[sq] })),
    }));
    const got = new Float32Array(await readBuffer(device, out, 0, numTokens * kd.numQHeads * c.d * 4));
    const want = refPrefill(ref, 0, seqIds, tokenOffsets, kd.numQHeads, q, qPos, c.mode, c.obsWindow);
    const e = maxRelErr(got, want);
    assert.ok(e < tol, `chunk ${i}: out rel err ${e} ${tag}`);
    queries.destroy(); out.destroy();
    for (let sq = 0; sq < S; sq++) starts[sq] += sizes[sq];
  }
  const after = await readPool(device, gpu, ref);
  const em = maxRelErr(after.metrics, ref.metrics);
  assert.ok(em < tol, `metric rel err ${em} ${tag}`);
  kernel.destroy(); gpu.destroy();
}

// Tiles: 64 rows = floor(64 / r) tokens × r heads (r = 3: 21 tokens, r = 7: 9 tokens), 64 keys.
test("9/3 heads f16 d=128 b=16: three chunks (30, 5, 50: one shorter than a tile), L2 window 32", () =>
  checkChunked({ dtype: "f16", d: 128, b: 16, H: 3, r: 3, chunks: [[30, 5, 50]], mode: 2, obsWindow: 32 }));
test("14/2 heads f32 d=64 b=16: chunks (23, 9, 40) and (4, 70, 1) of two prompts, L1 window 8", () =>
  checkChunked({ dtype: "f32", d: 64, b: 16, H: 2, r: 7, chunks: [[23, 9, 40], [4, 70, 1]], mode: 1, obsWindow: 8 }));
test("14/2 heads q8 d=128 b=8: chunks (67, 13), L2 all queries", () =>
  checkChunked({ dtype: "q8", d: 128, b: 8, H: 2, r: 7, chunks: [[67, 13]], mode: 2, obsWindow: 0 }));
test("9/3 heads q4 d=64 b=16: chunks (2, 75), L1 window 32; 9/3 f32 d=128 over a scrambled cache", async () => {
  await checkChunked({ dtype: "q4", d: 64, b: 16, H: 3, r: 3, chunks: [[2, 75]], mode: 1, obsWindow: 32 });
  await check({ dtype: "f32", d: 128, b: 16, H: 3, r: 3, seqs: [[150, 40, [100, 150, 3]]], mode: 2, obsWindow: 16 });
});
test("14/2 heads f16 d=64 b=32: a 100-token prompt in one chunk, no metric", () =>
  checkChunked({ dtype: "f16", d: 64, b: 32, H: 2, r: 7, chunks: [[100]], mode: 0, obsWindow: 0 }));

test.run();
