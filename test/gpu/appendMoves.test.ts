// append_kv and execute_cache_moves vs refAppend / refExecuteMoves on random scattered pools.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createGpuKvPool } from "../../src/gpu/pool";
import { createAppendKv } from "../../src/gpu/kernels/appendKv";
import { createCacheMoveExecutor } from "../../src/gpu/kernels/executeCacheMoves";
import type { KvDtype } from "../../src/gpu/layout";
import {
  makeRng, randomPool, refAppend, refEvictedIdx, refExecuteMoves, refPlanMoves,
} from "../reference/kernels";
import { testDevice } from "../harness/env";
import { freshSeed, kernelDims, randomArray, readPool, readQuantRecords, runPass, storageBuffer, testBlockBytes, uploadPool } from "./helpers";
import { type QuantDtype, boundaryGroup, refQuantizeVec } from "../reference/quant";
import { QUANT_GROUP, kvRecordWords } from "../../src/contract";

const test = suite("gpu: append_kv and execute_cache_moves");

const F16 = 2e-3;

function sameArrays(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  for (let i = 0; i < want.length; i++) {
    const ok = tol === 0 ? got[i] === want[i] : Math.abs(got[i] - want[i]) <= tol * Math.max(1, Math.abs(want[i]));
    if (!ok) assert.unreachable(`${what}[${i}] = ${got[i]}, want ${want[i]}`);
  }
}

async function appendCase(dtype: KvDtype, d: number, b: number, newPerSeq: number[], maxBindingBlocks?: number) {
  const device = await testDevice();
  const seed = freshSeed();
  const rng = makeRng(seed);
  const H = 2, S = newPerSeq.length, M = 12;
  const dims = { numLayers: 2, maxSeqs: S, numKvHeads: H, headSize: d, blockSize: b, numBlocks: 2 * S * H * M, maxBlocksPerHead: M };
  const oldLens = newPerSeq.map(() => Math.floor(rng() * 3 * b));
  const seqLens = oldLens.map((o, s) => o + newPerSeq[s] + 5);
  // ctxLens already include the new rows (the control plane grew them before the append).
  const ref = randomPool(rng, { dims, seqLens, ctxLenOf: (l, s, h) => Math.max(0, oldLens[s] - h) + newPerSeq[s] });
  if (dtype === "f16") ref.roundToF16();
  const kd = kernelDims(dims, H, dtype);
  const bb = 2 * b * d * (dtype === "f16" ? 2 : 4);
  const gpu = createGpuKvPool(device, kd, { maxBindingBytes: maxBindingBlocks ? maxBindingBlocks * bb : undefined });
  uploadPool(device, gpu, ref);
  const tokenOffsets = [0];
  for (const n of newPerSeq) tokenOffsets.push(tokenOffsets.at(-1)! + n);
  const numTokens = tokenOffsets.at(-1)!;
  const keys = randomArray(rng, numTokens * H * d, dtype === "f16");
  const values = randomArray(rng, numTokens * H * d, dtype === "f16");
  const seqIds = Array.from({ length: S }, (_, s) => s);
  const positions: number[] = [];
  seqIds.forEach((s) => { for (let t = 0; t < newPerSeq[s]; t++) positions.push(seqLens[s] - newPerSeq[s] + t); });
  const kernel = await createAppendKv(device, gpu);
  const kb = storageBuffer(device, keys), vb = storageBuffer(device, values);
  const layer = 1;
  await runPass(device, (pass) => kernel.encode(pass, {
    layer, newKeys: kb, newValues: vb,
    seqs: seqIds.map((s) => ({ seqId: s, tokenStart: tokenOffsets[s], numNew: newPerSeq[s], firstPos: seqLens[s] - newPerSeq[s] })),
  }));
  refAppend(ref, layer, seqIds, tokenOffsets, keys, values, positions);
  const got = await readPool(device, gpu, ref);
  const tag = ` seed=${seed}`;
  sameArrays(got.keys, ref.keys, 0, "keys" + tag);
  sameArrays(got.values, ref.values, 0, "values" + tag);
  sameArrays(got.positions, ref.positions, 0, "positions" + tag);
  sameArrays(got.metrics, Float32Array.from(ref.metrics), 0, "metrics" + tag);
  kernel.destroy(); gpu.destroy(); kb.destroy(); vb.destroy();
}

test("append f32 d=16 b=8, prompts and single tokens", () => appendCase("f32", 16, 8, [13, 1, 0, 9]));
test("append f16 d=64 b=16", () => appendCase("f16", 64, 16, [1, 1, 40]));
test("append f32 d=8 b=32 over 3 shards", () => appendCase("f32", 8, 32, [20, 3, 7], 36));
test("append f32 d=8 b=8, 70 sequences (two uniform batches)", () =>
  appendCase("f32", 8, 8, Array.from({ length: 70 }, (_, i) => (i * 3) % 5)));

