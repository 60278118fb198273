// CPU backend: append, decode and prefill attention vs the f64 references, f32 and f16.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { freshSeed } from "../harness/env";
import { makeRng, maxRelErr, refAppend, refDecode, refPrefill, type PoolDims } from "../reference/kernels";
import { CPU_STAGE_OUT, cpuPoolFor, elemRelErr, loadPool, rowRelErr, makeRefPool, poison, randomF32, readPool, readRecords, type Dtype } from "./helpers";
import { boundaryGroup, refQuantizeVec } from "../reference/quant";
import { kvRecordWords } from "../../src/contract";

// q8/q4: the reference reads the same dequantized f32 values the kernels dequantize in registers.
const TOL: Record<Dtype, number> = { f32: 1e-5, f16: 2e-3, q8: 1e-5, q4: 1e-5 };
/** The shapes a storage supports (q4 needs d a multiple of 8); q8/q4 run a subset to stay small. */
const shapesFor = (dtype: Dtype) => (dtype === "q4" ? SHAPES.filter((s) => s.d % 8 === 0 && s.d < 128) : dtype === "q8" ? SHAPES.slice(0, 3) : SHAPES);

interface Shape { d: number; b: number; H: number; r: number; L: number; S: number; seqLen: number }
// Output error: norm-wise per query-head row (rowRelErr); metrics: element-wise, floor 1e-6.
// r = 3 leaves a padded lane in the 4-head groups; r = 1 is MHA; r = 8 is two full groups.
const SHAPES: Shape[] = [
  { d: 8, b: 4, H: 2, r: 3, L: 2, S: 3, seqLen: 37 },
  { d: 12, b: 8, H: 2, r: 2, L: 1, S: 2, seqLen: 29 }, // d ≡ 4 (mod 8): tail chunks, odd-row f16 scan
  { d: 16, b: 8, H: 3, r: 1, L: 1, S: 4, seqLen: 70 },
  { d: 64, b: 16, H: 2, r: 4, L: 1, S: 2, seqLen: 150 },
  { d: 128, b: 16, H: 1, r: 8, L: 1, S: 2, seqLen: 61 },
];

function dimsOf(s: Shape): PoolDims {
  const M = Math.ceil(s.seqLen / s.b) + 1;
  return { numLayers: s.L, maxSeqs: s.S, numKvHeads: s.H, headSize: s.d, blockSize: s.b, numBlocks: s.L * s.S * s.H * M, maxBlocksPerHead: M };
}

const seqLensOf = (s: Shape, rng: () => number) =>
  Array.from({ length: s.S }, (_, i) => (i === 0 ? s.seqLen : 1 + Math.floor(rng() * s.seqLen)));

