// CPU dense kernels (assembly/cpu/dense.ts via src/cpu/dense.ts) vs straight-loop f64
// references: W·x for f32 / f16 / bf16 weights (with bias, residual accumulate, token blocks
// and tails), RMSNorm, SwiGLU, embedding gather, bit-exact 16-bit widening, named errors.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import cpuWasm from "kvcompress:wasm/cpu";
import { freshSeed } from "../harness/env";
import { makeRng } from "../reference/kernels";
import { createCpuDense, type CpuDense, type DenseDtype, type DenseTensor } from "../../src/cpu/dense";
import { InvalidArgumentError } from "../../src/errors";

const DTYPES: DenseDtype[] = ["f32", "f16", "bf16"];

// ── references, written independently of the kernels' bit tricks ─────────────────────────

/** f16 bits -> value by the IEEE definition (subnormals: m·2^-24). */
function f16Value(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 0x3ff;
  if (e === 31) return m === 0 ? s * Infinity : NaN;
  if (e === 0) return s * m * 2 ** -24;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
const f32Buf = new Float32Array(1), u32Buf = new Uint32Array(f32Buf.buffer);
const f32Bits = (v: number) => { f32Buf[0] = v; return u32Buf[0]!; };
const bitsF32 = (b: number) => { u32Buf[0] = b; return f32Buf[0]!; };
/** f32 -> nearest f16 bits for finite |v| < 65504 by search on the value grid (test data only). */
function toF16(v: number): number {
  const s = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  let best = 0, bestErr = Infinity;
  const e = a === 0 ? 0 : Math.max(0, Math.min(30, Math.floor(Math.log2(a)) + 15));
  for (const ee of [e - 1, e, e + 1]) {
    if (ee < 0 || ee > 30) continue;
    const base = ee === 0 ? 2 ** -24 : 2 ** (ee - 25);
    const m = Math.round((ee === 0 ? a : a - 2 ** (ee - 15)) / base);
    for (const mm of [m - 1, m, m + 1]) {
      if (mm < 0 || mm > 1023) continue;
      const h = (ee << 10) | mm, err = Math.abs(f16Value(h) - a);
      if (err < bestErr) { bestErr = err; best = h; }
    }
  }
  return s | best;
}

/** Random weights stored as `dtype`: bytes for upload and the exact f64 values they hold. */
function randomTensor(rng: () => number, dtype: DenseDtype, count: number, scale = 1): { bytes: Uint8Array; values: Float64Array } {
  const values = new Float64Array(count);
  if (dtype === "f32") {
    const f = new Float32Array(count);
    for (let i = 0; i < count; i++) { f[i] = (rng() * 2 - 1) * scale; values[i] = f[i]!; }
    return { bytes: new Uint8Array(f.buffer), values };
  }
  const h = new Uint16Array(count);
  for (let i = 0; i < count; i++) {
    // a few values far from 1 (and f16 subnormals) so the exponent paths are exercised
    const r = rng();
    const v = (rng() * 2 - 1) * scale * (r < 0.05 ? 2 ** -20 : r < 0.1 ? 64 : 1);
    if (dtype === "bf16") { h[i] = f32Bits(v) >>> 16; values[i] = bitsF32(h[i]! << 16); }
    else { h[i] = toF16(v); values[i] = f16Value(h[i]!); }
  }
  return { bytes: new Uint8Array(h.buffer), values };
}

function randomF32(rng: () => number, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng() * 2 - 1);
}

function refMatmul(w: Float64Array, x: Float32Array, n: number, inDim: number, outDim: number, bias: Float64Array | null, base: Float32Array | null) {
  const out = new Float64Array(n * outDim), mag = new Float64Array(n * outDim);
  for (let t = 0; t < n; t++) {
    for (let o = 0; o < outDim; o++) {
      let s = 0, m = 0;
      for (let i = 0; i < inDim; i++) { const p = w[o * inDim + i]! * x[t * inDim + i]!; s += p; m += Math.abs(p); }
      if (bias) { s += bias[o]!; m += Math.abs(bias[o]!); }
      if (base) { s += base[t * outDim + o]!; m += Math.abs(base[t * outDim + o]!); }
      out[t * outDim + o] = s; mag[t * outDim + o] = m;
    }
  }
  return { out, mag };
}

