// CpuBackend (src/cpu/backend.ts): the KvBackend the cache uses without WebGPU. Control plane
// and kernels share one cpu.wasm instance, so chunk keys / evicted indices land in the
// control plane's own regions by pointer; checked against the references.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import cpuWasm from "kvcompress:wasm/cpu";
import { freshSeed } from "../harness/env";
import {
  makeRng, refChunkKeys, refDecode, refEvictedIdx, refExecuteMoves, refPlanMoves, refPrefill, type PoolDims,
} from "../reference/kernels";
import { createCpuBackend } from "../../src/cpu/backend";
import type { KvCacheConfig } from "../../src/config";
import { elemRelErr, loadPool, makeRefPool, randomF32, readPool, rowRelErr } from "./helpers";

const dims: PoolDims = { numLayers: 2, maxSeqs: 3, numKvHeads: 2, headSize: 16, blockSize: 4, numBlocks: 2 * 3 * 2 * 14, maxBlocksPerHead: 14 };
const numQHeads = 4;

async function setup(dtype: "f32" | "f16" | "q8" | "q4") {
  const cfg = { ...dims, numQHeads, groupSize: numQHeads / dims.numKvHeads, storage: dtype } as unknown as KvCacheConfig;
  const { control, backend } = await createCpuBackend(cpuWasm, cfg, {
    numLayers: dims.numLayers, numKvHeads: dims.numKvHeads, blockSize: dims.blockSize, numBlocks: dims.numBlocks,
    maxSeqs: dims.maxSeqs, maxBlocksPerHead: dims.maxBlocksPerHead, bytesPerBlock: 2 * dims.blockSize * dims.headSize * 4,
  });
  return { control, backend, pool: backend.pool };
}

const Backend = suite("cpu backend");

Backend("shares one memory with the control plane: its tables are the kernels' tables", async () => {
  const { control, pool } = await setup("f32");
  assert.is(control.memory, pool.wasm.memory);
  const seq = control.addSequence();
  assert.ok(control.reserve(seq, 9));
  assert.equal(Array.from(pool.ctxLensView().subarray(0, dims.numKvHeads)), Array.from(control.ctxLens.subarray(0, dims.numKvHeads)));
  assert.is(pool.seqLensView()[seq], 9);
});

for (const dtype of ["f32", "f16", "q8", "q4"] as const) {
  Backend(`a compression pass in place: chunk keys, evicted indices, moves (${dtype})`, async () => {
    const seed = freshSeed(), rng = makeRng(seed);
    const { control, backend, pool } = await setup(dtype);
    const ref = makeRefPool(rng, dims, [50, 23, 41], dtype);
    loadPool(pool, ref);
    // q8/q4: the moves must keep every surviving KV's dequantized value exactly, so the
    // reference starts from what the pool holds
    const held = readPool(pool, dims);
    ref.keys.set(held.keys); ref.values.set(held.values);
    const seqIds = [2, 0], prot = { protectedWindow: 4, sinks: 1 };
    await backend.chunkKeys(seqIds, prot, control.chunkKeys(seqIds.length));
    assert.equal(Array.from(control.chunkKeys(seqIds.length)), Array.from(refChunkKeys(ref, seqIds, 4, 1)), `seed ${seed}`);
    const counts = Int32Array.from({ length: dims.numLayers * 2 * dims.numKvHeads }, () => Math.floor(rng() * 12));
    const want = refEvictedIdx(ref, seqIds, 4, 1, counts);
    await backend.evictedIndices(seqIds, prot, counts, control.evictedOffsets(2), control.evictedIdx);
    const offs = control.evictedOffsets(2); // a view: stale once memory grows, so used at once
    assert.equal(Array.from(offs), Array.from(want.evictedOffsets), `seed ${seed}`);
    assert.equal(Array.from(control.evictedIdx.subarray(0, offs[offs.length - 1])), Array.from(want.evictedIdx), `seed ${seed}`);
    // the same through plain arrays (not wasm memory), after a pass over other sequences
    await backend.chunkKeys([1], prot, new Float32Array(dims.numLayers * dims.numKvHeads * dims.maxBlocksPerHead));
    const o2 = new Uint32Array(counts.length + 1), i2 = new Uint32Array(dims.numBlocks * dims.blockSize);
    await backend.evictedIndices(seqIds, prot, counts, o2, i2);
    assert.equal(Array.from(i2.subarray(0, o2[o2.length - 1])), Array.from(want.evictedIdx), `seed ${seed}`);
    const { moves } = refPlanMoves(ref, seqIds, want.evictedIdx, want.evictedOffsets);
    refExecuteMoves(ref, moves);
    backend.executeMoves(moves, moves.length / 2);
    const got = readPool(pool, dims);
    assert.is(elemRelErr(got.keys, Float32Array.from(ref.keys)), 0, `seed ${seed}`);
    assert.is(elemRelErr(got.values, Float32Array.from(ref.values)), 0, `seed ${seed}`);
    assert.is(elemRelErr(got.metrics, Float32Array.from(ref.metrics)), 0, `seed ${seed}`);
    const head = await backend.readHead(1, 2, 1);
    const slots = Array.from({ length: ref.ctxLens[ref.headIdx(1, 2, 1)] }, (_, i) => ref.slotOf(1, 2, 1, i));
    assert.equal(Array.from(head.positions), slots.map((s) => ref.positions[s]), `seed ${seed}`);
  });
}

Backend("decode and prefill take positions from seqLens (newest tokens)", async () => {
  const seed = freshSeed(), rng = makeRng(seed);
  const { backend, pool } = await setup("f32");
  const seqLens = [30, 17, 45];
  const ref = makeRefPool(rng, dims, seqLens, "f32", true, (_l, s) => seqLens[s]);
  ref.metrics.fill(0);
  loadPool(pool, ref);
  const q = randomF32(rng, 2 * numQHeads * dims.headSize);
  const got = await backend.decodeAttention(1, [2, 1], q, 2);
  assert.ok(rowRelErr(got, refDecode(ref, 1, [2, 1], numQHeads, q, 2), dims.headSize) < 1e-5, `seed ${seed}`);
  const numQ = 5, qp = randomF32(rng, numQ * numQHeads * dims.headSize);
  const pos = Array.from({ length: numQ }, (_, t) => seqLens[0] - numQ + t);
  const gotP = await backend.prefillAttention(0, 0, qp, numQ, { mode: 2, obsWindow: 3, poolWidth: 7 });
  const wantP = refPrefill(ref, 0, [0], [0, numQ], numQHeads, qp, pos, 2, 3);
  assert.ok(rowRelErr(gotP, wantP, dims.headSize) < 1e-5, `seed ${seed}`);
  assert.ok(elemRelErr(pool.metricsView(), ref.metrics, 1e-6) < 1e-5, `seed ${seed}`);
});

Backend.run();
