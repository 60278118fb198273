// Subgroup-matrix prefill matmul (shaders/model/matmul_subgroup_matrix.wgsl) on the GPU machine, one
// process: what the adapter offers; correctness of kernels.matmul with the fast path vs straight-loop
// f64 references (awkward sizes in full, the 2048 x 8192 x 2048 shapes sampled); TFLOP/s of the fast
// path vs the tiled f32 matmul.wgsl vs the WGSL FMA probe; then, for each model dir given, the
// engine's 2K-token prefill with the fast path on and off; for each greedy-reference dir given
// after `--ref`, the greedy ids with the fast path on vs reference.json.
// Prints SMMJSON lines. Usage: node bench-dist/smm/smm.mjs [MODEL_DIR...] [--ref DIR...]
//   (bundle: node bench/build-smm.mjs)
import { requestGpuDevice } from "../sdk/device";
import { loadEngine } from "../sdk/engine";
import fmaWgsl from "./probes/fma.wgsl";
import {
  STEP_BYTES, createModelKernels, createStepBuffer, deviceHasSubgroupMatrix, subgroupMatrixUsable, uploadTensor, writeStep, type DeviceTensor, type ModelKernels, type WeightDtype,
} from "../src/gpu/model";
import { MODEL_KERNEL_FILES, MODEL_WGSL, modelSourcesOf } from "../src/gpu/model/sources";
import { MODEL_KERNEL_IO, packModelArgs } from "../src/contract";
import { bindGroup, buildKernel } from "../src/gpu/kernels/build";
import { checkMatmul } from "../test/gpu/model/subgroupMatrixCheck";

// Arguments: --kernels (checks + speed), --ref DIR... (shared models), --engine DIR... (2K prefill).
const argv = process.argv.slice(2);
const listAfter = (flag: string) => {
  const i = argv.indexOf(flag);
  if (i < 0) return [];
  const j = argv.findIndex((a, k) => k > i && a.startsWith("--"));
  return argv.slice(i + 1, j < 0 ? argv.length : j);
};
const KERNELS = argv.includes("--kernels"), refDirs = listAfter("--ref"), modelDirs = listAfter("--engine");
const out = (tag: string, v: unknown) => console.log(`SMMJSON ${tag} ${JSON.stringify(v)}`);
const handle = await requestGpuDevice({ experimentalSubgroupMatrix: true });
const device = handle.device;
device.addEventListener?.("uncapturederror", (e) => console.log("uncaptured:", (e as unknown as { error: { message: string } }).error.message));
const info = (device as unknown as { adapterInfo?: Record<string, unknown> }).adapterInfo ?? {};
const configs = [...((info.subgroupMatrixConfigs as Iterable<Record<string, unknown>>) ?? [])].map((c) =>
  ({ M: c.M, N: c.N, K: c.K, componentType: c.componentType, resultComponentType: c.resultComponentType }));
out("adapter", { name: handle.adapterName, features: handle.features, subgroupMinSize: info.subgroupMinSize, subgroupMaxSize: info.subgroupMaxSize, configs,
  maxWorkgroupStorage: device.limits.maxComputeWorkgroupStorageSize });
out("usableOnDeviceInfo", subgroupMatrixUsable({ features: device.features as unknown as { has(f: string): boolean }, info: info as never }));
out("usable", deviceHasSubgroupMatrix(device));
const T0 = performance.now();
const since = () => Math.round(performance.now() - T0);

const dtypes: WeightDtype[] = ["f32", "f16", "bf16"];
let fast: ModelKernels | undefined, tiled: ModelKernels | undefined;
if (KERNELS) {
  try {
    fast = await createModelKernels(device, { dtypes });
  } catch (e) {
    out("buildError", String((e as Error).message).slice(0, 3000));
    fast = await createModelKernels(device, { dtypes, subgroupMatrix: false }); // the rest still measures the tiled kernel
  }
  tiled = await createModelKernels(device, { dtypes, subgroupMatrix: false });
  out("kernels", { fast: fast.subgroupMatrix, tiled: tiled.subgroupMatrix, ms: since() });
}