/** |got - ref| ≤ tol·Σ|terms| per element (f32 accumulation error grows with the terms' size). */
function assertClose(got: ArrayLike<number>, ref: Float64Array, mag: Float64Array, tol: number, what: string) {
  for (let i = 0; i < ref.length; i++) {
    const err = Math.abs(got[i]! - ref[i]!);
    if (!(err <= tol * mag[i]! + 1e-30)) assert.unreachable(`${what}: element ${i} got ${got[i]} want ${ref[i]} (|terms| ${mag[i]})`);
  }
}

let densePromise: Promise<CpuDense> | null = null;
const dense = () => (densePromise ??= createCpuDense({ wasm: cpuWasm }));

// [outDim, inDim]: SmolLM2-135M (576/1536), a Qwen2-0.5B MLP row subset (896 / 4864), and
// in not a multiple of 4 or 8 (tails of the 4-wide and 8-wide loops).
const SHAPES: [number, number][] = [[1536, 576], [576, 1536], [41, 4864], [97, 896], [7, 30], [13, 62], [5, 3], [3, 1], [9, 12]];

const Matmul = suite("cpu dense matmul");
for (const dtype of DTYPES) {
  Matmul(`matmul matches the f64 loop (${dtype}, n = 1, 3, 4, 5, 9, bias / accumulate)`, async () => {
    const seed = freshSeed(), rng = makeRng(seed), d = await dense();
    for (const [outDim, inDim] of SHAPES) {
      const wT = randomTensor(rng, dtype, outDim * inDim);
      const w = d.uploadTensor({ dtype, shape: [outDim, inDim], bytes: wT.bytes, name: "w" });
      const bT = randomTensor(rng, dtype, outDim);
      const bias = d.uploadTensor({ dtype, shape: [outDim], bytes: bT.bytes, name: "b" });
      for (const n of [1, 3, 4, 5, 9]) {
        if (outDim * inDim > 500_000 && n > 5) continue; // keep the f64 loop quick
        const x = randomF32(rng, n * inDim);
        for (const mode of ["plain", "bias", "accumulate"] as const) {
          const base = mode === "accumulate" ? randomF32(rng, n * outDim) : null;
          const out = base ? base.slice() : new Float32Array(n * outDim).fill(NaN);
          d.matmul(w, x, n, out, { bias: mode === "bias" ? bias : undefined, accumulate: mode === "accumulate" });
          const ref = refMatmul(wT.values, x, n, inDim, outDim, mode === "bias" ? bT.values : null, base);
          assertClose(out, ref.out, ref.mag, 1e-5, `seed ${seed} ${dtype} [${outDim}, ${inDim}] n ${n} ${mode}`);
        }
      }
    }
  });
}

Matmul("matmul on in-place DenseBuffers (no staging) equals the Float32Array path", async () => {
  const seed = freshSeed(), rng = makeRng(seed), d = await dense();
  const [outDim, inDim, n] = [62, 30, 5];
  const wT = randomTensor(rng, "bf16", outDim * inDim);
  const w = d.uploadTensor({ dtype: "bf16", shape: [outDim, inDim], bytes: wT.bytes });
  const x = randomF32(rng, n * inDim);
  const xb = d.alloc(n * inDim), ob = d.alloc(n * outDim);
  xb.view().set(x); ob.view().fill(NaN);
  d.matmul(w, xb, n, ob);
  const viaArrays = new Float32Array(n * outDim).fill(NaN);
  d.matmul(w, x, n, viaArrays);
  assert.equal(Array.from(ob.view()), Array.from(viaArrays), `seed ${seed}`);
});

Matmul("f16 weights with inf / NaN take the general widening (inf propagates)", async () => {
  const seed = freshSeed(), rng = makeRng(seed), d = await dense();
  const [outDim, inDim] = [6, 13];
  const wT = randomTensor(rng, "f16", outDim * inDim);
  const h = new Uint16Array(wT.bytes.buffer);
  h[1 * inDim + 2] = 0x7c00; wT.values[1 * inDim + 2] = Infinity; // vector chunk
  h[3 * inDim + 12] = 0xfc00; wT.values[3 * inDim + 12] = -Infinity; // scalar tail
  h[4 * inDim + 5] = 0x7e01; wT.values[4 * inDim + 5] = NaN;
  const w = d.uploadTensor({ dtype: "f16", shape: [outDim, inDim], bytes: wT.bytes });
  const x = Float32Array.from({ length: inDim }, () => 0.25 + rng());
  const out = new Float32Array(outDim).fill(NaN);
  d.matmul(w, x, 1, out);
  assert.is(out[1], Infinity);
  assert.is(out[3], -Infinity);
  assert.ok(Number.isNaN(out[4]));
  const ref = refMatmul(wT.values, x, 1, inDim, outDim, null, null);
  for (const o of [0, 2, 5]) assertClose([out[o]!], ref.out.subarray(o, o + 1), ref.mag.subarray(o, o + 1), 1e-5, `seed ${seed} row ${o}`);
});