const Append = suite("cpu append");
for (const dtype of ["f32", "f16"] as const) {
  Append(`append matches refAppend (${dtype}, scattered blocks, several seqs)`, async () => {
    const seed = freshSeed(), rng = makeRng(seed);
    for (const shape of SHAPES) {
      const dims = dimsOf(shape);
      const ref = makeRefPool(rng, dims, Array(shape.S).fill(shape.seqLen), dtype, false, () => shape.seqLen >> 1);
      const cpu = await cpuPoolFor(dims, shape.H * shape.r, dtype);
      loadPool(cpu, ref);
      const seqIds = [shape.S - 1, 0];
      const offsets = [0, 1, 1 + Math.min(shape.b + 3, shape.seqLen >> 1)];
      const rows = offsets[2], n = rows * shape.H * shape.d;
      let k = randomF32(rng, n), v = randomF32(rng, n);
      if (dtype === "f16") { k = k.map((x) => cpu.wasm.cpuF16ToF32(cpu.wasm.cpuF32ToF16(x))); v = v.map((x) => cpu.wasm.cpuF16ToF32(cpu.wasm.cpuF32ToF16(x))); }
      const pos = Array.from({ length: rows }, (_, i) => 1000 + i);
      for (const layer of [shape.L - 1]) {
        refAppend(ref, layer, seqIds, offsets, k, v, pos);
        cpu.append(layer, seqIds, offsets, k, v, pos);
      }
      const got = readPool(cpu, dims);
      const msg = `seed ${seed} d=${shape.d}`;
      assert.is(maxRelErr(got.keys, Float32Array.from(ref.keys)), 0, msg); // the pool stores f32
      assert.is(maxRelErr(got.values, Float32Array.from(ref.values)), 0, msg);
      assert.equal(Array.from(got.positions), Array.from(ref.positions), msg);
      assert.is(maxRelErr(got.metrics, Float32Array.from(ref.metrics)), 0, msg);
    }
  });
}
// q8/q4: every record word of the appended slots bit-exact against the straight-loop quantizer;
// every other slot's record unchanged.
for (const dtype of ["q8", "q4"] as const) {
  Append(`append quantizes as the reference, bit for bit (${dtype})`, async () => {
    const seed = freshSeed(), rng = makeRng(seed);
    for (const shape of [{ d: 40, b: 4, H: 2, r: 1, L: 2, S: 3, seqLen: 37 }, { d: 64, b: 16, H: 1, r: 2, L: 1, S: 2, seqLen: 40 }]) {
      const dims = dimsOf(shape);
      const ref = makeRefPool(rng, dims, Array(shape.S).fill(shape.seqLen), "f32", false, () => shape.seqLen >> 1);
      const cpu = await cpuPoolFor(dims, shape.H * shape.r, dtype);
      loadPool(cpu, ref);
      const want = readRecords(cpu);
      const seqIds = [shape.S - 1, 0], offsets = [0, 1, 1 + shape.b + 3];
      const rows = offsets[2], d = shape.d, R = kvRecordWords(d, dtype);
      // one constant group (scale 0) and rows of a wider range
      const k = randomF32(rng, rows * shape.H * d).map((x, i) => (i < 32 ? -0.5 : x * (1 + (i % 5))));
      const v = randomF32(rng, rows * shape.H * d);
      // the second shape's values on the quantizer's rounding boundaries (test/reference/quant.ts)
      if (d === 64) {
        for (let o = 0, g = 0; o < v.length; o += 32, g++) {
          k.set(boundaryGroup(rng, dtype, 32, g % 3), o);
          v.set(boundaryGroup(rng, dtype, 32, (g + 1) % 3), o);
        }
      }
      const layer = shape.L - 1;
      cpu.append(layer, seqIds, offsets, k, v, Array.from({ length: rows }, (_, i) => 1000 + i));
      seqIds.forEach((seq, i) => {
        for (let t = offsets[i]; t < offsets[i + 1]; t++) for (let h = 0; h < shape.H; h++) {
          const ctx = ref.ctxLens[ref.headIdx(layer, seq, h)];
          const slot = ref.slotOf(layer, seq, h, ctx - (offsets[i + 1] - t));
          const src = (t * shape.H + h) * d;
          want.set(refQuantizeVec(k.subarray(src, src + d), dtype), slot * 2 * R);
          want.set(refQuantizeVec(v.subarray(src, src + d), dtype), slot * 2 * R + R);
        }
      });
      const got = readRecords(cpu);
      for (let j = 0; j < want.length; j++) {
        if (got[j] !== want[j]) assert.unreachable(`seed ${seed} d=${d}: record word ${j} = ${got[j].toString(16)}, want ${want[j].toString(16)}`);
      }
    }
  });
}
Append.run();

