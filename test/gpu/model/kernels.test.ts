// GPU model kernels (src/gpu/model) vs straight-loop f64 references (test/reference/model.ts),
// fresh random inputs, NaN-poisoned outputs, awkward widths (576, 896), 9/3 and 14/2 heads,
// vocab 515, chunks shorter than a workgroup, f32/f16/bf16 weights, weights split into parts; decode's
// fused kernels (RMSNorm in the matvec prologue, q/k/v split output with RoPE, views into one q/k/v weight).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  STEP_BYTES, createModelKernels, createStepBuffer, matmulSplits, ropeInvFreqBuffer, uploadTensor, writeStep, type ModelKernels, type WeightDtype,
} from "../../../src/gpu/model";
import { ropeInvFrequencies } from "../../../src/model/rope";
import { sampleToken } from "../../../src/model/sample";
import { makeRng, maxRelErr } from "../../reference/kernels";
import { encodeWeights, refAdd, refArgmax, refEmbed, refMatmul, refRmsNorm, refRope, refSwiglu } from "../../reference/model";
import { testDevice } from "../../harness/env";
import { freshSeed, nanBuffer, randomArray, readBuffer, runPass, storageBuffer } from "../helpers";

const test = suite("gpu: model kernels");
let kernels: ModelKernels | undefined;
let portable: ModelKernels | undefined;
const tokenRuns: Partial<Record<1 | 2, Promise<ModelKernels>>> = {};
async function setup(): Promise<{ device: GPUDevice; k: ModelKernels; step: (numTokens: number, startPos?: number) => GPUBuffer; variants: ModelKernels[] }> {
  const device = await testDevice();
  kernels ??= await createModelKernels(device);
  // Where the adapter has subgroups, the workgroup-reduction matvec runs too.
  if (kernels.subgroups) portable ??= await createModelKernels(device, { subgroups: false });
  const step = (numTokens: number, startPos = 0) => {
    const b = createStepBuffer(device);
    writeStep(device.queue, b, numTokens, startPos, 0, 1, 0, new Uint32Array(STEP_BYTES / 4));
    return b;
  };
  return { device, k: kernels, step, variants: portable ? [kernels, portable] : [kernels] };
}
const readF32 = async (d: GPUDevice, b: GPUBuffer, n: number) => new Float32Array(await readBuffer(d, b)).subarray(0, n);

