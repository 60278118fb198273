// src/gpu/model/index.ts — WGSL kernels of a Llama-family forward pass (issue 13, kernel part).
//
// API (stable; the engine host codes against it — list any change under "API CHANGES" below):
//
//   uploadTensor(device, { dtype: "f32"|"f16"|"bf16", shape: number[], bytes: Uint8Array }, opts?)
//     → DeviceTensor { dtype, shape, rows, cols, parts: { buffer, rowStart, rowCount }[] }
//     Stored precision on the device: f16/bf16 as packed pairs in u32 words (element 2k low half),
//     odd element counts padded; split by rows into parts no larger than maxStorageBufferBindingSize
//     (opts.maxBindingBytes overrides it, for tests). shape[0] is rows, the product of the rest cols.
//   createModelKernels(device, opts?) → Promise<ModelKernels>; builds every pipeline once.
//   ModelKernels (each encode() only records into the pass; uniforms go through a ring, see below):
//     embed.encode(pass, { ids, table: DeviceTensor, out, n, dim })
//     rmsNorm.encode(pass, { x, weight: DeviceTensor, out, n, dim, eps })
//     matmul.encode(pass, { x, weight: DeviceTensor, y, n, inDim, outDim, bias?, accumulate? })
//         y[n,out] (=|+=) x[n,in] W^T (+ bias); decode is n = 1; the classifier is matmul on the
//         (tied or not) embedding DeviceTensor.
//     rope.encode(pass, { x, invFreq, n, heads, headSize, style: RopeStyle, startPos })
//         invFreq: GPUBuffer f32[headSize/2] from ropeInvFrequencies (src/model/rope.ts), built once
//         with ropeInvFreqBuffer(device, f64array).
//     swiglu.encode(pass, { gate, up, count })       gate = silu(gate) * up, in place
//     add.encode(pass, { x, y, count })              y += x
//     argmax.encode(pass, { logits, out, rows, vocab })  out u32[rows], lowest index wins ties
//     beginStep()   resets the uniform ring; call once per command encoder you submit.
//   All x/y/out buffers are f32 GPUBuffers with STORAGE usage, sizes in elements.
//
// Uniform ring: every encode() writes its per-dispatch sizes with queue.writeBuffer into the next
// 256-byte slot of one uniform buffer (dynamic offset). queue.writeBuffer lands before the next
// submit, so all slots used by one submission must be distinct: at most UNIFORM_SLOTS encodes per
// submission (a RangeError past that, never silent reuse).
//
//     sample.encode(pass, { logits, out, rows, vocab, temperature, topP, r })  temperature 0 → argmax;
//         else temperature + top-p (shaders/model/sample_top_p.wgsl documents the algorithm), r one
//         uniform [0, 1) number per step from createRng(seed) on the host.
// NOT YET (deadline): the tiled shared-memory prefill matmul and the subgroup decode matvec
// (matmul.wgsl is a row-per-LANES baseline for both).
//
// API CHANGES: + sample (added 23:45, nothing removed).

import { buildKernel, type BuiltKernel } from "../kernels/build";
import { InvalidArgumentError } from "../../errors";
import type { RopeStyle } from "../../model/rope";
import wF32 from "../../../shaders/model/common/w_f32.wgsl";
import wF16 from "../../../shaders/model/common/w_f16.wgsl";
import wBf16 from "../../../shaders/model/common/w_bf16.wgsl";
import embedWgsl from "../../../shaders/model/embed.wgsl";
import rmsNormWgsl from "../../../shaders/model/rms_norm.wgsl";
import matmulWgsl from "../../../shaders/model/matmul.wgsl";
import ropeWgsl from "../../../shaders/model/rope.wgsl";
import swigluWgsl from "../../../shaders/model/swiglu.wgsl";
import addWgsl from "../../../shaders/model/add.wgsl";
import argmaxWgsl from "../../../shaders/model/argmax.wgsl";
import sampleTopPWgsl from "../../../shaders/model/sample_top_p.wgsl";

export type WeightDtype = "f32" | "f16" | "bf16";
export interface HostTensor { dtype: WeightDtype; shape: readonly number[]; bytes: Uint8Array }
export interface TensorPart { buffer: GPUBuffer; rowStart: number; rowCount: number }
export interface DeviceTensor { dtype: WeightDtype; shape: readonly number[]; rows: number; cols: number; parts: TensorPart[] }

