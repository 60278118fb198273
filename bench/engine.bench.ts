// Engine bench (issue 13), one run on the GPU machine: for each model dir given, our GPU engine's
// decode tok/s at ~1K and ~8K context and prefill tok/s of a 2K prompt, peak host memory, and in
// the same run the bounds: weight bytes ÷ copy-kernel bandwidth (decode) and the WGSL FMA probe
// (prefill). Prints one JSON line per model (ENGINEJSON ...) and one for the bounds.
// Usage: node bench-dist/engine.mjs DIR...   (bundle: node bench/build-engine.mjs)
import { requestGpuDevice } from "../sdk/device";
import { loadEngine } from "../sdk/engine";
import fmaWgsl from "./probes/fma.wgsl";
import { createCopyProbe } from "./probes/copy";
import { STEP_BYTES, createModelKernels, createStepBuffer, uploadTensor, writeStep } from "../src/gpu/model";

const handle = await requestGpuDevice();
const device = handle.device;
console.log(`adapter: ${handle.adapterName}`);

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

async function copyGBs(): Promise<number> {
  const bytes = (SMALL ? 16 : 1024) * 2 ** 20;
  const probe = await createCopyProbe(device, bytes);
  const iters = 10;
  const ms = await wall((enc) => {
    const pass = enc.beginComputePass();
    for (let i = 0; i < iters; i++) probe.encode(pass);
    pass.end();
  }, 5) / iters;
  probe.destroy();
  return (2 * bytes) / (ms * 1e6); // read + written
}

async function fmaTflops(): Promise<number> {
  const module = device.createShaderModule({ code: fmaWgsl });
  const pl = await device.createComputePipelineAsync({ layout: "auto", compute: { module, entryPoint: "main" } });
  const u = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const iters = SMALL ? 64 : 4096;
  device.queue.writeBuffer(u, 0, new Uint32Array([iters, 0, 0, 0]));
  const sink = device.createBuffer({ size: 4096, usage: GPUBufferUsage.STORAGE });
  const g = device.createBindGroup({ layout: pl.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: u } }, { binding: 1, resource: { buffer: sink } }] });
  const wgs = SMALL ? 64 : 16384;
  const ms = await wall((enc) => {
    const pass = enc.beginComputePass();
    pass.setPipeline(pl); pass.setBindGroup(0, g); pass.dispatchWorkgroups(wgs);
    pass.end();
  }, 5);
  return (2 * 4 * 8 * iters * 256 * wgs) / (ms * 1e9);
}

const SMALL = !!process.env.BENCH_SMALL; // a smoke run on a software adapter