for (const dtype of ["f32", "f16", "bf16"] as WeightDtype[]) {
  for (const [inDim, outDim, n, parts] of [[896, 576, 1, 1], [576, 896, 5, 1], [576, 515, 3, 3], [7, 5, 2, 2]] as const) {
    test(`matvec + matmul ${dtype} ${outDim}x${inDim} n=${n} parts≈${parts} bias+accumulate`, async () => {
      const { device, step, variants } = await setup();
      const seed = freshSeed(), rng = makeRng(seed);
      const w = encodeWeights(randomArray(rng, inDim * outDim), dtype);
      const rowBytes = inDim * (dtype === "f32" ? 4 : 2);
      const maxBindingBytes = parts > 1 ? Math.ceil(outDim / parts) * rowBytes + (rowBytes % 4 ? rowBytes : 0) : undefined;
      const W = uploadTensor(device, { dtype, shape: [outDim, inDim], bytes: w.bytes }, { maxBindingBytes });
      if (parts > 1) assert.ok(W.parts.length > 1, `split into ${W.parts.length} parts (seed ${seed})`);
      const x = randomArray(rng, n * inDim), bias = randomArray(rng, outDim), y0 = randomArray(rng, n * outDim);
      const xb = storageBuffer(device, x), bb = storageBuffer(device, bias), st = step(n);
      const want1 = refMatmul(x, w.stored, n, inDim, outDim), want2 = refMatmul(x, w.stored, n, inDim, outDim, bias, y0);
      for (const [label, prep] of variants.flatMap((v) => [[`matvec${v.subgroups ? " (subgroups)" : ""}`, v.matvec], ["matmul", v.matmul]] as const)) {
        const y1 = nanBuffer(device, n * outDim), y2 = storageBuffer(device, y0);
        const d1 = prep.prepare({ step: st, x: xb, weight: W, y: y1, inDim, outDim });
        const d2 = prep.prepare({ step: st, x: xb, weight: W, y: y2, inDim, outDim, bias: bb, accumulate: true });
        await runPass(device, (pass) => { d1.encode(pass, n); d2.encode(pass, n); });
        const e1 = maxRelErr(await readF32(device, y1, n * outDim), want1);
        const e2 = maxRelErr(await readF32(device, y2, n * outDim), want2);
        assert.ok(e1 < 1e-5 && e2 < 1e-5, `${label} rel err ${e1} / ${e2} (seed ${seed})`);
      }
    });
  }
  test(`matvecSwiglu ${dtype} 515x576 n=2, split weights`, async () => {
    const { device, step, variants } = await setup();
    const seed = freshSeed(), rng = makeRng(seed);
    const inDim = 576, outDim = 515, n = 2;
    const rowBytes = inDim * (dtype === "f32" ? 4 : 2), maxBindingBytes = 300 * rowBytes;
    const g = encodeWeights(randomArray(rng, inDim * outDim), dtype), u = encodeWeights(randomArray(rng, inDim * outDim), dtype);
    const G = uploadTensor(device, { dtype, shape: [outDim, inDim], bytes: g.bytes }, { maxBindingBytes });
    const U = uploadTensor(device, { dtype, shape: [outDim, inDim], bytes: u.bytes }, { maxBindingBytes });
    assert.is(G.parts.length, 2);
    const x = randomArray(rng, n * inDim).map((v) => v * 4);
    const want = refSwiglu(refMatmul(x, g.stored, n, inDim, outDim), refMatmul(x, u.stored, n, inDim, outDim));
    const xb = storageBuffer(device, x), st = step(n);
    for (const v of variants) {
      const y = nanBuffer(device, n * outDim);
      const d = v.matvecSwiglu.prepare({ step: st, x: xb, gate: G, up: U, y, inDim, outDim })!;
      await runPass(device, (pass) => d.encode(pass, n));
      const e = maxRelErr(await readF32(device, y, n * outDim), want);
      assert.ok(e < 1e-5, `matvecSwiglu${v.subgroups ? " (subgroups)" : ""} rel err ${e} (seed ${seed})`);
    }
  });
  // Decode's fused q/k/v: RMSNorm in the prologue, bias, rows split into q, k, v (9/3 and 14/2
  // heads of 64 at widths 576 and 896), and the fused head: norm + classifier over vocab 515.
  for (const [inDim, qH, kvH, n] of [[576, 9, 3, 1], [896, 14, 2, 2], [576, 0, 0, 1]] as const) {
    const head = qH === 0;
    const outDim = head ? 515 : (qH + 2 * kvH) * 64, split1 = qH * 64, split2 = (qH + kvH) * 64;
    test(`matvec ${dtype} fused RMSNorm${head ? " (head, 515 rows)" : ` + q/k/v split, ${qH}/${kvH} heads`} ${outDim}x${inDim} n=${n}`, async () => {
      const { device, step, variants } = await setup();
      const seed = freshSeed(), rng = makeRng(seed);
      const eps = 1e-5;
      const w = encodeWeights(randomArray(rng, inDim * outDim), dtype);
      const W = uploadTensor(device, { dtype, shape: [outDim, inDim], bytes: w.bytes });
      const x = randomArray(rng, n * inDim).map((v) => v * 3), nw = randomArray(rng, inDim), bias = randomArray(rng, outDim);
      const xn = refRmsNorm(x, nw, n, inDim, eps);
      const want = refMatmul(xn, w.stored, n, inDim, outDim, head ? undefined : bias);
      const xb = storageBuffer(device, x), nb = storageBuffer(device, nw), bb = storageBuffer(device, bias), st = step(n);
      const inv = ropeInvFrequencies(64, 10000, null), inv32 = Float32Array.from(inv);
      for (const v of variants) {
        const label = `matvec${v.subgroups ? " (subgroups)" : ""}`;
        if (head) {
          const y = nanBuffer(device, n * outDim);
          const d = v.matvec.prepare({ step: st, x: xb, weight: W, y, inDim, outDim, norm: { weight: nb, eps } });
          await runPass(device, (pass) => d.encode(pass, n));
          const e = maxRelErr(await readF32(device, y, n * outDim), want);
          assert.ok(e < 1e-5, `${label} norm rel err ${e} (seed ${seed})`);
          continue;
        }
        const yq = nanBuffer(device, n * split1), yk = nanBuffer(device, n * (split2 - split1)), yv = nanBuffer(device, n * (outDim - split2));
        const d = v.matvec.prepare({ step: st, x: xb, weight: W, y: yq, inDim, outDim, bias: bb, norm: { weight: nb, eps }, split: { y2: yk, y3: yv, split1, split2 } });
        await runPass(device, (pass) => d.encode(pass, n));
        // The same with RoPE of the q and k rows in the epilogue (interleaved pairs), at positions ~40.
        const rq = nanBuffer(device, n * split1), rk = nanBuffer(device, n * (split2 - split1)), rv = nanBuffer(device, n * (outDim - split2));
        const startPos = 40 + Math.floor(rng() * 10);
        const d2 = v.matvec.prepare({ step: step(n, startPos), x: xb, weight: W, y: rq, inDim, outDim, bias: bb, norm: { weight: nb, eps },
          split: { y2: rk, y3: rv, split1, split2 }, rope: { invFreq: ropeInvFreqBuffer(device, inv), headSize: 64 } });
        await runPass(device, (pass) => d2.encode(pass, n));
        const q = await readF32(device, yq, n * split1), k = await readF32(device, yk, n * (split2 - split1)), vv = await readF32(device, yv, n * (outDim - split2));
        const got = new Float32Array(n * outDim);
        for (let t = 0; t < n; t++) {
          got.set(q.subarray(t * split1, (t + 1) * split1), t * outDim);
          got.set(k.subarray(t * (split2 - split1), (t + 1) * (split2 - split1)), t * outDim + split1);
          got.set(vv.subarray(t * (outDim - split2), (t + 1) * (outDim - split2)), t * outDim + split2);
        }
        const e = maxRelErr(got, want);
        assert.ok(e < 1e-5, `${label} norm + split rel err ${e} (seed ${seed})`);
        const wq = new Float64Array(n * split1), wk = new Float64Array(n * (split2 - split1));
        for (let t = 0; t < n; t++) {
          wq.set(want.subarray(t * outDim, t * outDim + split1), t * split1);
          wk.set(want.subarray(t * outDim + split1, t * outDim + split2), t * (split2 - split1));
        }
        const eq = maxRelErr(await readF32(device, rq, n * split1), refRope(wq, n, qH, 64, startPos, inv32, "interleaved"));
        const ek = maxRelErr(await readF32(device, rk, n * (split2 - split1)), refRope(wk, n, kvH, 64, startPos, inv32, "interleaved"));
        const ev = maxRelErr(await readF32(device, rv, n * (outDim - split2)), want.filter((_, i) => i % outDim >= split2));
        // f32 angles and the adapter's sin/cos, as in the rope test below (~1e-4 at these positions).
        assert.ok(eq < 2e-3 && ek < 2e-3 && ev < 1e-5, `${label} norm + split + rope rel err q ${eq} k ${ek} v ${ev} (seed ${seed})`);
      }
    });
  }
  test(`matvecSwiglu ${dtype} fused RMSNorm 515x896 n=2`, async () => {
    const { device, step, variants } = await setup();
    const seed = freshSeed(), rng = makeRng(seed);
    const inDim = 896, outDim = 515, n = 2, eps = 1e-6;
    const g = encodeWeights(randomArray(rng, inDim * outDim), dtype), u = encodeWeights(randomArray(rng, inDim * outDim), dtype);
    const G = uploadTensor(device, { dtype, shape: [outDim, inDim], bytes: g.bytes }), U = uploadTensor(device, { dtype, shape: [outDim, inDim], bytes: u.bytes });
    const x = randomArray(rng, n * inDim).map((v) => v * 5), nw = randomArray(rng, inDim);
    const xn = refRmsNorm(x, nw, n, inDim, eps);
    const want = refSwiglu(refMatmul(xn, g.stored, n, inDim, outDim), refMatmul(xn, u.stored, n, inDim, outDim));
    const xb = storageBuffer(device, x), nb = storageBuffer(device, nw), st = step(n);
    for (const v of variants) {
      const y = nanBuffer(device, n * outDim);
      const d = v.matvecSwiglu.prepare({ step: st, x: xb, gate: G, up: U, y, inDim, outDim, norm: { weight: nb, eps } })!;
      await runPass(device, (pass) => d.encode(pass, n));
      const e = maxRelErr(await readF32(device, y, n * outDim), want);
      assert.ok(e < 1e-5, `matvecSwiglu${v.subgroups ? " (subgroups)" : ""} norm rel err ${e} (seed ${seed})`);
    }
  });
  // Past one output tile both ways (64 or 128 tokens x 128 rows: both TOKEN_RUNS of matmul.wgsl),
  // with a k run that ends mid-step (515 % 8 = 3) and, for 16-bit weights, rows that start mid-word.
  // (This grid is small, so the default kernels take one run; two runs are forced.)
  for (const runs of [1, 2] as const) {
    test(`matmul ${dtype} 261x515 n=133 parts≈2 across tiles, TOKEN_RUNS ${runs}, bias+accumulate`, async () => {
      const { device, step, k: auto } = await setup();
      const k = runs === 1 ? auto : await (tokenRuns[runs] ??= createModelKernels(device, { dtypes: ["f32", "f16", "bf16"], matmulTokenRuns: runs }));
      const seed = freshSeed(), rng = makeRng(seed);
      const inDim = 515, outDim = 261, n = 133;
      const w = encodeWeights(randomArray(rng, inDim * outDim), dtype);
      const rowBytes = inDim * (dtype === "f32" ? 4 : 2);
      const W = uploadTensor(device, { dtype, shape: [outDim, inDim], bytes: w.bytes }, { maxBindingBytes: 140 * rowBytes + rowBytes });
      assert.ok(W.parts.length === 2, `split into ${W.parts.length} parts (seed ${seed})`);
      const x = randomArray(rng, n * inDim), bias = randomArray(rng, outDim), y0 = randomArray(rng, n * outDim);
      const xb = storageBuffer(device, x), bb = storageBuffer(device, bias), st = step(n);
      const y1 = nanBuffer(device, n * outDim), y2 = storageBuffer(device, y0);
      const d1 = k.matmul.prepare({ step: st, x: xb, weight: W, y: y1, inDim, outDim });
      const d2 = k.matmul.prepare({ step: st, x: xb, weight: W, y: y2, inDim, outDim, bias: bb, accumulate: true });
      await runPass(device, (pass) => { d1.encode(pass, n); d2.encode(pass, n); });
      const e1 = maxRelErr(await readF32(device, y1, n * outDim), refMatmul(x, w.stored, n, inDim, outDim));
      const e2 = maxRelErr(await readF32(device, y2, n * outDim), refMatmul(x, w.stored, n, inDim, outDim, bias, y0));
      assert.ok(e1 < 1e-5 && e2 < 1e-5, `matmul rel err ${e1} / ${e2} (seed ${seed})`);
    });
  }
  // Split-K (decode batches): 261 rows have 3 row tiles, so 2051 k split 8 ways (matmulSplits);
  // against f64, and a row's result is bit for bit the same at n = 37 and n = 5 (batch invariance).
  test(`matmul ${dtype} split-K 261x2051 n=37 and n=5, bias+accumulate, same bits per row`, async () => {
    const { device, k, step } = await setup();
    const seed = freshSeed(), rng = makeRng(seed);
    const inDim = 2051, outDim = 261, n = 37;
    assert.is(matmulSplits(outDim, inDim).splits, 8, "8 splits");
    const w = encodeWeights(randomArray(rng, inDim * outDim), dtype);
    const W = uploadTensor(device, { dtype, shape: [outDim, inDim], bytes: w.bytes });
    const x = randomArray(rng, n * inDim), bias = randomArray(rng, outDim), y0 = randomArray(rng, n * outDim);
    const xb = storageBuffer(device, x), bb = storageBuffer(device, bias);
    const scratch = nanBuffer(device, 8 * n * outDim);
    const got: Float32Array[] = [];
    for (const m of [n, 5]) {
      const st = step(m), y = storageBuffer(device, y0);
      const d = k.matmul.prepare({ step: st, x: xb, weight: W, y, inDim, outDim, bias: bb, accumulate: true, splitK: { scratch, maxTokens: n } });
      await runPass(device, (pass) => d.encode(pass, m));
      got.push(await readF32(device, y, m * outDim));
    }
    const e = maxRelErr(got[0]!, refMatmul(x, w.stored, n, inDim, outDim, bias, y0));
    assert.ok(e < 1e-5, `split-K rel err ${e} (seed ${seed})`);
    for (let i = 0; i < 5 * outDim; i++) if (got[0]![i] !== got[1]![i]) assert.unreachable(`row ${Math.floor(i / outDim)} col ${i % outDim}: ${got[0]![i]} at n=37, ${got[1]![i]} at n=5 (seed ${seed})`);
    // A scratch too small for its splits is refused by name.
    assert.throws(() => k.matmul.prepare({ step: step(n), x: xb, weight: W, y: scratch, inDim, outDim, splitK: { scratch: bb, maxTokens: n } }), /splitK\.scratch\.size/);
  });
  test(`matmul ${dtype} over views into one concatenated q/k/v weight (14/2 heads, dim 896, n=5)`, async () => {
    const { device, k, step } = await setup();
    const seed = freshSeed(), rng = makeRng(seed);
    const inDim = 896, rows = [896, 128, 128], total = 1152, n = 5;
    const w = encodeWeights(randomArray(rng, inDim * total), dtype);
    const W = uploadTensor(device, { dtype, shape: [total, inDim], bytes: w.bytes });
    const x = randomArray(rng, n * inDim), xb = storageBuffer(device, x), st = step(n);
    let row0 = 0;
    for (const r of rows) {
      const view = { dtype, shape: [r, inDim], rows: r, cols: inDim, parts: [{ buffer: W.parts[0]!.buffer, rowStart: 0, rowCount: r, bufferRow: row0 }] };
      const y = nanBuffer(device, n * r);
      await runPass(device, (pass) => k.matmul.prepare({ step: st, x: xb, weight: view, y, inDim, outDim: r }).encode(pass, n));
      const e = maxRelErr(await readF32(device, y, n * r), refMatmul(x, w.stored.subarray(row0 * inDim, (row0 + r) * inDim), n, inDim, r));
      assert.ok(e < 1e-5, `matmul view rows ${row0}+${r} rel err ${e} (seed ${seed})`);
      row0 += r;
    }
  });
  test(`embed ${dtype} vocab 515 dim 576, split table, n=3`, async () => {
    const { device, k, step } = await setup();
    const seed = freshSeed(), rng = makeRng(seed);
    const V = 515, D = 576, n = 3;
    const w = encodeWeights(randomArray(rng, V * D), dtype);
    const T = uploadTensor(device, { dtype, shape: [V, D], bytes: w.bytes }, { maxBindingBytes: 200 * D * 4 });
    const ids = Uint32Array.from([Math.floor(rng() * V), V - 1, 0]);
    const out = nanBuffer(device, n * D);
    await runPass(device, (pass) => k.embed.prepare({ step: step(n), ids: storageBuffer(device, ids), table: T, out, dim: D }).encode(pass, n));
    assert.is(maxRelErr(await readF32(device, out, n * D), refEmbed(w.stored, D, ids)), 0, `embed (seed ${seed})`);
  });
  test(`rmsNorm ${dtype} dim 896 n=3`, async () => {
    const { device, k, step } = await setup();
    const seed = freshSeed(), rng = makeRng(seed);
    const D = 896, n = 3, eps = 1e-6;
    const w = encodeWeights(randomArray(rng, D), dtype);
    const x = randomArray(rng, n * D);
    const out = nanBuffer(device, n * D);
    const weight = uploadTensor(device, { dtype, shape: [D], bytes: w.bytes });
    await runPass(device, (pass) => k.rmsNorm.prepare({ step: step(n), x: storageBuffer(device, x), weight, out, dim: D, eps }).encode(pass, n));
    const e = maxRelErr(await readF32(device, out, n * D), refRmsNorm(x, w.stored, n, D, eps));
    assert.ok(e < 1e-5, `rmsNorm rel err ${e} (seed ${seed})`);
  });
}

