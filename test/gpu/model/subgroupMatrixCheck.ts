// test/gpu/model/subgroupMatrixCheck.ts — one check of the prefill matmul (kernels.matmul) against
// straight-loop f64 references, shared by test/gpu/model/subgroupMatrix.test.ts and the device
// bench (bench/smm.bench.ts): fresh random x, W (in its stored dtype), bias and y0; y NaN-poisoned
// for the plain product, y0 for bias + accumulate; the weight optionally split into parts.
// Two references: `exact` (the stored weights and f32 x, what matmul.wgsl matches to 1e-5) and
// `f16` (x and W rounded to f16 first: what matrix units multiply, so only the f32 accumulation
// order separates it from the kernel). Outputs are compared at `sample` random (token, row) pairs,
// or everywhere when sample is 0. With `viewRow0` > 0 the weight is a view (TensorPart.bufferRow) of
// rows viewRow0 .. viewRow0 + outDim of a larger buffer whose other rows are random too, as the
// engine's q/k/v views into the concatenated weight are.
import { uploadTensor, writeStep, createStepBuffer, STEP_BYTES, type DeviceTensor, type ModelKernels, type WeightDtype } from "../../../src/gpu/model";
import { f16BitsToF32, f32ToF16Bits } from "../../../src/gpu/pool";
import { makeRng } from "../../reference/kernels";
import { encodeWeights } from "../../reference/model";
import { nanBuffer, randomArray, readBuffer, runPass, storageBuffer } from "../helpers";

export interface MatmulCase { dtype: WeightDtype; n: number; inDim: number; outDim: number; parts: number; seed: number; sample: number; viewRow0?: number }
/** Max |err| / max |ref| over the compared entries, for the plain product (1) and bias + accumulate (2). */
export interface MatmulErrors { exact1: number; exact2: number; f16_1: number; f16_2: number; compared: number }

const toF16 = (v: number) => f16BitsToF32(f32ToF16Bits(v));

export async function checkMatmul(device: GPUDevice, k: ModelKernels, c: MatmulCase): Promise<MatmulErrors> {
  const { dtype, n, inDim, outDim, parts } = c;
  const rng = makeRng(c.seed);
  const w = encodeWeights(randomArray(rng, inDim * outDim), dtype);
  const rowBytes = inDim * (dtype === "f32" ? 4 : 2);
  const maxBindingBytes = parts > 1 ? Math.ceil(outDim / parts) * rowBytes + (rowBytes % 4 ? rowBytes : 0) : undefined;
  const row0 = c.viewRow0 ?? 0;
  let W: DeviceTensor;
  if (c.viewRow0 !== undefined) {
    if (parts > 1) throw new Error("a view case has one part");
    const all = encodeWeights(randomArray(rng, (row0 + outDim + 3) * inDim), dtype);
    const eb = dtype === "f32" ? 4 : 2;
    all.bytes.set(w.bytes, row0 * inDim * eb);
    const whole = uploadTensor(device, { dtype, shape: [row0 + outDim + 3, inDim], bytes: all.bytes });
    W = { dtype, shape: [outDim, inDim], rows: outDim, cols: inDim, parts: [{ buffer: whole.parts[0]!.buffer, rowStart: 0, rowCount: outDim, bufferRow: row0 }] };
  } else W = uploadTensor(device, { dtype, shape: [outDim, inDim], bytes: w.bytes }, { maxBindingBytes });
  if (parts > 1 && W.parts.length < 2) throw new Error(`weight not split (${W.parts.length} part)`);
  const x = randomArray(rng, n * inDim), bias = randomArray(rng, outDim), y0 = randomArray(rng, n * outDim);
  const xb = storageBuffer(device, x), bb = storageBuffer(device, bias);
  const st = createStepBuffer(device);
  writeStep(device.queue, st, n, 0, 0, 1, 0, new Uint32Array(STEP_BYTES / 4));
  const y1 = nanBuffer(device, n * outDim), y2 = storageBuffer(device, y0);
  const d1 = k.matmul.prepare({ step: st, x: xb, weight: W, y: y1, inDim, outDim });
  const d2 = k.matmul.prepare({ step: st, x: xb, weight: W, y: y2, inDim, outDim, bias: bb, accumulate: true });
  await runPass(device, (pass) => { d1.encode(pass, n); d2.encode(pass, n); });
  const got1 = new Float32Array(await readBuffer(device, y1)), got2 = new Float32Array(await readBuffer(device, y2));
  for (const b of [xb, bb, st, y1, y2, ...W.parts.map((p) => p.buffer)]) b.destroy();
  const pairs: [number, number][] = [];
  if (c.sample > 0) for (let i = 0; i < c.sample; i++) pairs.push([Math.floor(rng() * n), Math.floor(rng() * outDim)]);
  else for (let t = 0; t < n; t++) for (let o = 0; o < outDim; o++) pairs.push([t, o]);
  const e = { exact1: 0, exact2: 0, f16_1: 0, f16_2: 0 }, m = { exact1: 0, exact2: 0, f16_1: 0, f16_2: 0 };
  const note = (key: keyof typeof e, got: number, want: number) => {
    e[key] = Number.isNaN(got) ? Infinity : Math.max(e[key], Math.abs(got - want));
    m[key] = Math.max(m[key], Math.abs(want));
  };
  const wh = w.stored.map(toF16), xh = Float64Array.from(x, toF16);
  for (const [t, o] of pairs) {
    let s = 0, sh = 0;
    for (let i = 0; i < inDim; i++) {
      s += w.stored[o * inDim + i]! * x[t * inDim + i]!;
      sh += wh[o * inDim + i]! * xh[t * inDim + i]!;
    }
    const extra = bias[o]! + y0[t * outDim + o]!;
    note("exact1", got1[t * outDim + o]!, s); note("exact2", got2[t * outDim + o]!, s + extra);
    note("f16_1", got1[t * outDim + o]!, sh); note("f16_2", got2[t * outDim + o]!, sh + extra);
  }
  const rel = (key: keyof typeof e) => e[key] / Math.max(m[key], 1e-30);
  return { exact1: rel("exact1"), exact2: rel("exact2"), f16_1: rel("f16_1"), f16_2: rel("f16_2"), compared: pairs.length };
}
