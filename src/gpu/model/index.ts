// src/gpu/model/index.ts — host wrappers of the model kernels (shaders/model/*.wgsl): one
// prepared object per dispatch, built once, that only encodes (STYLE L3).
//
//   uploadTensor(device, { dtype, shape, bytes }, opts?) → DeviceTensor
//     Stored precision on the device: f16/bf16 as packed pairs in u32 words (element 2k low half),
//     odd element counts padded; split by rows into parts no larger than maxStorageBufferBindingSize
//     (opts.maxBindingBytes overrides it, for tests). shape[0] is rows, the product of the rest cols.
//   createModelKernels(device, opts?) → Promise<ModelKernels>: every pipeline, built once.
//   kernels.<kernel>.prepare({ step, buffers…, sizes… }) → Dispatch: writes the kernel's `Args`
//     uniform and builds its bind group(s) once; Dispatch.encode(pass, numTokens) then records
//     setPipeline / setBindGroup / dispatchWorkgroups only (no allocation, no queue write).
//   The per-step values (numTokens, startPos, the sampling temperature / topP / r) live in one
//     Step uniform (createStepBuffer) that the host writes once per step with writeStep; the
//     numTokens given to encode() sizes the grid and must equal the Step's.
//   All x/y/out buffers are f32 GPUBuffers with STORAGE usage; biases are f32 buffers.

import { buildKernel, bindGroup, type BuiltKernel } from "../kernels/build";
import { InvalidArgumentError } from "../../errors";
import { MODEL_KERNEL_IO, MODEL_STEP_FIELDS, type ModelKernelName, f32Bits, packModelArgs } from "../../contract";
import type { RopeStyle } from "../../model/rope";
import { MODEL_KERNEL_FILES, modelSourcesOf, type WeightDtype } from "./sources";

export type { WeightDtype } from "./sources";
export interface HostTensor { dtype: WeightDtype; shape: readonly number[]; bytes: Uint8Array }
/** One binding's rows of a tensor: rows [rowStart, rowStart + rowCount) of the whole, stored from
 *  row `bufferRow` (default 0) of `buffer` (a view into a concatenated weight; matmul only). */
export interface TensorPart { buffer: GPUBuffer; rowStart: number; rowCount: number; bufferRow?: number }
export interface DeviceTensor { dtype: WeightDtype; shape: readonly number[]; rows: number; cols: number; parts: TensorPart[] }

/** Rows per workgroup of matvec*.wgsl (`const ROWS`) and the output tile of matmul.wgsl (`const TILE`). */
export const MATVEC_ROWS = 2;
export const MATMUL_TILE = 128;
/** matmul.wgsl's TOKEN_RUNS = 2 (128-token tiles) where there are more than 64 tokens and its grid
 *  has at least this many workgroups, else 1 (64-token tiles). H200, 2026-12-02, bf16 1B shapes: two runs 23.4-24.3 TFLOP/s against
 *  21.9-22.9 at 256 workgroups and more; one run 15.6-15.8 against 8.8-13.3 at 64-152 (half the
 *  device idle with two). About two resident workgroups per SM of 132; smaller GPUs fill sooner. */
export const MATMUL_TWO_RUNS_MIN_WORKGROUPS = 256;
/** Split-K aims at this many workgroups for a 64-token tile row of a product (2 a SM on an H200). */
export const MATMUL_SPLIT_TARGET_WORKGROUPS = 256;
/** The fewest k elements a split sums. */
export const MATMUL_SPLIT_MIN_K = 256;

/** matmul's split-K for a rowCount × inDim part: (number of splits, k elements each); 1 split = none.
 *  A function of the shape only (never of numTokens), so results do not depend on the batch. */
export function matmulSplits(rowCount: number, inDim: number): { splits: number; kSplit: number } {
  const want = Math.ceil(MATMUL_SPLIT_TARGET_WORKGROUPS / Math.ceil(rowCount / MATMUL_TILE));
  const s = Math.max(1, Math.min(want, Math.floor(inDim / MATMUL_SPLIT_MIN_K)));
  if (s <= 1) return { splits: 1, kSplit: 0 };
  const kSplit = Math.ceil(Math.ceil(inDim / s) / 8) * 8;
  return { splits: Math.ceil(inDim / kSplit), kSplit };
}
/** matvec workgroup sizes built (override WG): the smallest that keeps every lane of a row busy. */
const MATVEC_WGS = [32, 64, 128] as const;
const matvecWg = (numChunks: number) => (numChunks <= 48 ? 32 : numChunks <= 160 ? 64 : 128);