for (const style of ["interleaved", "rotate-half"] as const) {
  for (const [heads, headSize, scaled] of [[9, 64, false], [14, 64, true], [3, 64, false], [2, 128, true]] as const) {
    test(`rope ${style} ${heads} heads x ${headSize}${scaled ? " llama3-scaled" : ""} n=3`, async () => {
      const { device, k, step } = await setup();
      const seed = freshSeed(), rng = makeRng(seed);
      const n = 3, startPos = 1000 + Math.floor(rng() * 100);
      const inv = ropeInvFrequencies(headSize, scaled ? 500000 : 10000,
        scaled ? { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 } : null);
      const inv32 = Float32Array.from(inv); // the kernel reads f32 inverse frequencies
      const x = randomArray(rng, n * heads * headSize);
      const xb = storageBuffer(device, x);
      await runPass(device, (pass) => k.rope.prepare({ step: step(n, startPos), x: xb, invFreq: ropeInvFreqBuffer(device, inv), heads, headSize, style }).encode(pass, n));
      // f32 angles at positions ~1e3 carry ~1e-4 absolute error in the GPU's f32 sin/cos.
      const e = maxRelErr(await readF32(device, xb, x.length), refRope(x, n, heads, headSize, startPos, inv32, style));
      assert.ok(e < 2e-3, `rope rel err ${e} (seed ${seed})`);
    });
  }
}