const Decode = suite("cpu decode attention");
for (const dtype of ["f32", "f16", "q8", "q4"] as const) {
  for (const mode of [0, 1, 2] as const) {
    Decode(`decode matches refDecode (${dtype}, metricMode ${mode})`, async () => {
      const seed = freshSeed(), rng = makeRng(seed);
      for (const shape of shapesFor(dtype)) {
        const dims = dimsOf(shape);
        const ref = makeRefPool(rng, dims, seqLensOf(shape, rng), dtype);
        ref.metrics.fill(0); // metric increments alone, so small p² are compared relatively
        const cpu = await cpuPoolFor(dims, shape.H * shape.r, dtype);
        loadPool(cpu, ref);
        const seqIds = Array.from({ length: shape.S }, (_, i) => shape.S - 1 - i);
        const nq = shape.H * shape.r;
        for (let layer = 0; layer < shape.L; layer++) {
          const q = randomF32(rng, seqIds.length * nq * shape.d);
          poison(cpu, CPU_STAGE_OUT, q.length);
          const want = refDecode(ref, layer, seqIds, nq, q, mode);
          const got = cpu.decode(layer, seqIds, q, mode);
          const msg = `seed ${seed} shape ${JSON.stringify(shape)} layer ${layer}`;
          const e = rowRelErr(got, want, shape.d);
          assert.ok(e < TOL[dtype], `${msg}: out rel err ${e}`);
        }
        const em = elemRelErr(cpu.metricsView(), ref.metrics, 1e-6);
        assert.ok(em < TOL[dtype], `seed ${seed} d=${shape.d}: metric rel err ${em}`);
      }
    });
  }
}
Decode("f16 blocks holding ±inf halves take the exact path (inf flows through P·V)", async () => {
  const seed = freshSeed(), rng = makeRng(seed);
  const shape = SHAPES.find((s) => s.d === 64)!, dims = dimsOf(shape);
  const ref = makeRefPool(rng, dims, [shape.seqLen, shape.seqLen], "f16", false, () => shape.seqLen);
  const slot = ref.slotOf(0, 1, 1, 17), j = 5;
  ref.values[slot * shape.d + j] = rng() < 0.5 ? Infinity : -Infinity;
  const cpu = await cpuPoolFor(dims, shape.H * shape.r, "f16");
  loadPool(cpu, ref);
  const q = randomF32(rng, 2 * shape.H * shape.r * shape.d);
  const want = refDecode(ref, 0, [0, 1], shape.H * shape.r, q, 0);
  const got = cpu.decode(0, [0, 1], q, 0);
  let bad = 0;
  for (let i = 0; i < want.length; i++) {
    if (Number.isFinite(want[i])) bad += Math.abs(got[i] - want[i]) / Math.max(Math.abs(want[i]), 1e-3) < TOL.f16 ? 0 : 1;
    else bad += got[i] === want[i] ? 0 : 1;
  }
  assert.is(bad, 0, `seed ${seed}: ${bad} outputs differ`);
  assert.ok(want.some((x) => !Number.isFinite(x)), "the inf must reach some output");
});
Decode.run();

