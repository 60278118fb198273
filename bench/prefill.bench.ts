// bench/prefill.bench.ts — paged prefill attention on a real GPU: one fresh prompt of 2K / 8K / 32K
// tokens, 32 query / 8 KV heads, d = 128, packed f16 K/V, b = 16, blocks scattered over the pool,
// causal. Reports ms, TFLOP/s (4·d per visible (query, key) pair per query head: the causal half)
// and the share of a WGSL FMA probe timed in the same process (bench/probes/fma.wgsl), next to
// torch SDPA (fp16, is_causal) timed in the same device call by bench/sdpa_prefill.py, and the
// previous kernel (the per-head one, from git) at 2K / 8K. Node + the `webgpu` package (Dawn).
//   bundle: node bench/build-prefill.mjs   run: python3 sdpa_prefill.py sdpa.json;
//           SDPA_JSON=sdpa.json node bench-dist/prefill/prefill.mjs out.json
// Times are GPU timestamps around one compute pass of N back-to-back prefills (median of
// samples); without timestamp-query, wall time of submit + onSubmittedWorkDone over N.
// Environment: BENCH_SMALL=1 (a smoke run on a CPU adapter), BENCH_V1=0 (skip the old kernel).

import { create, globals } from "webgpu";
import { createGpuKvPool, type GpuKvPool } from "../src/gpu/pool";
import { createPrefillAttention } from "../src/gpu/kernels/prefillAttention";
import { KERNEL_FILES, sourcesOf } from "../src/gpu/kernels/sources";
import { bindGroup, buildKernel, encodeLinear } from "../src/gpu/kernels/build";
import { BatchRing } from "../src/gpu/dispatch";
import { KERNEL_IO } from "../src/contract";
import { groupSize, kvConstants, poolConstants, type PoolGeometry } from "../src/gpu/layout";
import fmaWgsl from "./probes/fma.wgsl";

/** The previous prefill kernel's WGSL (git, injected by bench/build-prefill.mjs), or "" when absent. */
declare const __PREFILL_V1_WGSL__: string;

Object.assign(globalThis, globals);

const NUM_Q = 32, NUM_KV = 8, D = 128, B = 16;
const SMALL = !!process.env.BENCH_SMALL;
const PROMPTS = SMALL ? [64, 100] : [2048, 8192, 32768];
const V1_MAX = SMALL ? 100 : 8192;
const WITH_V1 = process.env.BENCH_V1 !== "0" && __PREFILL_V1_WGSL__.length > 0;

let gpuInstance: GPU | undefined; // Dawn aborts if the GPU object is collected while devices live

type Timer = (record: (pass: GPUComputePassEncoder) => void, iters: number, samples: number) => Promise<number>;

function makeTimer(device: GPUDevice, hasTs: boolean): Timer {
  const qs = hasTs ? device.createQuerySet({ type: "timestamp", count: 2 }) : undefined;
  const resolve = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  return async (record, iters, samples) => {
    const times: number[] = [];
    for (let s = 0; s < samples + 1; s++) {
      const read = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass(qs ? { timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {});
      record(pass);
      pass.end();
      if (qs) { enc.resolveQuerySet(qs, 0, 2, resolve, 0); enc.copyBufferToBuffer(resolve, 0, read, 0, 16); }
      const t0 = performance.now();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
      let ms = performance.now() - t0;
      if (qs) {
        await read.mapAsync(GPUMapMode.READ);
        const t = new BigUint64Array(read.getMappedRange());
        ms = Number(t[1] - t[0]) / 1e6;
        read.unmap();
      }
      read.destroy();
      if (s >= 1) times.push(ms / iters); // 1 warm-up sample
    }
    times.sort((a, b) => a - b);
    return times[times.length >> 1];
  };
}

async function fmaTflops(device: GPUDevice, timer: Timer): Promise<number> {
  const module = device.createShaderModule({ code: fmaWgsl });
  const pl = await device.createComputePipelineAsync({ layout: "auto", compute: { module, entryPoint: "main" } });
  const u = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const iters = SMALL ? 64 : 4096;
  device.queue.writeBuffer(u, 0, new Uint32Array([iters, 0, 0, 0]));
  const sink = device.createBuffer({ size: 4096, usage: GPUBufferUsage.STORAGE });
  const g = device.createBindGroup({ layout: pl.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: u } }, { binding: 1, resource: { buffer: sink } }] });
  const wgs = SMALL ? 64 : 16384;
  const ms = await timer((pass) => { pass.setPipeline(pl); pass.setBindGroup(0, g); pass.dispatchWorkgroups(wgs); }, 1, 5);
  return (2 * 4 * 8 * iters * 256 * wgs) / (ms * 1e9);
}