for (const [heads, headSize, style] of [[9, 64, "rotate-half"], [2, 128, "interleaved"]] as const) {
  test(`ropeRows ${style} ${heads} heads x ${headSize}, 5 rows at their own positions = rope row by row, bit for bit`, async () => {
    const { device, k, step } = await setup();
    const seed = freshSeed(), rng = makeRng(seed);
    const n = 5, inv = ropeInvFrequencies(headSize, 10000, null), invBuf = ropeInvFreqBuffer(device, inv);
    const positions = Uint32Array.from({ length: n }, () => Math.floor(rng() * 2000));
    const x = randomArray(rng, n * heads * headSize), row = heads * headSize;
    const xb = storageBuffer(device, x);
    await runPass(device, (pass) => k.ropeRows.prepare({ step: step(n), x: xb, invFreq: invBuf, positions: storageBuffer(device, positions), heads, headSize, style }).encode(pass, n));
    const got = await readF32(device, xb, x.length);
    for (let t = 0; t < n; t++) {
      const one = storageBuffer(device, x.slice(t * row, (t + 1) * row));
      await runPass(device, (pass) => k.rope.prepare({ step: step(1, positions[t]!), x: one, invFreq: invBuf, heads, headSize, style }).encode(pass, 1));
      assert.equal([...got.subarray(t * row, (t + 1) * row)], [...await readF32(device, one, row)], `row ${t} at ${positions[t]} (seed ${seed})`);
      const e = maxRelErr(got.subarray(t * row, (t + 1) * row), refRope(x.slice(t * row, (t + 1) * row), 1, heads, headSize, positions[t]!, Float32Array.from(inv), style));
      assert.ok(e < 2e-3, `row ${t} vs reference: rel err ${e} (seed ${seed})`);
    }
  });
}