const Prefill = suite("cpu prefill attention");
for (const dtype of ["f32", "f16", "q8", "q4"] as const) {
  for (const mode of [0, 1, 2] as const) {
    Prefill(`prefill matches refPrefill (${dtype}, metricMode ${mode})`, async () => {
      const seed = freshSeed(), rng = makeRng(seed);
      for (const shape of shapesFor(dtype).slice(0, 4)) {
        const dims = dimsOf(shape);
        const contiguous = rng() < 0.5; // as right after a prompt, or scrambled as after moves
        const seqLens = seqLensOf(shape, rng);
        const ref = makeRefPool(rng, dims, seqLens, dtype, contiguous);
        ref.metrics.fill(0);
        const cpu = await cpuPoolFor(dims, shape.H * shape.r, dtype);
        loadPool(cpu, ref);
        const seqIds = Array.from({ length: shape.S }, (_, i) => i);
        // each seq queries its last few positions (≤ seqLen), so some keys are masked
        const counts = seqIds.map((s) => Math.min(seqLens[s], 1 + Math.floor(rng() * 12)));
        const offsets = [0];
        for (const c of counts) offsets.push(offsets[offsets.length - 1] + c);
        const qPos: number[] = [];
        seqIds.forEach((s, i) => { for (let t = 0; t < counts[i]; t++) qPos.push(seqLens[s] - counts[i] + t); });
        const nq = shape.H * shape.r, obsWindow = [1, 4, 32][Math.floor(rng() * 3)];
        for (let layer = 0; layer < shape.L; layer++) {
          const q = randomF32(rng, offsets[shape.S] * nq * shape.d);
          poison(cpu, CPU_STAGE_OUT, q.length);
          const want = refPrefill(ref, layer, seqIds, offsets, nq, q, qPos, mode, obsWindow);
          const got = cpu.prefill(layer, seqIds, offsets, q, qPos, mode, obsWindow);
          const e = rowRelErr(got, want, shape.d);
          assert.ok(e < TOL[dtype], `seed ${seed} shape ${JSON.stringify(shape)}: out rel err ${e}`);
        }
        const em = elemRelErr(cpu.metricsView(), ref.metrics, 1e-6);
        assert.ok(em < TOL[dtype], `seed ${seed} d=${shape.d} w=${obsWindow}: metric rel err ${em}`);
      }
    });
  }
}
for (const dtype of ["f32", "f16", "q8", "q4"] as const) {
  Prefill(`long prefill: query tiles walk several block chunks (${dtype})`, async () => {
    const seed = freshSeed(), rng = makeRng(seed);
    // d 128, b 8: 4 KiB of K per block, so the 128 KiB chunks hold 32 blocks; 600 keys → 3 chunks
    const shape: Shape = { d: 128, b: 8, H: 1, r: 2, L: 1, S: 1, seqLen: 600 };
    const dims = dimsOf(shape);
    const ref = makeRefPool(rng, dims, [600], dtype, rng() < 0.5, () => 600 - Math.floor(rng() * 40));
    ref.metrics.fill(0);
    const cpu = await cpuPoolFor(dims, 2, dtype);
    loadPool(cpu, ref);
    const rows = 11, offsets = [0, rows]; // a tile of 8 and one of 3
    const qPos = Array.from({ length: rows }, (_, t) => 600 - rows + t - Math.floor(rng() * 300) * (t % 2));
    const q = randomF32(rng, rows * 2 * shape.d);
    poison(cpu, CPU_STAGE_OUT, q.length);
    const want = refPrefill(ref, 0, [0], offsets, 2, q, qPos, 2, 6);
    const got = cpu.prefill(0, [0], offsets, q, qPos, 2, 6);
    assert.ok(rowRelErr(got, want, shape.d) < TOL[dtype], `seed ${seed}: out`);
    assert.ok(elemRelErr(cpu.metricsView(), ref.metrics, 1e-6) < TOL[dtype], `seed ${seed}: metric`);
  });
}
Prefill("groupReduce max, poolWidth 1 / 5, obsWindow 0 (all rows) match the reference", async () => {
  const seed = freshSeed(), rng = makeRng(seed);
  for (const [shape, poolWidth, obsWindow] of [[SHAPES[0], 5, 0], [SHAPES[3], 1, 3]] as const) {
    const dims = dimsOf(shape), seqLens = seqLensOf(shape, rng), nq = shape.H * shape.r;
    const ref = makeRefPool(rng, dims, seqLens, "f32");
    ref.metrics.fill(0);
    const cpu = await cpuPoolFor(dims, nq, "f32");
    loadPool(cpu, ref);
    const rows = Math.min(seqLens[1], 6), offsets = [0, rows];
    const qPos = Array.from({ length: rows }, (_, t) => seqLens[1] - rows + t);
    const q = randomF32(rng, rows * nq * shape.d);
    const want = refPrefill(ref, 0, [1], offsets, nq, q, qPos, 2, obsWindow, poolWidth, "max");
    const got = cpu.prefill(0, [1], offsets, q, qPos, 2, obsWindow, poolWidth, "max");
    assert.ok(rowRelErr(got, want, shape.d) < TOL.f32, `seed ${seed}: prefill out`);
    const qd = randomF32(rng, nq * shape.d);
    const wantD = refDecode(ref, 0, [0], nq, qd, 1, "max");
    assert.ok(rowRelErr(cpu.decode(0, [0], qd, 1, "max"), wantD, shape.d) < TOL.f32, `seed ${seed}: decode out`);
    const em = elemRelErr(cpu.metricsView(), ref.metrics, 1e-6);
    assert.ok(em < TOL.f32, `seed ${seed} w=${poolWidth}: metric rel err ${em}`);
  }
});
Prefill.run();