const elemBytes = (d: WeightDtype) => (d === "f32" ? 4 : 2);

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
    const src = t.bytes.subarray(start, start + len);
    if (len % 4 === 0 && src.byteOffset % 4 === 0) device.queue.writeBuffer(buffer, 0, src.buffer as ArrayBuffer, src.byteOffset, len);
    else {
      const padded = new Uint8Array(Math.ceil(len / 4) * 4);
      padded.set(src);
      device.queue.writeBuffer(buffer, 0, padded);
    }
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

/** Bytes of the Step uniform (shaders/model/common/step.wgsl). */
export const STEP_BYTES = 4 * MODEL_STEP_FIELDS.length;

/** A Step uniform buffer, written with writeStep. */
export function createStepBuffer(device: GPUDevice, label = "model step"): GPUBuffer {
  return device.createBuffer({ label, size: STEP_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
}

/**
 * Writes the Step uniform through `scratch` (STEP_BYTES / 4 words, reused by the caller): the
 * hot path's one uniform write, with no allocation. temperature 0 = greedy (r unused).
 */
export function writeStep(queue: GPUQueue, buffer: GPUBuffer, numTokens: number, startPos: number,
  temperature: number, topP: number, r: number, scratch: Uint32Array<ArrayBuffer>): void {
  if (!(temperature >= 0)) throw new InvalidArgumentError("temperature", temperature, "≥ 0 (0 = greedy)");
  if (!(topP > 0 && topP <= 1)) throw new InvalidArgumentError("topP", topP, "in (0, 1]");
  if (!(r >= 0 && r < 1)) throw new InvalidArgumentError("r", r, "in [0, 1)");
  scratch[0] = numTokens;
  scratch[1] = startPos;
  scratch[2] = f32Bits(temperature);
  scratch[3] = f32Bits(topP);
  scratch[4] = f32Bits(r);
  queue.writeBuffer(buffer, 0, scratch, 0, MODEL_STEP_FIELDS.length);
}

/** A prepared dispatch: encode() records it for `numTokens` rows (the Step's numTokens). */
export interface Dispatch { encode(pass: GPUComputePassEncoder, numTokens: number): void }

/** RMSNorm fused into a matvec: x is normalised on the fly with this f32 weight [inDim]. */
export interface FusedNorm { weight: GPUBuffer; eps: number }
/** A matvec's output rows split over three buffers: [0, split1) → y, [split1, split2) → y2, the rest → y3. */
export interface SplitOutput { y2: GPUBuffer; y3: GPUBuffer; split1: number; split2: number }
interface MatArgs {
  step: GPUBuffer; x: GPUBuffer; weight: DeviceTensor; y: GPUBuffer; inDim: number; outDim: number; bias?: GPUBuffer; accumulate?: boolean;
  /** matvec only (inDim % 8 == 0): RMSNorm of x in the kernel's prologue. */
  norm?: FusedNorm;
  /** matvec only (inDim % 8 == 0, no accumulate): q/k/v from one concatenated weight. */
  split?: SplitOutput;
  /** With split: RoPE of the q and k rows (y, y2) in the epilogue, interleaved pairs (2j, 2j + 1). */
  rope?: { invFreq: GPUBuffer; headSize: number };
  /** matmul only: split-K where the weight has few row tiles ({@link matmulSplits}; the tiled f32
   *  kernel even where matrix units exist), partial sums in `scratch` (at least
   *  4 · splits · maxTokens · rowCount bytes of the largest part), added by matmul_reduce.wgsl.
   *  The split depends on the weight's shape only, so a row's result is the same at any n. */
  splitK?: { scratch: GPUBuffer; maxTokens: number };
}

export interface ModelKernels {
  /** out[t] = table[ids[t]]. */
  embed: { prepare(a: { step: GPUBuffer; ids: GPUBuffer; table: DeviceTensor; out: GPUBuffer; dim: number }): Dispatch };
  rmsNorm: { prepare(a: { step: GPUBuffer; x: GPUBuffer; weight: DeviceTensor; out: GPUBuffer; dim: number; eps: number }): Dispatch };
  /** y[n, out] (=|+=) x[n, in] W^T (+ bias), tuned for n = 1 (decode); any n is correct. With
   *  `norm`, x is RMS-normalised first (in the kernel); with `split`, rows go to three buffers. */
  matvec: { prepare(a: MatArgs): Dispatch };
  /** y = silu(x Wg^T) * (x Wu^T) in one pass over both weights (decode); null where inDim % 8 ≠ 0
   *  (then matvec + matvec + swiglu). gate and up must be split into the same parts. */
  matvecSwiglu: { prepare(a: { step: GPUBuffer; x: GPUBuffer; gate: DeviceTensor; up: DeviceTensor; y: GPUBuffer; inDim: number; outDim: number; norm?: FusedNorm }): Dispatch | null };
  /** The same product, tiled for n ≫ 1 (prefill chunks). */
  matmul: { prepare(a: MatArgs): Dispatch };
  rope: { prepare(a: { step: GPUBuffer; x: GPUBuffer; invFreq: GPUBuffer; heads: number; headSize: number; style: RopeStyle }): Dispatch };
  /** rope with row t at positions[t] (u32 [numTokens]) instead of startPos + t. */
  ropeRows: { prepare(a: { step: GPUBuffer; x: GPUBuffer; invFreq: GPUBuffer; positions: GPUBuffer; heads: number; headSize: number; style: RopeStyle }): Dispatch };
  /** gate = silu(gate) * up over [n, width], in place. */
  swiglu: { prepare(a: { step: GPUBuffer; gate: GPUBuffer; up: GPUBuffer; width: number }): Dispatch };
  /** y += x over [n, width]. */
  add: { prepare(a: { step: GPUBuffer; x: GPUBuffer; y: GPUBuffer; width: number }): Dispatch };
  /** out[row] = argmax of logits[row] (lowest index on ties); encode(pass, rows). */
  argmax: { prepare(a: { logits: GPUBuffer; out: GPUBuffer; vocab: number }): Dispatch };
  /** Temperature (> 0) + top-p from the Step's temperature / topP / r; encode(pass, rows). */
  sample: { prepare(a: { step: GPUBuffer; logits: GPUBuffer; out: GPUBuffer; vocab: number }): Dispatch };
  /** The same per row: rowParams u32 [rows, 4] = (temperature, topP, r as f32 bits, 0); rows at
   *  temperature 0 keep what out held (an argmax before it); encode(pass, rows). */
  sampleRows: { prepare(a: { logits: GPUBuffer; out: GPUBuffer; rowParams: GPUBuffer; vocab: number }): Dispatch };
  /** Whether matvec runs the subgroup variant. */
  readonly subgroups: boolean;
  /** Whether matmul (prefill chunks, row lengths % 8 = 0) runs matmul_subgroup_matrix.wgsl. */
  readonly subgroupMatrix: boolean;
  /** Destroys the Args uniforms of every prepared dispatch. */
  destroy(): void;
}

/** The subgroup grid of matmul_subgroup_matrix.wgsl (its consts SG_T, SG_R): a workgroup of
 *  32*SG_T*SG_R lanes computes a (64*SG_T tokens) × (32*SG_R rows) tile. */
export const SUBGROUP_MATRIX_GRID = { SG_T: 2, SG_R: 4 } as const;
export const SUBGROUP_MATRIX_FEATURE = "chromium-experimental-subgroup-matrix";

/** What the subgroup-matrix choice looks at: the device's features and its adapter's info. */
export interface SubgroupMatrixProbe {
  features: { has(f: string): boolean };
  info?: { subgroupMinSize?: number; subgroupMaxSize?: number;
    subgroupMatrixConfigs?: Iterable<{ M: number; N: number; K: number; componentType: string; resultComponentType: string }> };
}

/**
 * Whether the prefill matmul can run on matrix units (matmul_subgroup_matrix.wgsl): the device has
 * chromium-experimental-subgroup-matrix, shader-f16 and subgroups, its adapter lists an
 * f16 × f16 → f32 config of M = N = K = 16, and its subgroups are exactly 32 lanes (the kernel's
 * subgroup grid assumes it). Pure: unit-tested without a device.
 */
export function subgroupMatrixUsable(p: SubgroupMatrixProbe): boolean {
  if (![SUBGROUP_MATRIX_FEATURE, "shader-f16", "subgroups"].every((f) => p.features.has(f))) return false;
  if (p.info?.subgroupMinSize !== 32 || p.info?.subgroupMaxSize !== 32) return false;
  for (const c of p.info.subgroupMatrixConfigs ?? []) {
    if (c.M === 16 && c.N === 16 && c.K === 16 && c.componentType === "f16" && c.resultComponentType === "f32") return true;
  }
  return false;
}

/** Adapter info requestGpuDevice saw, per device: for runtimes whose GPUDevice has no adapterInfo
 *  or one without subgroupMatrixConfigs. Exported for sdk/device.ts. */
const adapterInfos = new WeakMap<GPUDevice, SubgroupMatrixProbe["info"]>();
export function rememberAdapterInfo(device: GPUDevice, info: GPUAdapterInfo | undefined): void {
  // GPUAdapterInfo keeps its fields as prototype getters: read them, the object may not outlive the adapter.
  if (!info) return;
  const i = info as unknown as NonNullable<SubgroupMatrixProbe["info"]>;
  adapterInfos.set(device, {
    subgroupMinSize: i.subgroupMinSize, subgroupMaxSize: i.subgroupMaxSize,
    subgroupMatrixConfigs: [...(i.subgroupMatrixConfigs ?? [])].map((c) =>
      ({ M: c.M, N: c.N, K: c.K, componentType: c.componentType, resultComponentType: c.resultComponentType })),
  });
}

/** The device's adapter info: GPUDevice.adapterInfo where it lists matrix configs, else what
 *  requestGpuDevice saw (Dawn's GPUDevice.adapterInfo lists none, seen on the H200 2026-12-02). */
const deviceInfo = (device: GPUDevice) => {
  const own = (device as { adapterInfo?: SubgroupMatrixProbe["info"] }).adapterInfo;
  const hasConfigs = (i: SubgroupMatrixProbe["info"]) => [...(i?.subgroupMatrixConfigs ?? [])].length > 0;
  if (hasConfigs(own)) return own;
  const seen = adapterInfos.get(device);
  return hasConfigs(seen) ? seen : own;
};

/** subgroupMatrixUsable for a device (its features, and its adapter's info as deviceInfo finds it). */
export function deviceHasSubgroupMatrix(device: GPUDevice): boolean {
  return subgroupMatrixUsable({ features: device.features as unknown as { has(f: string): boolean }, info: deviceInfo(device) });
}

/** 1-D workgroup count → a 2-D grid (x ≤ the per-dimension limit). */
function grid2(groups: number, max: number): [number, number] {
  const x = Math.min(groups, max);
  return [x, Math.ceil(groups / x)];
}

/**
 * Builds the model kernels' pipelines once.
 * @param opts.subgroups - false: the workgroup-reduction matvec even where the adapter has subgroups.
 * @param opts.dtypes - the weight dtypes to build for (default all three; an engine builds its own).
 * @param opts.inDims - the matvec row lengths to build for (default any: every workgroup size).
 * @param opts.subgroupMatrix - false: matmul (prefill chunks) stays on the f32 tiled kernel even where
 *   {@link subgroupMatrixUsable} holds; by default it runs matmul_subgroup_matrix.wgsl there (f16
 *   products, f32 accumulation) for row lengths % 8 = 0. matvec (decode) is never affected.
 * @param opts.matmulTokenRuns - 1 or 2: every tiled matmul dispatch with that TOKEN_RUNS (tests and
 *   benches); by default chosen per dispatch ({@link MATMUL_TWO_RUNS_MIN_WORKGROUPS}).
 */
export async function createModelKernels(device: GPUDevice, opts: { subgroups?: boolean; subgroupMatrix?: boolean; dtypes?: readonly WeightDtype[]; inDims?: readonly number[];
  matmulTokenRuns?: 1 | 2 } = {}): Promise<ModelKernels> {
  if (opts.matmulTokenRuns !== undefined && opts.matmulTokenRuns !== 1 && opts.matmulTokenRuns !== 2) {
    throw new InvalidArgumentError("matmulTokenRuns", opts.matmulTokenRuns, "1 or 2");
  }
  const subgroups = (opts.subgroups ?? true) && device.features.has("subgroups" as GPUFeatureName);
  const subgroupMatrix = (opts.subgroupMatrix ?? true) && deviceHasSubgroupMatrix(device);
  const maxDim = device.limits.maxComputeWorkgroupsPerDimension;
  // buildKernel compiles each (file, dtype, constants) once per device; this only names the spec.
  const kernel = (name: ModelKernelName, dtype: WeightDtype, constants: Record<string, number>) => {
    const files = MODEL_KERNEL_FILES[name](dtype);
    return buildKernel(device, { file: `model/${files.find((f) => !f.startsWith("common/"))} (${dtype})`, sources: modelSourcesOf(files), io: MODEL_KERNEL_IO[name], constants });
  };
  const dtypes = opts.dtypes ?? ["f32", "f16", "bf16"];
  const mv = subgroups ? "matvecSubgroup" : "matvec";
  const mvGlu = subgroups ? "matvecSwigluSubgroup" : "matvecSwiglu";
  const wgs = opts.inDims ? [...new Set(opts.inDims.filter((d) => d % 8 === 0).map((d) => matvecWg(d / 8)))] : MATVEC_WGS;
  const pipes: Record<string, BuiltKernel> = {};
  await Promise.all([
    // matmul's variant number is its TOKEN_RUNS (1, 2), the matvecs' their workgroup size.
    ...dtypes.flatMap((d) => [["embed", d, 0], ["rmsNorm", d, 0], ["matmul", d, 1], ["matmul", d, 2], ...wgs.flatMap((wg) => [[mv, d, wg], [mvGlu, d, wg]] as const)] as const),
    ...(["rope", "ropeRows", "swiglu", "add", "argmax", "sampleTopP", "sampleRows", "matmulReduce"] as const).map((n) => [n, "f32", 0] as const),
  ].map(async ([n, d, wg]) => { pipes[wg ? `${n}/${d}/${wg}` : `${n}/${d}`] = await kernel(n, d, !wg ? {} : n === "matmul" ? { TOKEN_RUNS: wg } : { WG: wg }); }));
  if (subgroupMatrix) {
    await Promise.all(dtypes.map(async (d) => { pipes[`matmulSubgroupMatrix/${d}`] = await kernel("matmulSubgroupMatrix", d, {}); }));
  }
  const owned: GPUBuffer[] = [];
  const dummy = device.createBuffer({ label: "model dummy bias", size: 16, usage: GPUBufferUsage.STORAGE });
  // Unused writable bindings (y2, y3 without a split) each need their own buffer: writable bindings may not alias.
  const dummyY2 = device.createBuffer({ label: "model dummy y2", size: 16, usage: GPUBufferUsage.STORAGE });
  const dummyY3 = device.createBuffer({ label: "model dummy y3", size: 16, usage: GPUBufferUsage.STORAGE });
  const dummyPart = device.createBuffer({ label: "model dummy part", size: 16, usage: GPUBufferUsage.STORAGE });
  owned.push(dummy, dummyY2, dummyY3, dummyPart);
  const argsBuffer = (name: ModelKernelName, fields: Record<string, number>) => {
    const words = packModelArgs(MODEL_KERNEL_IO[name], fields);
    const b = device.createBuffer({ label: `model ${name} args`, size: words.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(b, 0, words);
    owned.push(b);
    return b;
  };
  const group = (k: BuiltKernel, buffers: Record<string, GPUBuffer>) => bindGroup(device, k, buffers);
  const pipe = (name: ModelKernelName, dtype: WeightDtype = "f32", wg = 0) => {
    const k = pipes[wg ? `${name}/${dtype}/${wg}` : `${name}/${dtype}`];
    if (!k) throw new InvalidArgumentError(`${name} pipeline`, `${dtype}${wg ? `, WG ${wg}` : ""}`, `one built by createModelKernels (dtypes ${dtypes.join(", ")}; opts.inDims)`);
    return k;
  };

  const matDispatch = (name: "matvec" | "matmul", a: MatArgs): Dispatch => {
    if (a.weight.cols !== a.inDim) throw new InvalidArgumentError(`${name}.weight.cols`, a.weight.cols, `must equal inDim ${a.inDim}`);
    if (a.weight.rows !== a.outDim) throw new InvalidArgumentError(`${name}.weight.rows`, a.weight.rows, `must equal outDim ${a.outDim}`);
    // matvec reads 8-element chunks as vec4<u32>: a row must be whole chunks; else the tiled kernel.
    const vec = name === "matvec" && a.inDim % 8 === 0;
    if ((a.norm || a.split) && !vec) throw new InvalidArgumentError(`${name}.${a.norm ? "norm" : "split"}`, `inDim ${a.inDim}`, "matvec with inDim % 8 == 0");
    if (a.split && a.accumulate) throw new InvalidArgumentError(`${name}.split`, "accumulate", "no accumulate with a split output");
    if (a.split && !(a.split.split1 > 0 && a.split.split1 <= a.split.split2 && a.split.split2 <= a.outDim)) {
      throw new InvalidArgumentError(`${name}.split`, `${a.split.split1}, ${a.split.split2}`, `0 < split1 ≤ split2 ≤ outDim ${a.outDim}`);
    }
    // Prefill chunks on matrix units where the device has them (and the caller did not opt out).
    const smm = name === "matmul" && subgroupMatrix && a.inDim % 8 === 0 && !a.splitK;
    if (a.splitK && name !== "matmul") throw new InvalidArgumentError(`${name}.splitK`, "set", "matmul only");
    const kname = vec ? mv : smm ? "matmulSubgroupMatrix" : "matmul";
    const k = pipe(kname, a.weight.dtype, vec ? matvecWg(a.inDim / 8) : smm ? 0 : 2);
    const k1 = !vec && !smm ? pipe(kname, a.weight.dtype, 1) : null; // the tiled matmul's one-run tiles
    if (a.rope && (!a.split || a.rope.headSize % 2 || a.split.split1 % a.rope.headSize || (a.split.split2 - a.split.split1) % a.rope.headSize || a.weight.parts.length !== 1)) {
      throw new InvalidArgumentError(`${name}.rope`, a.rope.headSize, "a split output of whole heads of even size, one weight part");
    }
    const flags = (a.bias ? 1 : 0) | (a.accumulate ? 2 : 0) | (a.norm ? 4 : 0) | (a.split ? 8 : 0) | (a.rope ? 16 : 0);
    const tileT = smm ? 64 * SUBGROUP_MATRIX_GRID.SG_T : MATMUL_TILE, tileR = smm ? 32 * SUBGROUP_MATRIX_GRID.SG_R : MATMUL_TILE;
    const parts = a.weight.parts.map((p) => {
      if (vec && p.bufferRow) throw new InvalidArgumentError(`${name}.weight.parts.bufferRow`, p.bufferRow, "0 for matvec (views into a buffer are matmul's)");
      const args = vec
        ? argsBuffer(kname, { inDim: a.inDim, outDim: a.outDim, rowStart: p.rowStart, rowCount: p.rowCount, flags,
          epsBits: a.norm ? f32Bits(a.norm.eps) : 0, split1: a.split?.split1 ?? 0, split2: a.split?.split2 ?? 0, headSize: a.rope?.headSize ?? 0 })
        : smm ? argsBuffer(kname, { inDim: a.inDim, outDim: a.outDim, rowStart: p.rowStart, rowCount: p.rowCount, flags, wRow0: p.bufferRow ?? 0 })
        : argsBuffer(kname, { inDim: a.inDim, outDim: a.outDim, rowStart: p.rowStart, rowCount: p.rowCount, flags, wRow0: p.bufferRow ?? 0, kSplit: 0 });
      const g = group(k, { x: a.x, W: p.buffer, bias: a.bias ?? dummy, y: a.y, nw: a.norm?.weight ?? dummy, y2: a.split?.y2 ?? dummyY2, y3: a.split?.y3 ?? dummyY3,
        invFreq: a.rope?.invFreq ?? dummy, part: dummyPart, args, step: a.step });
      const g1 = k1 ? group(k1, { x: a.x, W: p.buffer, bias: a.bias ?? dummy, y: a.y, part: dummyPart, args, step: a.step }) : null;
      const [gx, gy] = grid2(Math.ceil(p.rowCount / MATVEC_ROWS), maxDim);
      // Split-K: the partial pass (bias and accumulate left to the reduce) and the reduce.
      const sk = a.splitK ? matmulSplits(p.rowCount, a.inDim) : { splits: 1, kSplit: 0 };
      let split: { g: GPUBindGroup; g1: GPUBindGroup; reduce: GPUBindGroup; splits: number } | null = null;
      if (a.splitK && sk.splits > 1) {
        const need = 4 * sk.splits * a.splitK.maxTokens * p.rowCount;
        if (a.splitK.scratch.size < need) throw new InvalidArgumentError("matmul.splitK.scratch.size", a.splitK.scratch.size, `≥ ${need} bytes (${sk.splits} splits × ${a.splitK.maxTokens} tokens × ${p.rowCount} rows × 4)`);
        const pargs = argsBuffer("matmul", { inDim: a.inDim, outDim: a.outDim, rowStart: p.rowStart, rowCount: p.rowCount, flags: 0, wRow0: p.bufferRow ?? 0, kSplit: sk.kSplit });
        const rargs = argsBuffer("matmulReduce", { outDim: a.outDim, rowStart: p.rowStart, rowCount: p.rowCount, flags, numSplits: sk.splits });
        const pb = { x: a.x, W: p.buffer, bias: dummy, y: dummyY2, part: a.splitK.scratch, args: pargs, step: a.step };
        split = { g: group(k, pb), g1: group(k1!, pb), reduce: group(pipe("matmulReduce"), { part: a.splitK.scratch, bias: a.bias ?? dummy, y: a.y, args: rargs, step: a.step }), splits: sk.splits };
      }
      return { g, g1, rowCount: p.rowCount, gx, gy, split };
    });
    return {
      encode(pass, n) {
        if (k1) {
          for (const p of parts) {
            const gx = Math.ceil(p.rowCount / MATMUL_TILE), z = p.split?.splits ?? 1;
            // Up to 64 tokens one run holds them all: two would only pad (a decode batch's classifier).
            const two = opts.matmulTokenRuns ? opts.matmulTokenRuns === 2
              : n > MATMUL_TILE / 2 && gx * Math.ceil(n / MATMUL_TILE) * z >= MATMUL_TWO_RUNS_MIN_WORKGROUPS;
            pass.setPipeline((two ? k : k1).pipeline);
            pass.setBindGroup(0, p.split ? (two ? p.split.g : p.split.g1) : two ? p.g : p.g1!);
            pass.dispatchWorkgroups(gx, Math.ceil(n / (two ? MATMUL_TILE : MATMUL_TILE / 2)), z);
            if (p.split) {
              const [rx, ry] = grid2(Math.ceil((n * p.rowCount) / 256), maxDim);
              pass.setPipeline(pipe("matmulReduce").pipeline);
              pass.setBindGroup(0, p.split.reduce);
              pass.dispatchWorkgroups(rx, ry);
            }
          }
          return;
        }
        pass.setPipeline(k.pipeline);
        for (const p of parts) {
          pass.setBindGroup(0, p.g);
          if (vec) pass.dispatchWorkgroups(p.gx, p.gy, n);
          else pass.dispatchWorkgroups(Math.ceil(p.rowCount / tileR), Math.ceil(n / tileT));
        }
      },
    };
  };
  /** A single-group dispatch whose grid is a function of numTokens. */
  const simple = (k: BuiltKernel, g: GPUBindGroup, gx: (n: number) => number, gy: (n: number) => number): Dispatch => ({
    encode(pass, n) {
      const x = gx(n), y = gy(n);
      if (x <= 0 || y <= 0) return;
      pass.setPipeline(k.pipeline);
      pass.setBindGroup(0, g);
      pass.dispatchWorkgroups(x, y);
    },
  });
  const linear = (width: number, wg: number) => {
    const gx = (n: number) => Math.min(Math.ceil((n * width) / wg), maxDim);
    return [gx, (n: number) => Math.ceil(Math.ceil((n * width) / wg) / Math.max(1, gx(n)))] as const;
  };

  return {
    subgroups,
    subgroupMatrix,
    embed: {
      prepare(a) {
        if (a.table.cols !== a.dim) throw new InvalidArgumentError("embed.table.cols", a.table.cols, `must equal ${a.dim}`);
        const k = pipe("embed", a.table.dtype);
        const groups = a.table.parts.map((p) => group(k, { ids: a.ids, W: p.buffer, outv: a.out, step: a.step,
          args: argsBuffer("embed", { dim: a.dim, rowStart: p.rowStart, rowCount: p.rowCount }) }));
        const gx = Math.ceil(a.dim / 64);
        return {
          encode(pass, n) {
            pass.setPipeline(k.pipeline);
            for (const g of groups) { pass.setBindGroup(0, g); pass.dispatchWorkgroups(gx, n); }
          },
        };
      },
    },
    rmsNorm: {
      prepare(a) {
        if (a.weight.rows * a.weight.cols !== a.dim) throw new InvalidArgumentError("rmsNorm.weight size", a.weight.rows * a.weight.cols, `must equal dim ${a.dim}`);
        if (a.weight.parts.length !== 1) throw new InvalidArgumentError("rmsNorm.weight.parts", a.weight.parts.length, "must be 1");
        const k = pipe("rmsNorm", a.weight.dtype);
        const g = group(k, { x: a.x, W: a.weight.parts[0]!.buffer, outv: a.out, step: a.step, args: argsBuffer("rmsNorm", { dim: a.dim, epsBits: f32Bits(a.eps) }) });
        return simple(k, g, (n) => n, () => 1);
      },
    },
    matvec: { prepare: (a) => matDispatch("matvec", a) },
    matmul: { prepare: (a) => matDispatch("matmul", a) },
    matvecSwiglu: {
      prepare(a) {
        for (const [field, w] of [["gate", a.gate], ["up", a.up]] as const) {
          if (w.cols !== a.inDim) throw new InvalidArgumentError(`matvecSwiglu.${field}.cols`, w.cols, `must equal inDim ${a.inDim}`);
          if (w.rows !== a.outDim) throw new InvalidArgumentError(`matvecSwiglu.${field}.rows`, w.rows, `must equal outDim ${a.outDim}`);
        }
        if (a.gate.dtype !== a.up.dtype) throw new InvalidArgumentError("matvecSwiglu.up.dtype", a.up.dtype, `must equal gate's ${a.gate.dtype}`);
        if (a.gate.parts.length !== a.up.parts.length || a.gate.parts.some((p, i) => p.rowCount !== a.up.parts[i]!.rowCount)) {
          throw new InvalidArgumentError("matvecSwiglu.up.parts", a.up.parts.length, "must split as gate's");
        }
        if (a.inDim % 8 !== 0) return null;
        const k = pipe(mvGlu, a.gate.dtype, matvecWg(a.inDim / 8));
        const parts = a.gate.parts.map((p, i) => {
          if (p.bufferRow || a.up.parts[i]!.bufferRow) throw new InvalidArgumentError("matvecSwiglu.parts.bufferRow", p.bufferRow ?? a.up.parts[i]!.bufferRow, "0");
          const args = argsBuffer(mvGlu, { inDim: a.inDim, outDim: a.outDim, rowStart: p.rowStart, rowCount: p.rowCount, flags: a.norm ? 4 : 0, epsBits: a.norm ? f32Bits(a.norm.eps) : 0 });
          const [gx, gy] = grid2(Math.ceil(p.rowCount / MATVEC_ROWS), maxDim);
          return { g: group(k, { x: a.x, W: p.buffer, W2: a.up.parts[i]!.buffer, y: a.y, nw: a.norm?.weight ?? dummy, args, step: a.step }), gx, gy };
        });
        return {
          encode(pass, n) {
            pass.setPipeline(k.pipeline);
            for (const p of parts) { pass.setBindGroup(0, p.g); pass.dispatchWorkgroups(p.gx, p.gy, n); }
          },
        };
      },
    },
    rope: {
      prepare(a) {
        if (a.headSize % 2) throw new InvalidArgumentError("rope.headSize", a.headSize, "must be even");
        const k = pipe("rope");
        const g = group(k, { x: a.x, invFreq: a.invFreq, step: a.step, args: argsBuffer("rope", { heads: a.heads, headSize: a.headSize, style: a.style === "interleaved" ? 0 : 1 }) });
        const gx = Math.ceil((a.heads * a.headSize) / 2 / 64);
        return simple(k, g, () => gx, (n) => n);
      },
    },
    ropeRows: {
      prepare(a) {
        if (a.headSize % 2) throw new InvalidArgumentError("ropeRows.headSize", a.headSize, "must be even");
        const k = pipe("ropeRows");
        const g = group(k, { x: a.x, invFreq: a.invFreq, positions: a.positions, step: a.step, args: argsBuffer("ropeRows", { heads: a.heads, headSize: a.headSize, style: a.style === "interleaved" ? 0 : 1 }) });
        const gx = Math.ceil((a.heads * a.headSize) / 2 / 64);
        return simple(k, g, () => gx, (n) => n);
      },
    },
    swiglu: {
      prepare(a) {
        const k = pipe("swiglu");
        const g = group(k, { gate: a.gate, up: a.up, step: a.step, args: argsBuffer("swiglu", { width: a.width }) });
        const [gx, gy] = linear(a.width, 256);
        return simple(k, g, gx, gy);
      },
    },
    add: {
      prepare(a) {
        const k = pipe("add");
        const g = group(k, { x: a.x, y: a.y, step: a.step, args: argsBuffer("add", { width: a.width }) });
        const [gx, gy] = linear(a.width, 256);
        return simple(k, g, gx, gy);
      },
    },
    argmax: {
      prepare(a) {
        const k = pipe("argmax");
        const g = group(k, { logits: a.logits, outv: a.out, args: argsBuffer("argmax", { vocab: a.vocab }) });
        return simple(k, g, (rows) => rows, () => 1);
      },
    },
    sample: {
      prepare(a) {
        const k = pipe("sampleTopP");
        const g = group(k, { logits: a.logits, outv: a.out, step: a.step, args: argsBuffer("sampleTopP", { vocab: a.vocab }) });
        return simple(k, g, (rows) => rows, () => 1);
      },
    },
    sampleRows: {
      prepare(a) {
        const k = pipe("sampleRows");
        const g = group(k, { logits: a.logits, outv: a.out, rowParams: a.rowParams, args: argsBuffer("sampleRows", { vocab: a.vocab }) });
        return simple(k, g, (rows) => rows, () => 1);
      },
    },
    destroy() {
      for (const b of owned) b.destroy();
      owned.length = 0;
    },
  };
}