test("sampleRows vocab 515, 6 rows with their own temperature / topP / r; temperature-0 rows keep the argmax", async () => {
  const { device, k } = await setup();
  const seed = freshSeed(), rng = makeRng(seed);
  const V = 515, rows = 6;
  const logits = randomArray(rng, rows * V).map((v) => 3 * v);
  const settings = [[0.8, 0.9], [0, 1], [1.5, 1], [0.5, 0.5], [0, 1], [2, 0.95]] as const;
  const rs = settings.map(() => rng());
  const params = new Uint32Array(4 * rows), f = new Float32Array(params.buffer);
  settings.forEach(([T, p], i) => { f[4 * i] = T; f[4 * i + 1] = p; f[4 * i + 2] = rs[i]!; });
  settings.forEach(([T], i) => { if (T === 0) params[4 * i] = 0; });
  const out = storageBuffer(device, new Uint32Array(rows).fill(0xdeadbeef));
  const lb = storageBuffer(device, logits);
  await runPass(device, (pass) => {
    k.argmax.prepare({ logits: lb, out, vocab: V }).encode(pass, rows);
    k.sampleRows.prepare({ logits: lb, out, rowParams: storageBuffer(device, params), vocab: V }).encode(pass, rows);
  });
  const got = [...new Uint32Array(await readBuffer(device, out)).subarray(0, rows)];
  const want = settings.map(([T, p], i) => sampleToken(logits.subarray(i * V, (i + 1) * V), { temperature: T, topP: p }, () => rs[i]!));
  assert.equal(got, want, `per-row samples = sampleToken row by row (seed ${seed})`);
});