// Correctness: awkward sizes in full, big shapes sampled.
const SMALL = !!process.env.SMM_SMALL; // a smoke run on a software adapter: small cases only
if (KERNELS) {
  const cases: [WeightDtype, number, number, number, number, number][] = [];
  for (const d of dtypes) cases.push([d, 77, 576, 896, 1, 0], [d, 130, 904, 200, 2, 0], [d, 3, 8, 5, 1, 0], [d, 129, 4864, 896, 3, 1024]);
  if (SMALL) cases.splice(0, cases.length, ["f16", 77, 576, 96, 2, 0], ["bf16", 5, 904, 40, 1, 0], ["f32", 3, 8, 5, 1, 0]);
  else cases.push(["bf16", 2048, 2048, 8192, 1, 2048], ["bf16", 2048, 8192, 2048, 1, 2048], ["f32", 2048, 2048, 2048, 1, 2048]);
  let worst = { exact: 0, f16: 0 };
  for (const [dtype, n, inDim, outDim, parts, sample] of cases) {
    const seed = (Math.random() * 2 ** 32) >>> 0;
    const row: Record<string, unknown> = { dtype, n, inDim, outDim, parts, sample, seed };
    const t0 = performance.now();
    try {
      const e = await checkMatmul(device, fast!, { dtype, n, inDim, outDim, parts, seed, sample });
      Object.assign(row, e);
      worst = { exact: Math.max(worst.exact, e.exact1, e.exact2), f16: Math.max(worst.f16, e.f16_1, e.f16_2) };
      if (n === 77) { const t = await checkMatmul(device, tiled!, { dtype, n, inDim, outDim, parts, seed, sample }); row.tiledExact = Math.max(t.exact1, t.exact2); }
    } catch (err) { row.error = String((err as Error).message).slice(0, 500); }
    row.ms = Math.round(performance.now() - t0);
    out("check", row);
  }
  out("worst", { ...worst, ms: since() });
}