const Widen = suite("cpu dense widening");
Widen("bf16 -> f32 is bit-exact for all 65536 patterns (vector and scalar paths)", async () => {
  const d = await dense();
  const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
  for (const shape of [[1, 65536], [65536, 1]]) {
    const t = d.uploadTensor({ dtype: "bf16", shape, bytes: new Uint8Array(all.buffer) });
    const out = d.alloc(65536);
    out.view().fill(NaN);
    d.embed(t, shape[0] === 1 ? [0] : Array.from({ length: 65536 }, (_, i) => i), out);
    const bits = new Uint32Array(out.view().buffer, out.ptr, 65536);
    for (let i = 0; i < 65536; i++) if (bits[i] !== i << 16 >>> 0) assert.unreachable(`shape ${shape}: ${i.toString(16)} -> ${bits[i]!.toString(16)}`);
  }
});

Widen("f16 -> f32 is exact for all 65536 patterns: subnormals, ±0, ±inf, NaN (vector and scalar)", async () => {
  const d = await dense();
  const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
  for (const shape of [[1, 65536], [65536, 1]]) {
    const t = d.uploadTensor({ dtype: "f16", shape, bytes: new Uint8Array(all.buffer) });
    const out = d.alloc(65536);
    out.view().fill(NaN);
    d.embed(t, shape[0] === 1 ? [0] : Array.from({ length: 65536 }, (_, i) => i), out);
    const v = out.view(), bits = new Uint32Array(v.buffer, out.ptr, 65536);
    for (let h = 0; h < 65536; h++) {
      const want = f16Value(h);
      if (Number.isNaN(want)) {
        // quiet/signalling payload and sign kept, as unpack2x16float
        const wb = ((h & 0x8000) << 16 | 0x7f800000 | (h & 0x3ff) << 13) >>> 0;
        if (bits[h] !== wb) assert.unreachable(`shape ${shape}: NaN ${h.toString(16)} -> ${bits[h]!.toString(16)}`);
      } else if (!Object.is(v[h], want)) assert.unreachable(`shape ${shape}: ${h.toString(16)} -> ${v[h]} want ${want}`);
    }
  }
});

const Misc = suite("cpu dense rmsnorm / swiglu / embed");
for (const dtype of DTYPES) {
  Misc(`rmsNorm matches the f64 loop (${dtype}, dims 576 / 30 / 62, n = 1, 3, 5, in place, addOne)`, async () => {
    const seed = freshSeed(), rng = makeRng(seed), d = await dense();
    for (const dim of [576, 30, 62, 3]) {
      const wT = randomTensor(rng, dtype, dim);
      const w = d.uploadTensor({ dtype, shape: [dim], bytes: wT.bytes });
      for (const n of [1, 3, 5]) {
        for (const addOne of [false, true]) {
          const x = randomF32(rng, n * dim), eps = 1e-5;
          const out = new Float32Array(n * dim).fill(NaN);
          d.rmsNorm(x, w, n, out, eps, { addOne });
          const ref = new Float64Array(n * dim), mag = new Float64Array(n * dim);
          for (let t = 0; t < n; t++) {
            let ss = 0;
            for (let i = 0; i < dim; i++) ss += x[t * dim + i]! ** 2;
            const inv = 1 / Math.sqrt(ss / dim + eps);
            for (let i = 0; i < dim; i++) {
              ref[t * dim + i] = x[t * dim + i]! * inv * (wT.values[i]! + (addOne ? 1 : 0));
              mag[t * dim + i] = Math.abs(ref[t * dim + i]!);
            }
          }
          assertClose(out, ref, mag, 2e-6 * Math.sqrt(dim) + 1e-6, `seed ${seed} ${dtype} dim ${dim} n ${n} addOne ${addOne}`);
          const inPlace = x.slice();
          d.rmsNorm(inPlace, w, n, inPlace, eps, { addOne });
          assert.equal(Array.from(inPlace), Array.from(out));
        }
      }
    }
  });

  Misc(`embed gathers rows as f32 (${dtype}, dim 576 and 30, repeated ids)`, async () => {
    const seed = freshSeed(), rng = makeRng(seed), d = await dense();
    for (const [vocab, dim] of [[301, 576], [17, 30]] as const) {
      const tT = randomTensor(rng, dtype, vocab * dim);
      const table = d.uploadTensor({ dtype, shape: [vocab, dim], bytes: tT.bytes, name: "embed" });
      const ids = [vocab - 1, 0, 5, 5, Math.floor(rng() * vocab)];
      const out = new Float32Array(ids.length * dim).fill(NaN);
      d.embed(table, ids, out);
      for (let k = 0; k < ids.length; k++) {
        for (let i = 0; i < dim; i++) {
          if (!Object.is(out[k * dim + i], tT.values[ids[k]! * dim + i])) assert.unreachable(`seed ${seed} ${dtype} id ${ids[k]} col ${i}`);
        }
      }
    }
  });
}