async function movesCase(dtype: KvDtype, d: number, b: number, maxBindingBlocks?: number) {
  const device = await testDevice();
  const seed = freshSeed();
  const rng = makeRng(seed);
  const L = 2, H = 3, S = 3, M = 10;
  const dims = { numLayers: L, maxSeqs: S, numKvHeads: H, headSize: d, blockSize: b, numBlocks: L * S * H * M, maxBlocksPerHead: M };
  const seqLens = [5 * b, 9 * b, 2];
  const ref = randomPool(rng, { dims, seqLens, ctxLenOf: (l, s, h) => Math.floor(rng() * (seqLens[s] + 1)) });
  if (dtype === "f16") ref.roundToF16();
  const seqIds = [2, 0, 1];
  // Random evictions: per head evict a random subset (a head of 0, all, or a few).
  const counts: number[] = [];
  for (let l = 0; l < L; l++) for (const s of seqIds) for (let h = 0; h < H; h++) {
    const c = ref.ctxLens[ref.headIdx(l, s, h)];
    counts.push(Math.floor(rng() * (c + 1)));
  }
  const { evictedIdx, evictedOffsets } = refEvictedIdx(ref, seqIds, 0, 0, counts);
  // refEvictedIdx picks the lowest scores; shuffle metrics beforehand makes the sets random.
  const { moves } = refPlanMoves(ref, seqIds, evictedIdx, evictedOffsets);
  const kd = kernelDims(dims, H, dtype);
  const bb = 2 * b * d * (dtype === "f16" ? 2 : 4);
  const gpu = createGpuKvPool(device, kd, { maxBindingBytes: maxBindingBlocks ? maxBindingBlocks * bb : undefined });
  uploadPool(device, gpu, ref);
  const kernel = await createCacheMoveExecutor(device, gpu);
  const mb = storageBuffer(device, moves.length ? moves : new Uint32Array(2));
  await runPass(device, (pass) => kernel.encode(pass, { moves: mb, numMoves: moves.length / 2 }));
  refExecuteMoves(ref, moves);
  const got = await readPool(device, gpu, ref);
  const tag = ` seed=${seed} moves=${moves.length / 2}`;
  assert.ok(moves.length > 0, "the random plan has moves" + tag);
  sameArrays(got.keys, ref.keys, 0, "keys" + tag);
  sameArrays(got.values, ref.values, 0, "values" + tag);
  sameArrays(got.positions, ref.positions, 0, "positions" + tag);
  sameArrays(got.metrics, Float32Array.from(ref.metrics), 0, "metrics" + tag);
  kernel.destroy(); gpu.destroy(); mb.destroy();
}

test("moves f32 d=16 b=8", () => movesCase("f32", 16, 8));
test("moves f16 d=128 b=16 over 4 shards", () => movesCase("f16", 128, 16, 50));
test("moves f32 d=64 b=32 over 2 shards", () => movesCase("f32", 64, 32, 100));


// q8/q4 append: every record word (scales and codes) bit-exact against the reference quantizer of
// the same inputs; every other slot's record untouched.
async function appendQuantCase(dtype: QuantDtype, d: number, b: number, newPerSeq: number[], maxBindingBlocks?: number, boundary = false) {
  const device = await testDevice();
  const seed = freshSeed();
  const rng = makeRng(seed);
  const H = 3, S = newPerSeq.length, M = 8;
  const dims = { numLayers: 2, maxSeqs: S, numKvHeads: H, headSize: d, blockSize: b, numBlocks: 2 * S * H * M, maxBlocksPerHead: M };
  const oldLens = newPerSeq.map(() => Math.floor(rng() * 2 * b));
  const seqLens = oldLens.map((o, s) => o + newPerSeq[s] + 5);
  const ref = randomPool(rng, { dims, seqLens, ctxLenOf: (l, s, h) => Math.max(0, oldLens[s] - h) + newPerSeq[s] });
  const kd = kernelDims(dims, H, dtype);
  const gpu = createGpuKvPool(device, kd, { maxBindingBytes: maxBindingBlocks ? maxBindingBlocks * testBlockBytes(kd) : undefined });
  uploadPool(device, gpu, ref);
  const before = await readQuantRecords(device, gpu);
  const tokenOffsets = [0];
  for (const n of newPerSeq) tokenOffsets.push(tokenOffsets.at(-1)! + n);
  const numTokens = tokenOffsets.at(-1)!;
  // Scaled inputs, one group constant (s = 0), so ranges and the degenerate group are exercised.
  const keys = randomArray(rng, numTokens * H * d).map((x, i) => (i < Math.min(32, d) ? 0.25 : x * (1 + (i % 7))));
  const values = randomArray(rng, numTokens * H * d);
  if (boundary) {
    let g = 0;
    for (let v = 0; v < keys.length; v += d) for (let o = v; o < v + d; o += QUANT_GROUP, g++) {
      const n = Math.min(QUANT_GROUP, v + d - o);
      keys.set(boundaryGroup(rng, dtype, n, g % 3), o);
      values.set(boundaryGroup(rng, dtype, n, (g + 1) % 3), o);
    }
  }
  const kernel = await createAppendKv(device, gpu);
  const kb = storageBuffer(device, keys), vb = storageBuffer(device, values);
  const layer = 1;
  await runPass(device, (pass) => kernel.encode(pass, {
    layer, newKeys: kb, newValues: vb,
    seqs: newPerSeq.map((n, s) => ({ seqId: s, tokenStart: tokenOffsets[s], numNew: n, firstPos: seqLens[s] - n })),
  }));
  const got = await readQuantRecords(device, gpu);
  const want = before.slice();
  const R = kvRecordWords(d, dtype);
  for (let s = 0; s < S; s++) for (let t = 0; t < newPerSeq[s]; t++) for (let h = 0; h < H; h++) {
    const ctx = ref.ctxLens[ref.headIdx(layer, s, h)];
    const slot = ref.slotOf(layer, s, h, ctx - (newPerSeq[s] - t));
    const src = ((tokenOffsets[s] + t) * H + h) * d;
    want.set(refQuantizeVec(keys.subarray(src, src + d), dtype), slot * 2 * R);
    want.set(refQuantizeVec(values.subarray(src, src + d), dtype), slot * 2 * R + R);
  }
  const tag = ` seed=${seed} ${dtype} d=${d}`;
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) assert.unreachable(`record word ${i} (slot ${Math.floor(i / 2 / R)}) = ${got[i].toString(16)}, want ${want[i].toString(16)}${tag}`);
  }
  kernel.destroy(); gpu.destroy(); kb.destroy(); vb.destroy();
}