// Speed: median wall of one submit of `reps` dispatches after warm-up.
async function wall(record: (enc: GPUCommandEncoder) => void, reps: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < reps + 2; i++) {
    const enc = device.createCommandEncoder();
    record(enc);
    const t0 = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    if (i >= 2) times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1]!;
}
async function fmaTflops(): Promise<number> {
  const module = device.createShaderModule({ code: fmaWgsl });
  const pl = await device.createComputePipelineAsync({ layout: "auto", compute: { module, entryPoint: "main" } });
  const u = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const iters = 4096, wgs = 16384;
  device.queue.writeBuffer(u, 0, new Uint32Array([iters, 0, 0, 0]));
  const sink = device.createBuffer({ size: 4096, usage: GPUBufferUsage.STORAGE });
  const g = device.createBindGroup({ layout: pl.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: u } }, { binding: 1, resource: { buffer: sink } }] });
  const ms = await wall((enc) => { const p = enc.beginComputePass(); p.setPipeline(pl); p.setBindGroup(0, g); p.dispatchWorkgroups(wgs); p.end(); }, 5);
  return (2 * 4 * 8 * iters * 256 * wgs) / (ms * 1e9);
}
if (KERNELS && !SMALL) out("fma", { tflops: await fmaTflops() });
if (KERNELS && !SMALL) {
  const st = createStepBuffer(device), words = new Uint32Array(STEP_BYTES / 4);
  const buf = (floats: number) => device.createBuffer({ size: 4 * floats, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  for (const [dtype, N, rows, cols] of [["bf16", 2048, 8192, 2048], ["bf16", 2048, 2048, 8192], ["bf16", 2048, 2048, 2048], ["bf16", 512, 8192, 2048],
    ["f16", 2048, 8192, 2048], ["f32", 2048, 8192, 2048]] as [WeightDtype, number, number, number][]) {
    const eb = dtype === "f32" ? 4 : 2;
    const bytes = new Uint8Array(rows * cols * eb);
    // Small random-ish weights (0x3c00-ish halves: ~1.0 in f16; ~1.9 in bf16) so nothing is denormal.
    const u16 = new Uint16Array(bytes.buffer);
    for (let i = 0; i < u16.length; i++) u16[i] = dtype === "f32" ? (i & 1 ? 0x3f80 : 0) : dtype === "f16" ? 0x3000 + (i % 97) : 0x3e00 + (i % 97);
    const W = uploadTensor(device, { dtype, shape: [rows, cols], bytes });
    const x = buf(N * cols), y = buf(N * rows);
    writeStep(device.queue, st, N, 0, 0, 1, 0, words);
    const row: Record<string, unknown> = { dtype, N, rows, cols };
    for (const [name, k] of [["fast", fast!], ["tiled", tiled!]] as const) {
      const mm = k.matmul.prepare({ step: st, x, weight: W, y, inDim: cols, outDim: rows });
      const reps = 5;
      const ms = await wall((enc) => { const p = enc.beginComputePass(); for (let i = 0; i < reps; i++) mm.encode(p, N); p.end(); }, 5) / reps;
      row[`${name}Ms`] = ms;
      row[`${name}Tflops`] = (2 * N * rows * cols) / (ms * 1e9);
    }
    row.at = since();
    out("speed", row);
    W.parts.forEach((p) => p.buffer.destroy()); x.destroy(); y.destroy();
  }
}

// Each shared model with the fast path on and off: the reference greedy ids continued from a
// 16-token prefix of themselves (so the prefix goes through a prefill chunk) and from BOS, and
// the mean NLL of the 512-token window (one all-logits prefill) vs reference.json.
const fsName = "node:fs";
const fs = (await import(/* @vite-ignore */ fsName)) as { readFileSync(p: string, e: string): string; existsSync(p: string): boolean };
for (const dir of refDirs) {
  const row: Record<string, unknown> = { model: dir };
  try {
    const ref = JSON.parse(fs.readFileSync(`${dir}/reference.json`, "utf8"));
    const g = ref.greedy_from_bos as { prompt_ids: number[]; steps: number; ids: number[] };
    const llama2c = fs.existsSync(`${dir}/stories260K.bin`) ? { checkpoint: "stories260K.bin", tokenizer: "tok512.bin" } : undefined;
    const text = fs.readFileSync(`${dir}/../val4000.txt`, "utf8");
    for (const on of [true, false]) {
      const engine = await loadEngine(dir, { backend: "gpu", experimentalSubgroupMatrix: on, policy: { name: "full" }, maxContextTokens: 600, llama2c });
      const r: Record<string, unknown> = {};
      const ids = engine.tokenizer.encode(text).slice(0, 512);
      r.first16Same = JSON.stringify(ids.slice(0, 16)) === JSON.stringify(ref.tinystories_val_window.first_16_ids);
      const s = engine.openSequence();
      const logits = await s.prefill(ids, { allLogits: true });
      s.close();
      const V = engine.config.vocabSize;
      let nll = 0;
      for (let t = 0; t < 511; t++) {
        const rowL = logits.subarray(t * V, (t + 1) * V);
        let mx = -Infinity;
        for (const v of rowL) mx = Math.max(mx, v);
        let z = 0;
        for (const v of rowL) z += Math.exp(v - mx);
        nll += Math.log(z) + mx - rowL[ids[t + 1]!]!;
      }
      r.nll = nll / 511;
      r.nllRef = ref.tinystories_val_window.mean_nll_nats_over_511_predictions;
      for (const pre of [g.prompt_ids.length, 16]) {
        const got: number[] = [];
        for await (const id of engine.generate(g.ids.slice(0, pre), { maxTokens: g.ids.length - pre, stopIds: [] })) got.push(id);
        const want = g.ids.slice(pre);
        r[`firstDiffFrom${pre}`] = want.findIndex((v, i) => got[i] !== v);
      }
      row[on ? "fast" : "tiled"] = r;
      engine.destroy();
    }
  } catch (err) { row.error = String((err as Error).stack ?? err).slice(0, 800); }
  row.at = since();
  out("greedy", row);
}
// Variants (speed work): each WGSL file of --variants DIR (the kernel's file rewritten; same sources
// after it) and the kernel itself at other subgroup grids: correctness on one awkward case, then
// TFLOP/s at the 1B shapes (bf16).
const variantDir = listAfter("--variants")[0];
if (variantDir || argv.includes("--grids")) {
  const fsv = (await import(/* @vite-ignore */ "node:" + "fs")) as { readdirSync(p: string): string[]; readFileSync(p: string, e: string): string };
  const own = MODEL_WGSL["matmul_subgroup_matrix.wgsl"]!;
  const variants: [string, string, { SG_T: number; SG_R: number }][] = [];
  const withGrid = (text: string, g: { SG_T: number; SG_R: number }) =>
    text.replace(/const SG_T: u32 = \d+u;/, `const SG_T: u32 = ${g.SG_T}u;`).replace(/const SG_R: u32 = \d+u;/, `const SG_R: u32 = ${g.SG_R}u;`);
  if (argv.includes("--grids")) for (const g of [{ SG_T: 1, SG_R: 2 }, { SG_T: 2, SG_R: 2 }, { SG_T: 1, SG_R: 4 }, { SG_T: 4, SG_R: 2 }, { SG_T: 4, SG_R: 4 }]) variants.push([`own ${g.SG_T}x${g.SG_R}`, withGrid(own, g), g]);
  if (variantDir) for (const f of fsv.readdirSync(variantDir).filter((f) => f.endsWith(".wgsl")).sort()) {
    const text = fsv.readFileSync(`${variantDir}/${f}`, "utf8");
    for (const g of [{ SG_T: 2, SG_R: 4 }, { SG_T: 4, SG_R: 2 }, { SG_T: 2, SG_R: 2 }]) variants.push([`${f} ${g.SG_T}x${g.SG_R}`, withGrid(text, g), g]);
  }
  const st = createStepBuffer(device), words = new Uint32Array(STEP_BYTES / 4);
  for (const [name, text, grid] of variants) {
    const row: Record<string, unknown> = { variant: name };
    try {
      const k = await variantKernel(text, grid);
      const e = await checkMatmul(device, k, { dtype: "bf16", n: 130, inDim: 904, outDim: 200, parts: 2, seed: 5, sample: 0 });
      row.f16err = Math.max(e.f16_1, e.f16_2);
      for (const [N, rows, cols] of [[2048, 8192, 2048], [2048, 2048, 8192], [512, 2048, 2048]]) {
        const W = uploadTensor(device, { dtype: "bf16", shape: [rows, cols], bytes: new Uint8Array(rows * cols * 2).fill(0x3e) });
        const x = device.createBuffer({ size: 4 * N * cols, usage: GPUBufferUsage.STORAGE }), y = device.createBuffer({ size: 4 * N * rows, usage: GPUBufferUsage.STORAGE });
        writeStep(device.queue, st, N, 0, 0, 1, 0, words);
        const mm = k.matmul.prepare({ step: st, x, weight: W, y, inDim: cols, outDim: rows });
        const ms = await wall((enc) => { const p = enc.beginComputePass(); for (let i = 0; i < 5; i++) mm.encode(p, N); p.end(); }, 5) / 5;
        row[`tflops_${N}x${rows}x${cols}`] = (2 * N * rows * cols) / (ms * 1e9);
        W.parts.forEach((p) => p.buffer.destroy()); x.destroy(); y.destroy();
      }
    } catch (err) { row.error = String((err as Error).message).slice(0, 1500); }
    row.at = since();
    out("variant", row);
  }
}

/** kernels.matmul over a variant of matmul_subgroup_matrix.wgsl (bf16 weights), as createModelKernels wires it. */
async function variantKernel(text: string, grid: { SG_T: number; SG_R: number }): Promise<ModelKernels> {
  return variantMatmul("matmulSubgroupMatrix", text, 64 * grid.SG_T, 32 * grid.SG_R);
}
/** kernels.matmul over a variant file of a matmul kernel (bf16 weights): one part, a tileT x tileR grid. */
async function variantMatmul(name: "matmul" | "matmulSubgroupMatrix", text: string, tileT: number, tileR: number): Promise<ModelKernels> {
  const files = MODEL_KERNEL_FILES[name]("bf16");
  const sources = name === "matmul" ? [...modelSourcesOf(files.slice(0, -1)), text] : [text, ...modelSourcesOf(files.slice(1))];
  const k = await buildKernel(device, { file: "variant", sources, io: MODEL_KERNEL_IO[name], constants: {} });
  const dummy = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
  const dummyPart = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
  const matmul = {
    prepare(a: { step: GPUBuffer; x: GPUBuffer; weight: DeviceTensor; y: GPUBuffer; inDim: number; outDim: number; bias?: GPUBuffer; accumulate?: boolean }) {
      const parts = a.weight.parts.map((p) => {
        const words = packModelArgs(MODEL_KERNEL_IO[name], { inDim: a.inDim, outDim: a.outDim, rowStart: p.rowStart, rowCount: p.rowCount,
          flags: (a.bias ? 1 : 0) | (a.accumulate ? 2 : 0), wRow0: p.bufferRow ?? 0, ...(name === "matmul" ? { kSplit: 0 } : {}) });
        const args = device.createBuffer({ size: words.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
        device.queue.writeBuffer(args, 0, words);
        return { g: bindGroup(device, k, { x: a.x, W: p.buffer, bias: a.bias ?? dummy, y: a.y, part: dummyPart, args, step: a.step }), rows: p.rowCount };
      });
      return {
        encode(pass: GPUComputePassEncoder, n: number) {
          pass.setPipeline(k.pipeline);
          for (const p of parts) { pass.setBindGroup(0, p.g); pass.dispatchWorkgroups(Math.ceil(p.rows / tileR), Math.ceil(n / tileT)); }
        },
      };
    },
  };
  return { matmul } as unknown as ModelKernels;
}

// Tiled f32 matmul variants: each WGSL file of --tiled DIR replaces matmul.wgsl (its tile from
// `const TILE_T` / `TILE_R`, else `const TILE`); correctness on awkward cases against f64, then
// TFLOP/s at the 1B shapes (bf16) for 2048- and 512-token chunks, and the 896 / 576 widths.
const tiledDir = listAfter("--tiled")[0];
if (tiledDir) {
  const fsv = (await import(/* @vite-ignore */ "node:" + "fs")) as { readdirSync(p: string): string[]; readFileSync(p: string, e: string): string };
  const st = createStepBuffer(device), words = new Uint32Array(STEP_BYTES / 4);
  const constOf = (text: string, c: string) => { const m = new RegExp(`const ${c}: u32 = (\\d+)u;`).exec(text); return m ? Number(m[1]) : 0; };
  for (const f of fsv.readdirSync(tiledDir).filter((f) => f.endsWith(".wgsl")).sort()) {
    const text = fsv.readFileSync(`${tiledDir}/${f}`, "utf8");
    const tileT = constOf(text, "TILE_T") || constOf(text, "TILE"), tileR = constOf(text, "TILE_R") || constOf(text, "TILE");
    const row: Record<string, unknown> = { tiled: f, tileT, tileR };
    try {
      const k = await variantMatmul("matmul", text, tileT, tileR);
      let err = 0;
      for (const [n, inDim, outDim, viewRow0] of [[133, 515, 261, undefined], [130, 904, 200, 7], [3, 8, 5, undefined]] as const) {
        const e = await checkMatmul(device, k, { dtype: "bf16", n, inDim, outDim, parts: 1, seed: 11, sample: 0, viewRow0 });
        err = Math.max(err, e.exact1, e.exact2);
      }
      row.exactErr = err;
      for (const [N, rows, cols] of [[2048, 8192, 2048], [2048, 2048, 8192], [2048, 2048, 2048], [512, 8192, 2048], [512, 2048, 8192], [512, 2048, 2048], [512, 4864, 896], [512, 576, 576]]) {
        const W = uploadTensor(device, { dtype: "bf16", shape: [rows, cols], bytes: new Uint8Array(rows * cols * 2).fill(0x3e) });
        const x = device.createBuffer({ size: 4 * N * cols, usage: GPUBufferUsage.STORAGE }), y = device.createBuffer({ size: 4 * N * rows, usage: GPUBufferUsage.STORAGE });
        writeStep(device.queue, st, N, 0, 0, 1, 0, words);
        const mm = k.matmul.prepare({ step: st, x, weight: W, y, inDim: cols, outDim: rows });
        const ms = await wall((enc) => { const p = enc.beginComputePass(); for (let i = 0; i < 5; i++) mm.encode(p, N); p.end(); }, 5) / 5;
        row[`tflops_${N}x${rows}x${cols}`] = Math.round((2 * N * rows * cols) / (ms * 1e7)) / 100;
        W.parts.forEach((p) => p.buffer.destroy()); x.destroy(); y.destroy();
      }
    } catch (err) { row.error = String((err as Error).message).slice(0, 1500); }
    row.at = since();
    out("tiled", row);
  }
}

// Engine: 2K-token prefill at each model dir with the fast path on, then off (separate devices).
const rand = (n: number, seed: number) => { let s = seed; return Array.from({ length: n }, () => 3 + ((s = (s * 1103515245 + 12345) >>> 0) % 1997)); };
for (const dir of modelDirs) {
  for (const [on, chunk] of [[true, 512], [false, 512], [true, 2048], [false, 2048]] as const) {
    const row: Record<string, unknown> = { model: dir, fastPath: on, chunk };
    try {
      const engine = await loadEngine(dir, { backend: "gpu", experimentalSubgroupMatrix: on, policy: { name: "full" }, maxContextTokens: 2048 + 64, prefillChunkTokens: chunk });
      const c = engine.config;
      for (let rep = 0; rep < 3; rep++) {
        const s = engine.openSequence();
        const t = performance.now();
        await s.prefill(rand(2048, 7 + rep));
        row.prefill2kMs = performance.now() - t;
        s.close();
      }
      row.prefillTokS = 2048 / ((row.prefill2kMs as number) / 1000);
      const dense = c.numLayers * (c.dim * (c.numQHeads + 2 * c.numKvHeads) * c.headSize + c.numQHeads * c.headSize * c.dim + 3 * c.dim * c.hiddenDim);
      row.prefillTflops = (2 * dense * (row.prefillTokS as number)) / 1e12;
      engine.destroy();
    } catch (err) { row.error = String((err as Error).message).slice(0, 500); }
    row.at = since();
    out("engine", row);
  }
}
process.exit(0);