// Step profile: host time per decode step from the previous readback to this step's submit
// (reserve, encode, endStep: everything on the CPU) and from submit to the readback resolving
// (GPU execution + map latency). Recorded by wrapping submit and mapAsync during decode.
const prof = { on: false, lastMapped: 0, host: [] as number[], wait: [] as number[], submitAt: 0 };
{
  const q = Object.getPrototypeOf(device.queue) as GPUQueue;
  const submit = q.submit;
  q.submit = function (this: GPUQueue, cbs: Iterable<GPUCommandBuffer>) {
    if (prof.on) { prof.submitAt = performance.now(); if (prof.lastMapped) prof.host.push(prof.submitAt - prof.lastMapped); }
    return submit.call(this, cbs);
  };
  const bp = (globalThis as unknown as { GPUBuffer: { prototype: GPUBuffer } }).GPUBuffer.prototype;
  const mapAsync = bp.mapAsync;
  bp.mapAsync = async function (this: GPUBuffer, ...args: Parameters<GPUBuffer["mapAsync"]>) {
    await mapAsync.apply(this, args);
    if (prof.on) { prof.lastMapped = performance.now(); if (prof.submitAt) prof.wait.push(prof.lastMapped - prof.submitAt); }
  };
}
// GPU time of each decode step's compute pass (one per step), from timestamp queries the bench
// injects into beginComputePass while profiling (where the adapter has timestamp-query).
const TS_SLOTS = 64;
const ts = device.features.has("timestamp-query") ? {
  on: false, next: 0,
  qs: device.createQuerySet({ type: "timestamp", count: 2 * TS_SLOTS }),
  resolve: device.createBuffer({ size: 256 * TS_SLOTS, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }),
  read: device.createBuffer({ size: 256 * TS_SLOTS, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
  slots: new WeakMap<GPUCommandEncoder, number[]>(),
} : null;
if (ts) {
  const ep = (globalThis as unknown as { GPUCommandEncoder: { prototype: GPUCommandEncoder } }).GPUCommandEncoder.prototype;
  const begin = ep.beginComputePass, finish = ep.finish;
  ep.beginComputePass = function (this: GPUCommandEncoder, desc?: GPUComputePassDescriptor) {
    if (ts.on && ts.next < TS_SLOTS && !desc?.timestampWrites) {
      const slot = ts.next++;
      (ts.slots.get(this) ?? (ts.slots.set(this, []), ts.slots.get(this)!)).push(slot);
      desc = { ...desc, timestampWrites: { querySet: ts.qs, beginningOfPassWriteIndex: 2 * slot, endOfPassWriteIndex: 2 * slot + 1 } };
    }
    return begin.call(this, desc);
  };
  ep.finish = function (this: GPUCommandEncoder, desc?: GPUCommandBufferDescriptor) {
    for (const slot of ts.slots.get(this) ?? []) this.resolveQuerySet(ts.qs, 2 * slot, 2, ts.resolve, 256 * slot); // offsets: multiples of 256
    ts.slots.delete(this);
    return finish.call(this, desc);
  };
}
/** Median GPU ms of the passes timed since the last call (then resets). */
async function passGpuMs(): Promise<number> {
  if (!ts || ts.next === 0) return 0;
  const n = ts.next;
  ts.next = 0;
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(ts.resolve, 0, ts.read, 0, 256 * n);
  device.queue.submit([enc.finish()]);
  await ts.read.mapAsync(GPUMapMode.READ);
  const t = new BigUint64Array(ts.read.getMappedRange().slice(0));
  ts.read.unmap();
  const ms: number[] = [];
  for (let i = 0; i < n; i++) if (t[32 * i + 1]! > t[32 * i]!) ms.push(Number(t[32 * i + 1]! - t[32 * i]!) / 1e6);
  return median(ms);
}
const median = (a: number[]) => { const b = [...a].sort((x, y) => x - y); return b[b.length >> 1] ?? 0; };
const PROMPT = SMALL ? 64 : 2048, CTXS = SMALL ? [32, 100] : [1024, 8000], STEPS = SMALL ? 4 : 256, REPS = SMALL ? 1 : 3;
const rand = (n: number, seed: number) => { let s = seed; return Array.from({ length: n }, () => 3 + ((s = (s * 1103515245 + 12345) >>> 0) % 1997)); };
const copy = await copyGBs();
const fma = await fmaTflops();
console.log(`copy ${copy.toFixed(0)} GB/s (read+write); FMA probe ${fma.toFixed(2)} TFLOP/s`);
console.log("BOUNDSJSON " + JSON.stringify({ copyGBs: copy, fmaTflops: fma }));

// Kernel profile at the 1B shape (bf16): the decode matvec's achieved weight bandwidth, the cost
// of one small dispatch in a long chain (what a decode step pays ~200 times), and the tiled
// prefill matmul's TFLOP/s. KERNELJSON.
async function kernelProfile(): Promise<Record<string, number>> {
  const k = await createModelKernels(device, { dtypes: ["bf16"] });
  const st = createStepBuffer(device), words = new Uint32Array(STEP_BYTES / 4);
  const buf = (floats: number) => device.createBuffer({ size: 4 * floats, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const out: Record<string, number> = { subgroups: k.subgroups ? 1 : 0 };
  const R = SMALL ? 256 : 8192, C = SMALL ? 128 : 2048, N = SMALL ? 64 : 2048;
  for (const [rows, cols] of [[R, C], [C, R]]) {
    const W = uploadTensor(device, { dtype: "bf16", shape: [rows, cols], bytes: new Uint8Array(rows * cols * 2) });
    const x = buf(N * cols), y = buf(N * rows);
    writeStep(device.queue, st, 1, 0, 0, 1, 0, words);
    const mv = k.matvec.prepare({ step: st, x, weight: W, y, inDim: cols, outDim: rows });
    const reps = 20;
    const ms = await wall((enc) => { const p = enc.beginComputePass(); for (let i = 0; i < reps; i++) mv.encode(p, 1); p.end(); }, 5) / reps;
    out[`matvecGBs_${rows}x${cols}`] = (rows * cols * 2) / (ms * 1e6);
    const st2 = createStepBuffer(device);
    writeStep(device.queue, st2, N, 0, 0, 1, 0, words);
    const mm = k.matmul.prepare({ step: st2, x, weight: W, y, inDim: cols, outDim: rows });
    const mms = await wall((enc) => { const p = enc.beginComputePass(); mm.encode(p, N); p.end(); }, 3);
    out[`matmulTflops_${N}x${rows}x${cols}`] = (2 * N * rows * cols) / (mms * 1e9);
    W.parts.forEach((p) => p.buffer.destroy());
  }
  const a = buf(2048), b = buf(2048);
  const add = k.add.prepare({ step: st, x: a, y: b, width: 2048 });
  const chain = 300;
  const cms = await wall((enc) => { const p = enc.beginComputePass(); for (let i = 0; i < chain; i++) add.encode(p, 1); p.end(); }, 5);
  out.usPerSmallDispatch = (1000 * cms) / chain;
  k.destroy();
  return out;
}
console.log("KERNELJSON " + JSON.stringify(await kernelProfile()));

/** Median wall time (ms) of a 2K-prompt prefill on a fresh sequence, after one warm-up. */
async function prefillMs(engine: Awaited<ReturnType<typeof loadEngine>>): Promise<number> {
  const t: number[] = [];
  for (let rep = 0; rep < 1 + REPS; rep++) {
    const s = engine.openSequence();
    const t0 = performance.now();
    await s.prefill(rand(PROMPT, 7 + rep));
    if (rep > 0) t.push(performance.now() - t0);
    s.close();
  }
  return median(t);
}
for (const dir of process.argv.slice(2)) {
  const rssBefore = process.resourceUsage().maxRSS;
  const t0 = performance.now();
  const engine = await loadEngine(dir, { device, policy: { name: "full" }, maxContextTokens: 8192 + STEPS + 64, prefillChunkTokens: 512 });
  const loadMs = performance.now() - t0;
  const peakLoadRssMB = process.resourceUsage().maxRSS / 1024;
  const c = engine.config;
  const row: Record<string, number | string> = { model: dir, vocabSize: c.vocabSize, weightBytes: engine.weightBytes, loadMs };
  // FLOPs of the dense layers per prompt token (2 per weight), for the ratio to the FMA probe
  const dense = c.numLayers * (c.dim * (c.numQHeads + 2 * c.numKvHeads) * c.headSize + c.numQHeads * c.headSize * c.dim + 3 * c.dim * c.hiddenDim);
  row.prefill2kMs = await prefillMs(engine);
  row.prefillTokS = PROMPT / ((row.prefill2kMs as number) / 1000);
  row.prefillTflops = (2 * dense * (row.prefillTokS as number)) / 1e12;
  // Decode one step at a time (the profile: host and GPU times in series) and pipelined (the
  // default: step n + 1 encoded and submitted while step n runs); the table's figure is pipelined,
  // the median of REPS runs of STEPS steps (the profile is the last run's).
  for (const ctx of CTXS) {
    for (const pipelined of [false, true]) {
      const tag = pipelined ? "" : "Serial";
      const rates: number[] = [];
      for (let rep = 0; rep < REPS; rep++) {
        let i = 0;
        for await (const _ of engine.generate(rand(ctx, ctx + rep), { maxTokens: STEPS, stopIds: [], pipelined })) {
          if (i++ === 1) { prof.on = true; prof.host.length = 0; prof.wait.length = 0; prof.lastMapped = 0; prof.submitAt = 0; if (ts) { ts.on = true; ts.next = 0; } }
        }
        prof.on = false;
        if (ts) ts.on = false;
        const tm = engine.timings;
        rates.push((tm.generatedTokens - 1) / (tm.decodeMs / 1000));
        row[`prefillMs_ctx${ctx}`] = tm.prefillMs;
      }
      row[`stepHostMs${tag}_ctx${ctx}`] = median(prof.host);
      row[`stepWaitMs${tag}_ctx${ctx}`] = median(prof.wait);
      row[`stepGpuMs${tag}_ctx${ctx}`] = await passGpuMs();
      row[`decodeTokS${tag}_ctx${ctx}`] = median(rates);
      row[`decodeTokS${tag}_ctx${ctx}_runs`] = rates.map((r) => Math.round(r)).join("/");
    }
  }
  // One read of every weight per token at the copy kernel's (read + written) bandwidth: a read-only
  // stream is not bound by the copy's read half (the matvec alone reads faster than that).
  row.boundTokS = copy * 1e9 / engine.weightBytes;
  row.pctOfBound = (100 * (row[`decodeTokS_ctx${CTXS[0]}`] as number)) / (row.boundTokS as number);
  row.pctOfBound8k = (100 * (row[`decodeTokS_ctx${CTXS[1]}`] as number)) / (row.boundTokS as number);
  row.pctOfFma = (100 * (row.prefillTflops as number)) / fma;
  row.peakLoadRssMB = peakLoadRssMB;
  row.peakRssMB = process.resourceUsage().maxRSS / 1024;
  row.rssBeforeMB = rssBefore / 1024;
  engine.destroy();
  // The same prefill in chunks of 1 024 and one of 2 048 (a load option): fewer, larger matmuls.
  for (const chunk of SMALL ? [] : [1024, 2048]) {
    const big = await loadEngine(dir, { device, policy: { name: "full" }, maxContextTokens: PROMPT + 64, prefillChunkTokens: chunk });
    row[`prefill2kMs_chunk${chunk}`] = await prefillMs(big);
    row[`prefillTokS_chunk${chunk}`] = PROMPT / ((row[`prefill2kMs_chunk${chunk}`] as number) / 1000);
    row[`pctOfFma_chunk${chunk}`] = (100 * 2 * dense * (row[`prefillTokS_chunk${chunk}`] as number) / 1e12) / fma;
    big.destroy();
  }
  console.log("ENGINEJSON " + JSON.stringify(row));
}
process.exit(0);