const elemBytes = (d: WeightDtype) => (d === "f32" ? 4 : 2);
const W_SRC: Record<WeightDtype, string> = { f32: wF32, f16: wF16, bf16: wBf16 };

export function uploadTensor(device: GPUDevice, t: HostTensor, opts: { maxBindingBytes?: number; label?: string } = {}): DeviceTensor {
  const rows = t.shape[0] ?? 1;
  const cols = t.shape.slice(1).reduce((a, b) => a * b, 1);
  const eb = elemBytes(t.dtype);
  if (t.bytes.byteLength !== rows * cols * eb) throw new InvalidArgumentError("tensor.bytes", t.bytes.byteLength, `must be ${rows}*${cols}*${eb} bytes`);
  const limit = opts.maxBindingBytes ?? device.limits.maxStorageBufferBindingSize;
  // Rows per part: a part starts on a row boundary; for 16-bit dtypes an odd cols makes a row
  // start mid-word, so parts hold an even number of rows then (row starts on a word boundary).
  let rowsPer = Math.floor(limit / (cols * eb));
  if (eb === 2 && cols % 2 === 1) rowsPer -= rowsPer % 2;
  if (rowsPer < 1) throw new InvalidArgumentError("tensor row bytes", cols * eb, `must fit maxStorageBufferBindingSize ${limit} (two rows for odd 16-bit rows)`);
  const parts: TensorPart[] = [];
  for (let r0 = 0; r0 < rows; r0 += rowsPer) {
    const rc = Math.min(rowsPer, rows - r0);
    const start = r0 * cols * eb, len = rc * cols * eb;
    const size = Math.max(16, Math.ceil(len / 16) * 16); // pads odd element counts to whole words
    const buffer = device.createBuffer({ label: opts.label ?? "weight", size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    const padded = new Uint8Array(Math.ceil(len / 4) * 4);
    padded.set(t.bytes.subarray(start, start + len));
    device.queue.writeBuffer(buffer, 0, padded);
    parts.push({ buffer, rowStart: r0, rowCount: rc });
  }
  return { dtype: t.dtype, shape: [...t.shape], rows, cols, parts };
}

/** f32 inverse frequencies (from ropeInvFrequencies) in a storage buffer, built once per model. */
export function ropeInvFreqBuffer(device: GPUDevice, invFreq: ArrayLike<number>): GPUBuffer {
  const data = Float32Array.from(invFreq);
  const buf = device.createBuffer({ label: "rope invFreq", size: Math.max(16, Math.ceil(data.byteLength / 16) * 16), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(buf, 0, data);
  return buf;
}

export const UNIFORM_SLOT_BYTES = 256;
export const UNIFORM_SLOTS = 4096;

class UniformRing {
  readonly buffer: GPUBuffer;
  private next = 0;
  constructor(private device: GPUDevice) {
    this.buffer = device.createBuffer({ label: "model uniforms", size: UNIFORM_SLOT_BYTES * UNIFORM_SLOTS, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  }
  reset() { this.next = 0; }
  /** Writes 8 words (u32, or f32 where `floats` marks the index) and returns the slot offset. */
  push(words: number[], floats: number[] = []): number {
    if (this.next >= UNIFORM_SLOTS) throw new RangeError(`model uniforms: more than ${UNIFORM_SLOTS} encodes before beginStep()`);
    const buf = new ArrayBuffer(32), u = new Uint32Array(buf), f = new Float32Array(buf);
    words.forEach((w, i) => { if (floats.includes(i)) f[i] = w; else u[i] = w >>> 0; });
    const off = this.next++ * UNIFORM_SLOT_BYTES;
    this.device.queue.writeBuffer(this.buffer, off, buf);
    return off;
  }
}

interface Pipe { built: BuiltKernel; uniformBinding: number }

async function pipe(device: GPUDevice, file: string, sources: string[], storage: Record<number, "storage" | "read-only-storage">, uniformBinding: number, constants: Record<string, number> = {}): Promise<Pipe> {
  // buildKernel's "batch" kind is a dynamic-offset uniform, which is what the ring needs.
  // These kernels predate src/contract.ts's named bindings: their bindings are named by number
  // ("b3") until they get KERNEL_IO entries of their own.
  const numbered = { ...storage, [uniformBinding]: "batch" as const };
  const bindings = Object.fromEntries(Object.entries(numbered).map(([b, kind]) => [`b${b}`, [Number(b), kind] as const]));
  const built = await buildKernel(device, { file, sources, io: { bindings }, constants });
  return { built, uniformBinding };
}

function run(device: GPUDevice, ring: UniformRing, pass: GPUComputePassEncoder, p: Pipe, buffers: Record<number, GPUBuffer>, words: number[], floats: number[], grid: [number, number]) {
  if (grid[0] <= 0 || grid[1] <= 0) return;
  const max = device.limits.maxComputeWorkgroupsPerDimension;
  if (grid[0] > max || grid[1] > max) throw new InvalidArgumentError("dispatch", grid.join("x"), `must be ≤ ${max} per dimension`);
  const off = ring.push(words, floats);
  const group = device.createBindGroup({
    layout: p.built.layout,
    entries: [...p.built.bindings.values()].map((binding) => binding === p.uniformBinding
      ? { binding, resource: { buffer: ring.buffer, size: 32 } }
      : { binding, resource: { buffer: buffers[binding]! } }),
  });
  pass.setPipeline(p.built.pipeline);
  pass.setBindGroup(0, group, [off]);
  pass.dispatchWorkgroups(grid[0], grid[1]);
}

/** 1-D element count → 2-D grid of WG-thread workgroups (x ≤ 65535). */
function linearGrid(count: number, wg: number): [number, number] {
  const groups = Math.ceil(count / wg);
  const x = Math.min(groups, 65535);
  return [x, Math.ceil(groups / x)];
}

export interface ModelKernels {
  embed: { encode(pass: GPUComputePassEncoder, a: { ids: GPUBuffer; table: DeviceTensor; out: GPUBuffer; n: number; dim: number }): void };
  rmsNorm: { encode(pass: GPUComputePassEncoder, a: { x: GPUBuffer; weight: DeviceTensor; out: GPUBuffer; n: number; dim: number; eps: number }): void };
  matmul: { encode(pass: GPUComputePassEncoder, a: { x: GPUBuffer; weight: DeviceTensor; y: GPUBuffer; n: number; inDim: number; outDim: number; bias?: GPUBuffer; accumulate?: boolean }): void };
  rope: { encode(pass: GPUComputePassEncoder, a: { x: GPUBuffer; invFreq: GPUBuffer; n: number; heads: number; headSize: number; style: RopeStyle; startPos: number }): void };
  swiglu: { encode(pass: GPUComputePassEncoder, a: { gate: GPUBuffer; up: GPUBuffer; count: number }): void };
  add: { encode(pass: GPUComputePassEncoder, a: { x: GPUBuffer; y: GPUBuffer; count: number }): void };
  argmax: { encode(pass: GPUComputePassEncoder, a: { logits: GPUBuffer; out: GPUBuffer; rows: number; vocab: number }): void };
  /** temperature 0 → argmax; else temperature + top-p with r = one uniform [0,1) number (createRng(seed)()). */
  sample: { encode(pass: GPUComputePassEncoder, a: { logits: GPUBuffer; out: GPUBuffer; rows: number; vocab: number; temperature: number; topP: number; r: number }): void };
  beginStep(): void;
  destroy(): void;
}

const MM_ROWS = 4;

export async function createModelKernels(device: GPUDevice): Promise<ModelKernels> {
  const ring = new UniformRing(device);
  const dts: WeightDtype[] = ["f32", "f16", "bf16"];
  const R = "read-only-storage" as const, S = "storage" as const;
  const embedP: Record<string, Pipe> = {}, normP: Record<string, Pipe> = {}, mmP: Record<string, Pipe> = {};
  for (const d of dts) {
    embedP[d] = await pipe(device, `model/embed.wgsl (${d})`, [W_SRC[d], embedWgsl], { 0: R, 1: R, 2: S }, 3);
    normP[d] = await pipe(device, `model/rms_norm.wgsl (${d})`, [W_SRC[d], rmsNormWgsl], { 0: R, 1: R, 2: S }, 3);
    mmP[d] = await pipe(device, `model/matmul.wgsl (${d})`, [W_SRC[d], matmulWgsl], { 0: R, 1: R, 2: R, 3: S }, 4, { ROWS: MM_ROWS, LANES: 64 });
  }
  const ropeP = await pipe(device, "model/rope.wgsl", [ropeWgsl], { 0: S, 1: R }, 2);
  const swigluP = await pipe(device, "model/swiglu.wgsl", [swigluWgsl], { 0: S, 1: R }, 2);
  const addP = await pipe(device, "model/add.wgsl", [addWgsl], { 0: R, 1: S }, 2);
  const argmaxP = await pipe(device, "model/argmax.wgsl", [argmaxWgsl], { 0: R, 1: S }, 2);
  const sampleP = await pipe(device, "model/sample_top_p.wgsl", [sampleTopPWgsl], { 0: R, 1: S }, 2);
  const dummy = device.createBuffer({ label: "model dummy bias", size: 16, usage: GPUBufferUsage.STORAGE });
  const checkCols = (field: string, w: DeviceTensor, cols: number) => {
    if (w.cols !== cols) throw new InvalidArgumentError(field, w.cols, `must equal ${cols}`);
  };
  return {
    embed: {
      encode(pass, a) {
        checkCols("embed.table.cols", a.table, a.dim);
        for (const part of a.table.parts) run(device, ring, pass, embedP[a.table.dtype]!, { 0: a.ids, 1: part.buffer, 2: a.out }, [a.n, a.dim, part.rowStart, part.rowCount], [], [Math.ceil(a.dim / 64), a.n]);
      },
    },
    rmsNorm: {
      encode(pass, a) {
        if (a.weight.rows * a.weight.cols !== a.dim) throw new InvalidArgumentError("rmsNorm.weight size", a.weight.rows * a.weight.cols, `must equal dim ${a.dim}`);
        if (a.weight.parts.length !== 1) throw new InvalidArgumentError("rmsNorm.weight.parts", a.weight.parts.length, "must be 1");
        run(device, ring, pass, normP[a.weight.dtype]!, { 0: a.x, 1: a.weight.parts[0]!.buffer, 2: a.out }, [a.n, a.dim, a.eps, 0], [2], [a.n, 1]);
      },
    },
    matmul: {
      encode(pass, a) {
        checkCols("matmul.weight.cols", a.weight, a.inDim);
        if (a.weight.rows !== a.outDim) throw new InvalidArgumentError("matmul.weight.rows", a.weight.rows, `must equal outDim ${a.outDim}`);
        const flags = (a.bias ? 1 : 0) | (a.accumulate ? 2 : 0);
        for (const part of a.weight.parts) {
          run(device, ring, pass, mmP[a.weight.dtype]!, { 0: a.x, 1: part.buffer, 2: a.bias ?? dummy, 3: a.y },
            [a.n, a.inDim, a.outDim, part.rowStart, part.rowCount, flags, 0, 0], [], [Math.ceil(part.rowCount / MM_ROWS), a.n]);
        }
      },
    },
    rope: {
      encode(pass, a) {
        if (a.headSize % 2) throw new InvalidArgumentError("rope.headSize", a.headSize, "must be even");
        run(device, ring, pass, ropeP, { 0: a.x, 1: a.invFreq }, [a.n, a.heads, a.headSize, a.style === "interleaved" ? 0 : 1, a.startPos, 0, 0, 0], [],
          [Math.ceil((a.heads * a.headSize) / 2 / 64), a.n]);
      },
    },
    swiglu: { encode(pass, a) { run(device, ring, pass, swigluP, { 0: a.gate, 1: a.up }, [a.count, 0, 0, 0], [], linearGrid(a.count, 256)); } },
    add: { encode(pass, a) { run(device, ring, pass, addP, { 0: a.x, 1: a.y }, [a.count, 0, 0, 0], [], linearGrid(a.count, 256)); } },
    argmax: { encode(pass, a) { run(device, ring, pass, argmaxP, { 0: a.logits, 1: a.out }, [a.vocab, 0, 0, 0], [], [a.rows, 1]); } },
    sample: {
      encode(pass, a) {
        if (!(a.temperature >= 0)) throw new InvalidArgumentError("sample.temperature", a.temperature, "must be ≥ 0");
        if (!(a.topP > 0 && a.topP <= 1)) throw new InvalidArgumentError("sample.topP", a.topP, "must be in (0, 1]");
        if (!(a.r >= 0 && a.r < 1)) throw new InvalidArgumentError("sample.r", a.r, "must be in [0, 1)");
        if (a.temperature === 0) { run(device, ring, pass, argmaxP, { 0: a.logits, 1: a.out }, [a.vocab, 0, 0, 0], [], [a.rows, 1]); return; }
        run(device, ring, pass, sampleP, { 0: a.logits, 1: a.out }, [a.vocab, 0, a.temperature, a.topP, a.r, 0, 0, 0], [2, 3, 4], [a.rows, 1]);
      },
    },
    beginStep() { ring.reset(); },
    destroy() { ring.buffer.destroy(); dummy.destroy(); },
  };
}