/** Random f16 pairs in [-1, 1) (never time on zeros). */
async function fillRandom(device: GPUDevice, bufs: readonly GPUBuffer[]): Promise<void> {
  const chunk = 16 * 2 ** 20;
  const h = new Uint16Array(chunk / 2);
  for (let i = 0; i < h.length; i++) h[i] = (Math.random() < 0.5 ? 0x8000 : 0) | (0x3000 + Math.floor(Math.random() * 0xbff));
  const stage = device.createBuffer({ size: chunk, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(stage, 0, h);
  for (const b of bufs) {
    const enc = device.createCommandEncoder();
    for (let off = 0; off < b.size; off += chunk) enc.copyBufferToBuffer(stage, 0, b, off, Math.min(chunk, b.size - off));
    device.queue.submit([enc.finish()]);
  }
  await device.queue.onSubmittedWorkDone();
  stage.destroy();
}

/** A one-sequence f16 pool holding a P-token prompt (positions 0..P−1), blocks in random order. */
async function promptPool(device: GPUDevice, P: number): Promise<GpuKvPool> {
  const M = Math.ceil(P / B);
  const dims: PoolGeometry = {
    numLayers: 1, maxSeqs: 1, numKvHeads: NUM_KV, numQHeads: NUM_Q, headSize: D, blockSize: B,
    numBlocks: NUM_KV * M, maxBlocksPerHead: M, dtype: "f16",
  };
  const pool = createGpuKvPool(device, dims);
  await fillRandom(device, pool.kvShards.slice(0, pool.numShards));
  const perm = Int32Array.from({ length: dims.numBlocks }, (_, i) => i);
  for (let i = perm.length - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [perm[i], perm[j]] = [perm[j], perm[i]]; }
  pool.writeHeadTables(new Int32Array(NUM_KV).fill(P), perm);
  const positions = new Uint32Array(dims.numBlocks * B);
  for (let h = 0; h < NUM_KV; h++) for (let j = 0; j < M; j++) for (let i = 0; i < B; i++) positions[perm[h * M + j] * B + i] = j * B + i;
  device.queue.writeBuffer(pool.slotMeta, pool.positionsOffsetBytes, positions);
  return pool;
}

async function main(): Promise<void> {
  // Dawn's promises do not hold Node's event loop open: a long GPU wait (a 32K prompt, or any
  // prompt on a CPU adapter) would end the process with status 0 mid-run.
  setInterval(() => {}, 1000);
  const gpu = (gpuInstance = create(["disable-dawn-features=timestamp_quantization"]));
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new Error("no adapter");
  const limits: Record<string, number> = {};
  for (const k in adapter.limits) limits[k] = (adapter.limits as unknown as Record<string, number>)[k];
  const hasTs = adapter.features.has("timestamp-query");
  const features = (["timestamp-query", "subgroups", "shader-f16"] as const).filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits: limits, requiredFeatures: features });
  device.addEventListener("uncapturederror", (e) => console.error("uncaptured:", (e as GPUUncapturedErrorEvent).error.message));
  const info = adapter.info;
  console.log(`adapter: ${info.vendor} ${info.architecture} ${info.description}; timestamps: ${hasTs}; ` +
    `maxComputeWorkgroupStorageSize=${limits.maxComputeWorkgroupStorageSize}`);
  const timer = makeTimer(device, hasTs);
  const fma = await fmaTflops(device, timer);
  console.log(`FMA probe: ${fma.toFixed(2)} TFLOP/s f32`);
  const sdpa = new Map<number, number>();
  if (process.env.SDPA_JSON) {
    try {
      const j = JSON.parse((await import("node:fs")).readFileSync(process.env.SDPA_JSON, "utf8")) as { rows: { promptTokens: number; ms: number }[] };
      for (const r of j.rows) sdpa.set(r.promptTokens, r.ms);
    } catch (e) { console.log(`SDPA_JSON: ${e instanceof Error ? e.message : e}`); }
  }
  const rows: Record<string, unknown>[] = [];
  for (const P of PROMPTS) {
    const row: Record<string, unknown> = { promptTokens: P };
    try { Object.assign(row, await benchPrompt(device, timer, P, fma)); } catch (e) { row.error = e instanceof Error ? e.message : String(e); }
    row.sdpaMs = sdpa.get(P) ?? null;
    if (typeof row.sdpaMs === "number") row.sdpaTflops = flops(P) / (row.sdpaMs as number) / 1e9;
    rows.push(row);
    console.log(`prefill P=${P}: ${JSON.stringify(row)}`);
  }
  console.log("\nprompt  ms        TFLOP/s  %FMA   ms+L2metric  ms(v1)    SDPA ms");
  const f = (x: unknown, w: number) => (typeof x === "number" ? x.toFixed(x < 10 ? 3 : 1) : "-").padEnd(w);
  for (const r of rows) console.log(`${String(r.promptTokens).padEnd(8)}${f(r.ms, 10)}${f(r.tflops, 9)}${f(r.pctOfFma, 7)}${f(r.msWithMetric, 13)}${f(r.msV1, 10)}${f(r.sdpaMs, 8)}${r.error ? " " + r.error : ""}`);
  const out = process.argv[2];
  if (out) {
    (await import("node:fs")).writeFileSync(out, JSON.stringify({
      adapter: info.description || info.device, date: new Date().toISOString(), hasTs, blocks: "scattered", fmaTflops: fma,
      shape: { numQHeads: NUM_Q, numKvHeads: NUM_KV, headSize: D, blockSize: B, dtype: "f16" }, prefill: rows,
    }, null, 1));
  }
  process.exit(0);
}