Misc("swiglu matches silu(g)·u in f64 (1536·3 and 30, aliasing out = gate)", async () => {
  const seed = freshSeed(), rng = makeRng(seed), d = await dense();
  for (const count of [1536 * 3, 30, 1]) {
    const g = Float32Array.from({ length: count }, () => (rng() * 2 - 1) * 12), u = randomF32(rng, count);
    const out = new Float32Array(count).fill(NaN);
    d.swiglu(g, u, out, count);
    const ref = new Float64Array(count), mag = new Float64Array(count);
    for (let i = 0; i < count; i++) { ref[i] = g[i]! / (1 + Math.exp(-g[i]!)) * u[i]!; mag[i] = Math.abs(ref[i]!); }
    assertClose(out, ref, mag, 1e-6, `seed ${seed} count ${count}`);
    const gg = g.slice();
    d.swiglu(gg, u, gg, count);
    assert.equal(Array.from(gg), Array.from(out));
  }
});

const Api = suite("cpu dense api");
function throwsField(fn: () => void, field: string) {
  try { fn(); } catch (e) {
    assert.instance(e, InvalidArgumentError);
    assert.is((e as InvalidArgumentError).field, field);
    return;
  }
  assert.unreachable(`no error for ${field}`);
}
Api("misuse throws InvalidArgumentError naming the field", async () => {
  const d = await dense();
  throwsField(() => d.uploadTensor({ dtype: "bf16", shape: [4, 3], bytes: new Uint8Array(23) }), "bytes");
  throwsField(() => d.uploadTensor({ dtype: "bf16", shape: [4, 0], bytes: new Uint8Array(0) }), "shape");
  throwsField(() => d.uploadTensor({ dtype: "f8" as DenseDtype, shape: [4], bytes: new Uint8Array(4) }), "dtype");
  const w = d.uploadTensor({ dtype: "f32", shape: [4, 3], bytes: new Uint8Array(48) });
  const b5 = d.uploadTensor({ dtype: "f32", shape: [5], bytes: new Uint8Array(20) });
  throwsField(() => d.matmul(w, new Float32Array(5), 2, new Float32Array(8)), "x");
  throwsField(() => d.matmul(w, new Float32Array(6), 2, new Float32Array(7)), "out");
  throwsField(() => d.matmul(w, new Float32Array(6), 0, new Float32Array(8)), "n");
  throwsField(() => d.matmul(w, new Float32Array(6), 2, new Float32Array(8), { bias: b5 }), "bias");
  throwsField(() => d.matmul(b5 as DenseTensor, new Float32Array(6), 2, new Float32Array(8)), "w");
  const buf = d.alloc(32);
  throwsField(() => d.matmul(w, buf, 2, buf), "out");
  throwsField(() => d.embed(w, [4], new Float32Array(3)), "ids[0]");
  throwsField(() => d.rmsNorm(new Float32Array(4), b5, 1, new Float32Array(5), 1e-5), "x");
});

Api("buffer views survive memory growth (re-derived, same contents)", async () => {
  const d = await createCpuDense({ wasm: cpuWasm });
  const buf = d.alloc(100);
  buf.view().fill(3.5);
  const before = d.memoryBytes();
  d.uploadTensor({ dtype: "bf16", shape: [1024, 1024], bytes: new Uint8Array(2 << 20) });
  assert.ok(d.memoryBytes() >= before + (2 << 20));
  const v = buf.view();
  assert.is(v.length, 100);
  assert.ok(v.every((x) => x === 3.5));
});

Matmul.run(); Widen.run(); Misc.run(); Api.run();