test("append q8 d=48 (groups of 32 and 16) b=8, prompts and single tokens, over 3 shards", () => appendQuantCase("q8", 48, 8, [13, 1, 0, 9], 60));
test("append q4 d=64 b=16", () => appendQuantCase("q4", 64, 16, [1, 20]));
test("append q4 d=8 b=32", () => appendQuantCase("q4", 8, 32, [7, 3]));
test("append q8 d=64 / q4 d=40 on rounding boundaries (scale and code ties, collapsed levels)", async () => {
  await appendQuantCase("q8", 64, 8, [6, 1], undefined, true);
  await appendQuantCase("q4", 40, 8, [5, 2], undefined, true);
});

// q8/q4 moves: the dequantized pool after the moves equals the one before with refExecuteMoves
// applied, exactly: a KV moves with its scales and nothing is re-quantized.
async function movesQuantCase(dtype: QuantDtype, d: number, b: number, maxBindingBlocks?: number) {
  const device = await testDevice();
  const seed = freshSeed();
  const rng = makeRng(seed);
  const L = 2, H = 3, S = 2, M = 6;
  const dims = { numLayers: L, maxSeqs: S, numKvHeads: H, headSize: d, blockSize: b, numBlocks: L * S * H * M, maxBlocksPerHead: M };
  const seqLens = [5 * b, 3 * b + 1];
  const ref = randomPool(rng, { dims, seqLens, ctxLenOf: (l, s) => Math.floor(rng() * (seqLens[s] + 1)) });
  const seqIds = [1, 0];
  const counts: number[] = [];
  for (let l = 0; l < L; l++) for (const s of seqIds) for (let h = 0; h < H; h++) counts.push(Math.floor(rng() * (ref.ctxLens[ref.headIdx(l, s, h)] + 1)));
  const { evictedIdx, evictedOffsets } = refEvictedIdx(ref, seqIds, 0, 0, counts);
  const { moves } = refPlanMoves(ref, seqIds, evictedIdx, evictedOffsets);
  const kd = kernelDims(dims, H, dtype);
  const gpu = createGpuKvPool(device, kd, { maxBindingBytes: maxBindingBlocks ? maxBindingBlocks * testBlockBytes(kd) : undefined });
  uploadPool(device, gpu, ref);
  const want = await readPool(device, gpu, ref);
  const kernel = await createCacheMoveExecutor(device, gpu);
  const mb = storageBuffer(device, moves.length ? moves : new Uint32Array(2));
  await runPass(device, (pass) => kernel.encode(pass, { moves: mb, numMoves: moves.length / 2 }));
  refExecuteMoves(want, moves);
  const got = await readPool(device, gpu, ref);
  const tag = ` seed=${seed} ${dtype} moves=${moves.length / 2}`;
  assert.ok(moves.length > 0, "the random plan has moves" + tag);
  sameArrays(got.keys, want.keys, 0, "keys" + tag);
  sameArrays(got.values, want.values, 0, "values" + tag);
  sameArrays(got.positions, want.positions, 0, "positions" + tag);
  sameArrays(got.metrics, Float32Array.from(want.metrics), 0, "metrics" + tag);
  kernel.destroy(); gpu.destroy(); mb.destroy();
}

test("moves q8 d=40 b=8 over 3 shards", () => movesQuantCase("q8", 40, 8, 25));
test("moves q4 d=64 b=16", () => movesQuantCase("q4", 64, 16));

test.run();