test("swiglu and add, 3 x 4869 (not a multiple of 256)", async () => {
  const { device, k, step } = await setup();
  const seed = freshSeed(), rng = makeRng(seed);
  const n = 3, width = 4864 + 5, count = n * width;
  const g = randomArray(rng, count).map((v) => v * 8), u = randomArray(rng, count), r = randomArray(rng, count);
  const gb = storageBuffer(device, g), ub = storageBuffer(device, u), rb = storageBuffer(device, r);
  const st = step(n);
  const sw1 = k.swiglu.prepare({ step: st, gate: gb, up: ub, width }), add1 = k.add.prepare({ step: st, x: gb, y: rb, width });
  await runPass(device, (pass) => { sw1.encode(pass, n); add1.encode(pass, n); });
  const sw = refSwiglu(g, u);
  const e1 = maxRelErr(await readF32(device, gb, count), sw);
  const e2 = maxRelErr(await readF32(device, rb, count), refAdd(sw, r));
  assert.ok(e1 < 1e-5 && e2 < 1e-5, `swiglu ${e1} add ${e2} (seed ${seed})`);
});

test("argmax vocab 515, 3 rows, ties resolve to the lowest index, NaN never wins", async () => {
  const { device, k, step } = await setup();
  const seed = freshSeed(), rng = makeRng(seed);
  const V = 515, rows = 3;
  const logits = randomArray(rng, rows * V);
  const top = Math.floor(rng() * (V - 10));
  logits[top] = 5; logits[top + 7] = 5; logits[V - 1] = 5; // row 0: three-way tie
  logits[V + 514] = 9; logits[V + 3] = NaN;                // row 1: last element wins
  logits[2 * V + 0] = 9;                                   // row 2: first element wins
  const out = storageBuffer(device, new Uint32Array(rows).fill(0xdeadbeef));
  await runPass(device, (pass) => k.argmax.prepare({ logits: storageBuffer(device, logits), out, vocab: V }).encode(pass, rows));
  const got = [...new Uint32Array(await readBuffer(device, out)).subarray(0, rows)];
  assert.equal(got, refArgmax(logits, rows, V), `argmax (seed ${seed})`);
  assert.equal(got, [top, 514, 0], `argmax expected (seed ${seed})`);
});

test.run();