/** FLOPs of causal attention over a fresh P-token prompt: 4·d per (query head, visible key). */
const flops = (P: number) => 4 * D * NUM_Q * (P * (P + 1)) / 2;

async function benchPrompt(device: GPUDevice, timer: Timer, P: number, fma: number): Promise<Record<string, number>> {
  const pool = await promptPool(device, P);
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const q = new Float32Array(P * NUM_Q * D);
  for (let i = 0; i < q.length; i++) q[i] = Math.random() * 2 - 1;
  const queries = device.createBuffer({ size: q.byteLength, usage });
  device.queue.writeBuffer(queries, 0, q);
  const kernel = await createPrefillAttention(device, pool);
  const out = device.createBuffer({ size: kernel.outBytes(P, 1), usage });
  const seqs = [{ seqId: 0, tokenStart: 0, numNew: P, firstPos: 0 }];
  const args = (metricMode: 0 | 2) => ({ layer: 0, seqs, numTokens: P, queries, out, metricMode, obsWindow: 32 });
  const est = flops(P) / 10e12 * 1e3; // ms at 10 TFLOP/s
  const iters = SMALL ? 1 : Math.max(1, Math.min(20, Math.round(20 / est)));
  const samples = SMALL ? 1 : P >= 32768 ? 3 : 5;
  const res: Record<string, number> = { iters };
  res.ms = await timer((pass) => { for (let i = 0; i < iters; i++) kernel.encode(pass, args(0)); }, iters, samples);
  res.tflops = flops(P) / res.ms / 1e9;
  res.pctOfFma = (100 * res.tflops) / fma;
  res.msWithMetric = await timer((pass) => { for (let i = 0; i < iters; i++) kernel.encode(pass, args(2)); }, iters, samples);
  if (WITH_V1 && P <= V1_MAX) {
    // The previous kernel (one workgroup per 64 queries of one query head), and the largest
    // difference between its output and this kernel's (a check on real hardware).
    const newOut = await readBack(device, out, P * NUM_Q * D * 4);
    const v1 = await buildV1(device, pool);
    const ring = new BatchRing(device, 4, "v1-batch");
    const group = bindGroup(device, v1, { ...pool.poolBuffers(), batch: ring.buffer, queries, out });
    const maxTiles = Math.ceil(P / 64);
    const o = ring.write("prefill", { layer: 0, numSeqs: 1, maxTiles, lseOffset: P * NUM_Q * D }, seqs);
    const it1 = Math.max(1, Math.round(iters / 8));
    res.msV1 = await timer((pass) => { for (let i = 0; i < it1; i++) encodeLinear(pass, v1, group, o, NUM_Q * maxTiles); }, it1, SMALL ? 1 : 3);
    const oldOut = await readBack(device, out, P * NUM_Q * D * 4);
    let maxDiff = 0;
    for (let i = 0; i < newOut.length; i++) maxDiff = Math.max(maxDiff, Math.abs(newOut[i] - oldOut[i]));
    res.maxAbsDiffV1 = maxDiff;
    ring.destroy();
  }
  kernel.destroy(); queries.destroy(); out.destroy(); pool.destroy();
  return res;
}

async function buildV1(device: GPUDevice, pool: GpuKvPool) {
  const d = pool.dims;
  const files = KERNEL_FILES.prefill(d.dtype).slice(0, -1);
  return buildKernel(device, {
    file: "paged_attention_prefill.v1.wgsl", sources: [...sourcesOf(files), __PREFILL_V1_WGSL__], io: KERNEL_IO.prefill,
    constants: { ...poolConstants(d), ...kvConstants(d, pool.blocksPerShard), GROUP_SIZE: groupSize(d), WG_SIZE: 64 },
  });
}

async function readBack(device: GPUDevice, buf: GPUBuffer, bytes: number): Promise<Float32Array> {
  const rb = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buf, 0, rb, 0, bytes);
  device.queue.submit([enc.finish()]);
  await rb.mapAsync(GPUMapMode.READ);
  const a = new Float32Array(rb.getMappedRange().slice(0));
  rb.unmap(); rb.destroy();
  return a;
}

main().catch((e) => { console.error(e); process.exit(1); });
