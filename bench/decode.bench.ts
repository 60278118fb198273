// bench/decode.bench.ts — paged decode attention on a real GPU (issue 4): 32 query / 8 KV heads,
// d = 128, packed f16, b = 16, 4K / 32K / 128K tokens × 1 / 16 sequences, next to a plain WGSL
// copy kernel measured in the same run (the roofline). Node + the `webgpu` package (Dawn).
//   bundle: node bench/build-gpu.mjs   run: node bench-dist/decode.mjs [outFile.json]
// Times are GPU timestamps around one compute pass of N back-to-back decodes (median of
// samples); without timestamp-query, wall time of submit + onSubmittedWorkDone over N.
// Environment: BENCH_SMALL=1 (a smoke run on a CPU adapter), BENCH_PLAIN_ONLY=1 (main table
// only), BENCH_SWEEP=0 (no knob sweep), BENCH_REPEAT=R (the sweep on R fresh pools),
// BENCH_PERM=identity (contiguous blocks), BENCH_PROBES=1 (probes/stream_loop.wgsl: the K/V
// access pattern alone), BENCH_DAWN_TOGGLES=a,b (Dawn toggles, diagnostics only),
// BENCH_STORAGE=q8,q4 (the quantized storages timed next to f16 at 32K × 16 and 128K × 1, time
// against bytes read; BENCH_STORAGE= to skip), BENCH_SCATTER=1 (the scatter probes: one pool
// allocation per probe, timed under several block layouts and knobs), BENCH_SWEEP=split (the
// split-grid sweep: workgroup targets 256–8192, workgroup sizes, split lengths).
// The main table is printed against the last committed figures (bench/build-gpu.mjs embeds them)
// and every shape more than 10% slower is flagged REGRESSION (also in the JSON: baselineMs,
// regression). BENCH_SDPA=sdpa.json (bench/sdpa_decode.py's output, same call): each shape's time
// against torch SDPA's (sdpaMs, vsSdpa).
// BENCH_BEFORE=1 (each quantized storage also with
// its kv helper as it was before the int→float-free dequantization, bench/probes/kv_q*_before.wgsl:
// before/after in one process), BENCH_ROUNDS=R (the storage table R times, fresh pools each),
// BENCH_MAIN=0 (skip the main table).

import { create, globals } from "webgpu";
import { createGpuKvPool, type GpuKvPool } from "../src/gpu/pool";
import { createDecodeAttention } from "../src/gpu/kernels/decodeAttention";
import { KERNEL_CONSTANTS, KERNEL_FILES, WGSL, sourcesOf } from "../src/gpu/kernels/sources";
import { bindGroup, buildKernel, encodeLinear } from "../src/gpu/kernels/build";
import { BatchRing } from "../src/gpu/dispatch";
import { KERNEL_IO, type KernelIo } from "../src/contract";
import { DECODE_TARGET_WORKGROUPS, WG, blockBytes, type DecodeTuning, type KvDtype, type PoolGeometry } from "../src/gpu/layout";
import streamLoopWgsl from "./probes/stream_loop.wgsl";
import { createCopyProbe } from "./probes/copy";
import kvQ8BeforeWgsl from "./probes/kv_q8_before.wgsl";
import kvQ4BeforeWgsl from "./probes/kv_q4_before.wgsl";

/** True while a "before" kernel is being timed (benchDecode then skips its before/after check). */
let inBefore = false;

/** Runs f with the kv helper of `dtype` replaced by its bench-only "before" copy (the wrapper
 *  reads WGSL when it builds, so the swap covers exactly one createDecodeAttention). */
async function withBefore<T>(dtype: KvDtype, f: () => Promise<T>): Promise<T> {
  const key = `common/kv_${dtype}.wgsl`, table = WGSL as Record<string, string>, keep = table[key];
  table[key] = dtype === "q8" ? kvQ8BeforeWgsl : kvQ4BeforeWgsl;
  try { return await f(); } finally { table[key] = keep; }
}


/** One kernel variant of the sweep. */
interface Variant { tuning?: Partial<DecodeTuning>; targetWorkgroups?: number }

/** Kernel knob variants tried on every shape after the main table (one device call learns them all). */
const SWEEP: Variant[] = process.env.BENCH_SWEEP === "0" ? [] : process.env.BENCH_SWEEP === "split" ? [
  { targetWorkgroups: 256 }, { targetWorkgroups: 512 }, { targetWorkgroups: 1024 }, { targetWorkgroups: 4096 }, { targetWorkgroups: 8192 },
  { tuning: { wgSize: 64 } }, { tuning: { wgSize: 128 } }, { tuning: { maxSplitKeys: 512 } },
] : [
  { tuning: { subgroups: false } },
  { tuning: { wgSize: 64 } }, { tuning: { wgSize: 128 } },
  { targetWorkgroups: 1024 }, { targetWorkgroups: 4096 },
  { tuning: { maxSplitKeys: 512 } },
];
const label = (v: Variant) => JSON.stringify({ ...v.tuning, ...(v.targetWorkgroups ? { target: v.targetWorkgroups } : {}) });
// Block layout. Default "scattered": a random permutation of the pool, as after a long-running
// server. BENCH_PERM=identity: each head's blocks contiguous and in order. BENCH_PERM=local:
// scattered within 2 MiB windows (windows in random order): random blocks, few distinct pages.
// "runs<R>" (probes): aligned runs of R consecutive blocks, the runs in random order.
// "sorted" (probes): scattered, then each head's blocks in ascending physical order (what a FIFO
// allocator hands out while it has not wrapped: logical order follows allocation order).
type Layout = "scattered" | "contiguous" | "local" | "sorted" | `runs${number}`;
const LAYOUT: Layout = process.env.BENCH_PERM === "identity" ? "contiguous" : process.env.BENCH_PERM === "local" ? "local" : "scattered";

const shuffle = (a: Int32Array<ArrayBuffer>) => {
  for (let i = a.length - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [a[i], a[j]] = [a[j], a[i]]; }
};

/** Block order for `layout`: `count` distinct block ids of a pool of numBlocks blocks of blockBytes each. */
function blockOrder(numBlocks: number, blockBytes: number, layout: Layout = LAYOUT, count = numBlocks): Int32Array<ArrayBuffer> {
  const perm = Int32Array.from({ length: numBlocks }, (_, i) => i);
  if (layout === "scattered" || layout === "sorted") shuffle(perm);
  const runs = (w: number, inner: boolean) => {
    const windows = Int32Array.from({ length: Math.ceil(numBlocks / w) }, (_, i) => i);
    shuffle(windows);
    const out = new Int32Array(numBlocks);
    let at = 0;
    for (const win of windows) {
      const part = perm.slice(win * w, Math.min(numBlocks, (win + 1) * w));
      if (inner) shuffle(part);
      out.set(part, at);
      at += part.length;
    }
    return out;
  };
  if (layout === "local") return runs(Math.max(1, Math.floor(2 ** 21 / blockBytes)), true).slice(0, count);
  if (layout.startsWith("runs")) return runs(Number(layout.slice(4)), false).slice(0, count);
  return perm.slice(0, count);
}

Object.assign(globalThis, globals);

/** The last committed decode rows (bench/build-gpu.mjs embeds them): ctx, numSeqs, ms. */
declare const __BENCH_BASELINE__: { file: string; rows: { ctx: number; ctxUsed?: number; numSeqs: number; ms?: number }[] } | null;
const BASELINE = typeof __BENCH_BASELINE__ === "undefined" ? null : __BENCH_BASELINE__;
/** Slower than the baseline by more than this fraction is flagged. */
const REGRESSION = 0.1;

const NUM_Q = 32, NUM_KV = 8, D = 128, B = 16;
// BENCH_SMALL=1: a smoke run on a CPU adapter (tiny shapes, few samples).
const SMALL = !!process.env.BENCH_SMALL;
const CTXS = SMALL ? [1024] : [4096, 32768, 131072];
const SEQS = SMALL ? [1, 2] : [1, 16];
const SAMPLES = SMALL ? 3 : 15;
// BENCH_PLAIN_ONLY=1: the main table's plain decode only (no 4096-workgroup, metric or sweep runs),
// to time an older build beside the current one in the same device call.
const PLAIN_ONLY = !!process.env.BENCH_PLAIN_ONLY;
const COPY_BYTES = SMALL ? 16 * 2 ** 20 : 512 * 2 ** 20;
/** GPU milliseconds of warm-up before a timing's samples. */
const WARM_MS = SMALL ? 0 : 30;

// Kept in a module variable: Dawn aborts if the GPU object is collected while its devices live
// (docs/CONTRACTS.md "Known runtime hazards").
let gpuInstance: GPU | undefined;

async function main(): Promise<void> {
  // BENCH_DAWN_TOGGLES=a,b: extra Dawn toggles (diagnostics only, e.g. disable_robustness).
  const toggles = process.env.BENCH_DAWN_TOGGLES ? [`enable-dawn-features=${process.env.BENCH_DAWN_TOGGLES}`] : [];
  const gpu = (gpuInstance = create(["disable-dawn-features=timestamp_quantization", ...toggles]));
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new Error("no adapter");
  const limits: Record<string, number> = {};
  for (const k in adapter.limits) limits[k] = (adapter.limits as unknown as Record<string, number>)[k];
  const hasTs = adapter.features.has("timestamp-query");
  // As the SDK does (sdk/device.ts): optional features on when the adapter has them.
  const features = (["timestamp-query", "subgroups", "shader-f16"] as const).filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits: limits, requiredFeatures: features });
  device.addEventListener("uncapturederror", (e) => console.error("uncaptured:", (e as GPUUncapturedErrorEvent).error.message));
  const info = adapter.info;
  const results: Record<string, unknown>[] = [];
  console.log(`adapter: ${info.vendor} ${info.architecture} ${info.device} ${info.description}; timestamps: ${hasTs}; ` +
    `features: ${[...adapter.features].sort().join(" ")}; subgroup sizes: ${(info as unknown as Record<string, number>).subgroupMinSize}–${(info as unknown as Record<string, number>).subgroupMaxSize}`);
  console.log(`blocks: ${LAYOUT}`);
  console.log(`limits: maxStorageBufferBindingSize=${limits.maxStorageBufferBindingSize} maxBufferSize=${limits.maxBufferSize}`);
  const timer = makeTimer(device, hasTs);

  const copyGBs = await benchCopy(device, timer);
  console.log(`copy: ${copyGBs.toFixed(0)} GB/s (read + written)`);
  results.push({ kind: "copy", gbPerS: copyGBs });

  for (const ctx of process.env.BENCH_MAIN === "0" ? [] : CTXS) for (const numSeqs of SEQS) {
    const row: Record<string, unknown> = { kind: "decode", ctx, numSeqs };
    try {
      Object.assign(row, await benchDecode(device, timer, ctx, numSeqs));
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      row.error = error;
      // 16 × 128K × 8 heads of f16 K/V is exactly 8 GiB: one block over 4 bindings of 2 GiB − 4 B.
      if (error.startsWith("maxStorageBufferBindingSize")) {
        try {
          Object.assign(row, await benchDecode(device, timer, ctx - 1024, numSeqs), { ctxUsed: ctx - 1024, note: row.error });
          delete row.error;
        } catch (e2) { row.error = `${error}; retry: ${e2 instanceof Error ? e2.message : String(e2)}`; }
      }
    }
    results.push(row);
    const f = (x: unknown) => (typeof x === "number" ? x.toFixed(3) : "-");
    console.log(`decode ctx=${ctx} seqs=${numSeqs} (${row.variant} kernel, ${row.shards} shard(s)): ${f(row.ms)} ms (first timing ${f(row.msFirst)}), ${f(row.gbPerS)} GB/s; ` +
      `L2 metric: ${f(row.msMetric)} ms${row.error ? ` ERROR ${row.error}` : ""}`);
  }
  const storages = (process.env.BENCH_STORAGE ?? "q8,q4").split(",").filter(Boolean) as KvDtype[];
  if (storages.length) {
    // Quantized K/V (docs/QUANTIZATION.md) against f16 in the same run: the kernel reads
    // kvBytes (codes + scales); "vs bytes" = (ms / ms_f16) ÷ (kvBytes / kvBytes_f16), 1 when time
    // falls exactly with the bytes read.
    console.log("\nstorage (decode, no metric):");
    const before = !!process.env.BENCH_BEFORE;
    const rounds = Number(process.env.BENCH_ROUNDS ?? 1);
    for (let round = 0; round < rounds; round++) for (const [ctx, numSeqs] of SMALL ? [[1024, 1]] : [[32768, 16], [131072, 1]]) {
      let base: Record<string, number> | undefined;
      const runs: [KvDtype, boolean][] = [["f16", false]];
      for (const dt of storages) { runs.push([dt, false]); if (before) runs.push([dt, true]); }
      for (const [dtype, old] of runs) {
        const name = `${dtype}${old ? " (before)" : ""}`;
        try {
          const run = () => benchDecode(device, timer, ctx, numSeqs, { dtype, plainOnly: true });
          const r = old ? await withBefore(dtype, () => { inBefore = true; return run(); }).finally(() => { inBefore = false; }) : await run();
          base ??= r;
          const vsBytes = (r.ms / base.ms) / (r.kvBytes / base.kvBytes);
          results.push({ kind: "storage", dtype, before: old, round, ctx, numSeqs, ...r, vsBytes });
          console.log(`${name} ctx=${ctx} seqs=${numSeqs} (${r.shards} shard(s)): ${r.ms.toFixed(3)} ms, ${(r.kvBytes / 2 ** 20).toFixed(0)} MiB read ` +
            `(${(r.kvBytes / base.kvBytes).toFixed(3)} of f16), ${r.gbPerS.toFixed(0)} GB/s (${((100 * r.gbPerS) / copyGBs).toFixed(0)}% of copy), ` +
            `time ${(r.ms / base.ms).toFixed(3)} of f16, ${vsBytes.toFixed(2)}x bytes-proportional` +
            (r.relDiffVsBefore !== undefined ? `; output vs before: ${r.relDiffVsBefore.toExponential(2)} of max |out|` : ""));
        } catch (e) { console.log(`storage ${name} ctx=${ctx} seqs=${numSeqs}: ${e instanceof Error ? e.message : e}`); }
      }
    }
  }
  if (process.env.BENCH_PROBES) {
    console.log("\nprobes (K/V access pattern with a running sum only; GB/s = K + V bytes / time):");
    for (const [ctx, numSeqs] of SMALL ? [[1024, 1]] : [[4096, 16], [32768, 1], [131072, 1]]) {
      for (const [name, code] of [["stream_loop", streamLoopWgsl]] as const) {
        for (const wg of [32, 256]) {
          try {
            const r = await benchProbe(device, timer, ctx, numSeqs, name, code, wg);
            results.push({ kind: "probe", name, wg, ctx, numSeqs, ...r });
            console.log(`probe ${name} wg=${wg} ctx=${ctx} seqs=${numSeqs}: ${r.ms.toFixed(3)} ms, ${r.gbPerS.toFixed(0)} GB/s`);
          } catch (e) { console.log(`probe ${name}: ${e instanceof Error ? e.message : e}`); }
        }
      }
    }
  }
  if (process.env.BENCH_SCATTER) {
    // Why scattered blocks lose at 8 GiB: the same work under different pools (docs/bench/gpu.md).
    console.log("\nscatter probes (plain decode; GB/s = K + V bytes read / time):");
    // Each probe: ONE pool allocation, every variant timed on it (layouts rewrite the block table).
    const V = (name: string, layout: Layout, tuning?: Partial<DecodeTuning>) => ({ name, layout, tuning });
    const big = [V("contiguous", "contiguous"), V("scattered", "scattered"), V("scattered wg128", "scattered", { wgSize: 128 }),
      V("scattered wg32", "scattered", { wgSize: 32 }), V("scattered wg256", "scattered", { wgSize: 256 }), V("runs256", "runs256"),
      V("runs8", "runs8"), V("sorted", "sorted"), V("sorted splitMajor", "sorted", { splitMajor: true }),
      V("sorted splitMajor wg32", "sorted", { splitMajor: true, wgSize: 32 }),
      V("scattered splitMajor", "scattered", { splitMajor: true }), V("contiguous splitMajor", "contiguous", { splitMajor: true }),
      V("scattered again", "scattered")];
    const small = [V("contiguous", "contiguous"), V("scattered", "scattered"), V("scattered wg128", "scattered", { wgSize: 128 }),
      V("scattered wg32", "scattered", { wgSize: 32 }), V("sorted", "sorted"), V("sorted splitMajor", "sorted", { splitMajor: true }),
      V("scattered splitMajor", "scattered", { splitMajor: true }), V("scattered again", "scattered")];
    const pool8G = (4 * (2 ** 31 - 2 ** 21)) / 8192;
    const probes: [string, number, number, BenchOpts][] = [
      ["8G pool, 8G work #1", 130048, 16, { variants: big }],
      ["8G pool, 8G work #2", 130048, 16, { variants: big }],
      ["2G pool, 2G work #1", 32768, 16, { variants: small }],
      ["2G pool, 2G work #2", 32768, 16, { variants: small }],
      ["8G pool, 512M work", 32768, 4, { variants: small, poolBlocks: pool8G }],
      ["512M pool, 512M work", 32768, 4, { variants: small }],
      ["128K x 1 #1", 131072, 1, { variants: small }],
      ["128K x 1 #2", 131072, 1, { variants: small }],
      ["32K x 1", 32768, 1, { variants: small }],
      ["4K x 16", 4096, 16, { variants: small }],
      ["floor: 256 keys x 1", 256, 1, {}],
      ["floor: 1024 keys x 1", 1024, 1, {}],
    ];
    for (const [name, ctx, numSeqs, o] of probes) {
      if (SMALL && ctx * numSeqs > 65536) continue;
      try {
        const r = await benchDecode(device, timer, ctx, numSeqs, { ...o, plainOnly: true });
        results.push({ kind: "scatterProbe", name, ctx, numSeqs, ...r, pctOfCopy: (100 * r.gbPerS) / copyGBs });
        const pct = (ms: number) => ((100 * r.kvBytes) / (ms * 1e6) / copyGBs).toFixed(0);
        console.log(`${name} (ctx=${ctx} seqs=${numSeqs} shards=${r.shards}): default ${r.ms.toFixed(3)} ms (${pct(r.ms)}%)` +
          (o.variants ?? []).map((v) => ` | ${v.name} ${r[v.name].toFixed(3)} (${pct(r[v.name])}%)`).join(""));
      } catch (e) { console.log(`${name}: ${e instanceof Error ? e.message : e}`); }
    }
  }
  if (!PLAIN_ONLY && SWEEP.length) {
    console.log(`\nsweep (ms; default = ${label({ tuning: { wgSize: WG.decode }, targetWorkgroups: DECODE_TARGET_WORKGROUPS })}):`);
    // BENCH_REPEAT=R: R fresh pools (new random block layouts) per shape.
    const repeats = Number(process.env.BENCH_REPEAT ?? 1);
    for (let rep = 0; rep < repeats; rep++) for (const ctx of CTXS) for (const numSeqs of SEQS) {
      const c = ctx * numSeqs === 131072 * 16 ? ctx - 1024 : ctx;
      try {
        const r = await benchDecode(device, timer, c, numSeqs, { sweep: SWEEP });
        results.push({ kind: "sweep", ctx: c, numSeqs, ...r });
        console.log(`ctx=${c} seqs=${numSeqs} (${r.shards} shard(s)): default ${r.ms.toFixed(3)} | ` +
          SWEEP.map((v, i) => `${label(v)} ${(r as Record<string, number>)[`v${i}`]?.toFixed(3)}`).join(" | "));
      } catch (e) { console.log(`sweep ctx=${c} seqs=${numSeqs}: ${e instanceof Error ? e.message : e}`); }
    }
  }
  // BENCH_SDPA=file: bench/sdpa_decode.py's JSON from the same call; each row gets sdpaMs, vsSdpa.
  const sdpaRows: { ctx: number; numSeqs: number; ms: number }[] = process.env.BENCH_SDPA
    ? JSON.parse((await import("node:fs")).readFileSync(process.env.BENCH_SDPA, "utf8")).rows : [];
  for (const r of results) {
    if (r.kind !== "decode" || typeof r.gbPerS !== "number") continue;
    const sd = sdpaRows.find((x) => x.ctx === r.ctx && x.numSeqs === r.numSeqs);
    if (sd) { r.sdpaMs = sd.ms; r.vsSdpa = (r.ms as number) / sd.ms; }
    r.pctOfCopy = (100 * (r.gbPerS as number)) / copyGBs;
    const b = BASELINE?.rows.find((x) => (x.ctxUsed ?? x.ctx) === (r.ctxUsed ?? r.ctx) && x.numSeqs === r.numSeqs);
    if (typeof b?.ms === "number") { r.baselineMs = b.ms; r.regression = (r.ms as number) / b.ms - 1 > REGRESSION; }
  }
  const out = process.argv[2];
  if (out) (await import("node:fs")).writeFileSync(out, JSON.stringify({ adapter: info.description || info.device, date: new Date().toISOString(), hasTs, blocks: LAYOUT, baseline: BASELINE?.file ?? null, results }, null, 1));
  console.log(`\nctx     seqs  ms       GB/s    %copy  ms(L2 metric)  baseline ms (${BASELINE?.file ?? "none"})`);
  let regressions = 0;
  for (const r of results.filter((x) => x.kind === "decode")) {
    const ctx = (r.ctxUsed ?? r.ctx) as number;
    const b = BASELINE?.rows.find((x) => (x.ctxUsed ?? x.ctx) === ctx && x.numSeqs === r.numSeqs);
    const slower = typeof r.ms === "number" && typeof b?.ms === "number" ? r.ms / b.ms - 1 : undefined;
    const flag = slower !== undefined && slower > REGRESSION ? `  REGRESSION +${(100 * slower).toFixed(0)}%` : "";
    if (flag) regressions++;
    console.log(`${String(ctx).padEnd(8)}${String(r.numSeqs).padEnd(6)}${num(r.ms, 9)}${num(r.gbPerS, 8)}${num(r.pctOfCopy, 7)}${num(r.msMetric, 15)}` +
      `${num(b?.ms, 8)}${slower !== undefined ? `${slower >= 0 ? "+" : ""}${(100 * slower).toFixed(0)}%` : ""}${flag}` +
      `${typeof r.vsSdpa === "number" ? `  ${(r.vsSdpa as number).toFixed(2)}x SDPA's time` : ""}${r.error ? " " + r.error : ""}`);
  }
  console.log(regressions ? `${regressions} shape(s) more than ${100 * REGRESSION}% slower than ${BASELINE?.file}` : `no shape more than ${100 * REGRESSION}% slower than the baseline`);
  process.exit(0);
}

const num = (x: unknown, w: number) => (typeof x === "number" ? x.toFixed(x < 10 ? 3 : 0) : "-").padEnd(w);

type Timer = (record: (pass: GPUComputePassEncoder) => void, iters: number) => Promise<number>;

/** Median ms per iteration of `record` (which encodes `iters` iterations into one pass). */
function makeTimer(device: GPUDevice, hasTs: boolean): Timer {
  const qs = hasTs ? device.createQuerySet({ type: "timestamp", count: 2 }) : undefined;
  const resolve = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  return async (record, iters) => {
    const samples: number[] = [];
    // Warm-up: at least 2 passes and WARM_MS of GPU work before the samples (the first
    // milliseconds on a fresh pool, or after an idle host phase, measured up to 2x slow: clocks).
    let warmMs = 0, warmN = 0;
    for (let s = 0; samples.length < SAMPLES; s++) {
      const read = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass(qs ? { timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {});
      record(pass);
      pass.end();
      if (qs) { enc.resolveQuerySet(qs, 0, 2, resolve, 0); enc.copyBufferToBuffer(resolve, 0, read, 0, 16); }
      const t0 = performance.now();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
      const wall = performance.now() - t0;
      let ms = wall;
      if (qs) {
        await read.mapAsync(GPUMapMode.READ);
        const t = new BigUint64Array(read.getMappedRange());
        ms = Number(t[1] - t[0]) / 1e6;
        read.unmap();
      }
      read.destroy();
      if (warmN >= 2 && warmMs >= WARM_MS) samples.push(ms / iters);
      else { warmN++; warmMs += Math.max(ms, 0); }
      if (s > 400) break;
    }
    samples.sort((a, b) => a - b);
    return samples[samples.length >> 1];
  };
}

async function benchCopy(device: GPUDevice, timer: Timer): Promise<number> {
  const bytes = COPY_BYTES;
  const probe = await createCopyProbe(device, bytes, (bufs) => fillRandom(device, bufs));
  const iters = SMALL ? 2 : 20;
  const ms = await timer((pass) => {
    for (let i = 0; i < iters; i++) probe.encode(pass);
  }, iters);
  probe.destroy();
  return (2 * bytes) / (ms * 1e6);
}

/** Fills buffers with random f16 pairs in [-1, 1) (never time on zeros). */
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

/** Options of one benchDecode call (the probes vary the pool around the same work). */
interface BenchOpts {
  sweep?: Variant[];
  dtype?: KvDtype;
  plainOnly?: boolean;
  layout?: Layout;
  /** Blocks in the pool (default: exactly the blocks the heads use); the used ones are drawn from all. */
  poolBlocks?: number;
  /** Shard binding size (default: the device limit). */
  maxBindingBytes?: number;
  blockSize?: number;
  /** Kernel knobs of the main timing. */
  tuning?: Partial<DecodeTuning>;
  /** Also timed on the same pool: each a layout and knobs (plain decode), reported by name. */
  variants?: { name: string; layout: Layout; tuning?: Partial<DecodeTuning> }[];
  targetWorkgroups?: number;
}

async function benchDecode(device: GPUDevice, timer: Timer, ctx: number, numSeqs: number, o: BenchOpts = {}): Promise<Record<string, number>> {
  const { sweep, dtype = "f16", plainOnly = PLAIN_ONLY } = o;
  const b = o.blockSize ?? B;
  const blocksPerHead = ctx / b;
  const used = numSeqs * NUM_KV * blocksPerHead;
  const dims: PoolGeometry = {
    numLayers: 1, maxSeqs: numSeqs, numKvHeads: NUM_KV, numQHeads: NUM_Q, headSize: D, blockSize: b,
    numBlocks: Math.max(used, o.poolBlocks ?? 0), maxBlocksPerHead: blocksPerHead, dtype,
  };
  let pool: GpuKvPool | undefined;
  try {
    pool = createGpuKvPool(device, dims, { maxBindingBytes: o.maxBindingBytes });
    await fillRandom(device, pool.kvShards.slice(0, pool.numShards));
    // Blocks scattered: a random permutation of the pool, as after a long-running server.
    // (q8/q4: random f16 pairs are finite scale words and arbitrary codes.)
    const layoutPerm = (layout?: Layout) => {
      const perm = blockOrder(dims.numBlocks, blockBytes(dims), layout, used);
      if (layout === "sorted") for (let h = 0; h < numSeqs * NUM_KV; h++) perm.subarray(h * blocksPerHead, (h + 1) * blocksPerHead).sort();
      return perm;
    };
    const perm = layoutPerm(o.layout);
    pool.writeHeadTables(new Int32Array(numSeqs * NUM_KV).fill(ctx), perm);
    const q = new Float32Array(numSeqs * NUM_Q * D).map(() => Math.random() * 2 - 1);
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
    const queries = device.createBuffer({ size: q.byteLength, usage });
    device.queue.writeBuffer(queries, 0, q);
    const out = device.createBuffer({ size: q.byteLength, usage: usage | GPUBufferUsage.COPY_SRC });
    const seqIds = Array.from({ length: numSeqs }, (_, i) => i);
    const kvBytes = used * blockBytes(dims);
    const iters = SMALL ? 2 : Math.min(100, Math.max(5, Math.ceil(2e-3 / (kvBytes / 2.5e12))));
    const res: Record<string, number> = { iters, shards: pool.numShards, blocksPerShard: pool.blocksPerShard, kvBytes };
    const plain = await createDecodeAttention(device, pool, { maxBatchSeqs: numSeqs, withMetric: false, tuning: o.tuning, targetWorkgroups: o.targetWorkgroups });
    const timePlain = () => timer((pass) => { for (let i = 0; i < iters; i++) plain.encode(pass, { layer: 0, seqIds, queries, out, metricMode: 0 }); }, iters);
    // The first timing on a fresh allocation is at times 1.3–4x slow for hundreds of ms (the
    // "bimodal" 32K × 16 row; docs/bench/gpu.md, 2026-12-02): reported as msFirst, then timed again.
    res.msFirst = await timePlain();
    res.ms = await timePlain();
    (res as Record<string, unknown>).variant = plain.variant;
    res.gbPerS = kvBytes / (res.ms * 1e6);
    // BENCH_BEFORE=1 on q8/q4: the same decode with the "before" kv helper on this pool, and
    // the largest difference of the outputs relative to the largest |output| (a real-GPU check
    // of the new dequantization: both compute fl(code·s + m), so ~1e-7 is expected).
    if (process.env.BENCH_BEFORE && (dtype === "q8" || dtype === "q4") && !inBefore) try {
      const old = await withBefore(dtype, () => createDecodeAttention(device, pool!, { maxBatchSeqs: numSeqs, withMetric: false }));
      const outs: Float32Array[] = [];
      for (const k of [plain, old]) {
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        k.encode(pass, { layer: 0, seqIds, queries, out, metricMode: 0 });
        pass.end();
        const read = device.createBuffer({ size: q.byteLength, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
        enc.copyBufferToBuffer(out, 0, read, 0, q.byteLength);
        device.queue.submit([enc.finish()]);
        await read.mapAsync(GPUMapMode.READ);
        outs.push(new Float32Array(read.getMappedRange().slice(0)));
        read.destroy();
      }
      old.destroy();
      let diff = 0, big = 0;
      for (let i = 0; i < outs[0].length; i++) { diff = Math.max(diff, Math.abs(outs[0][i] - outs[1][i])); big = Math.max(big, Math.abs(outs[1][i])); }
      res.relDiffVsBefore = Number.isFinite(diff) ? diff / big : NaN;
    } catch (e) { console.log(`check vs before: ${e instanceof Error ? e.message : e}`); }
    plain.destroy();
    if (o.variants) {
      // The same allocation under several layouts and knobs (so allocation luck cancels out).
      for (const v of o.variants) {
        pool.writeHeadTables(new Int32Array(numSeqs * NUM_KV).fill(ctx), layoutPerm(v.layout));
        const k = await createDecodeAttention(device, pool, { maxBatchSeqs: numSeqs, withMetric: false, tuning: v.tuning });
        res[v.name] = await timer((pass) => { for (let i = 0; i < iters; i++) k.encode(pass, { layer: 0, seqIds, queries, out, metricMode: 0 }); }, iters);
        k.destroy();
      }
    }
    if (plainOnly) { queries.destroy(); out.destroy(); return res; }
    if (sweep) {
      for (const [i, variant] of sweep.entries()) {
        const v = await createDecodeAttention(device, pool, {
          maxBatchSeqs: numSeqs, withMetric: false, tuning: variant.tuning, targetWorkgroups: variant.targetWorkgroups,
        });
        res[`v${i}`] = await timer((pass) => { for (let j = 0; j < iters; j++) v.encode(pass, { layer: 0, seqIds, queries, out, metricMode: 0 }); }, iters);
        v.destroy();
      }
      queries.destroy(); out.destroy();
      return res;
    }
    try {
      const withMetric = await createDecodeAttention(device, pool, { maxBatchSeqs: numSeqs, withMetric: true, tuning: o.tuning, targetWorkgroups: o.targetWorkgroups });
      res.msMetric = await timer((pass) => { for (let i = 0; i < Math.min(iters, 60); i++) withMetric.encode(pass, { layer: 0, seqIds, queries, out, metricMode: 2 }); }, Math.min(iters, 60));
      withMetric.destroy();
    } catch { /* metric scratch may exceed a binding: reported as "-" */ }
    queries.destroy(); out.destroy();
    return res;
  } finally {
    pool?.destroy();
  }
}

/** A probe kernel over a one-shard f16 pool of the bench's shape (256-key splits). */
async function benchProbe(device: GPUDevice, timer: Timer, ctx: number, numSeqs: number, name: string, code: string, wg: number): Promise<{ ms: number; gbPerS: number }> {
  const blocksPerHead = ctx / B;
  const dims: PoolGeometry = {
    numLayers: 1, maxSeqs: numSeqs, numKvHeads: NUM_KV, numQHeads: NUM_Q, headSize: D, blockSize: B,
    numBlocks: numSeqs * NUM_KV * blocksPerHead, maxBlocksPerHead: blocksPerHead, dtype: "f16",
  };
  const pool = createGpuKvPool(device, dims);
  try {
    await fillRandom(device, pool.kvShards.slice(0, pool.numShards));
    const perm = blockOrder(dims.numBlocks, 2 * B * D * 2, LAYOUT);
    pool.writeHeadTables(new Int32Array(numSeqs * NUM_KV).fill(ctx), perm);
    const splitKeys = 256, maxSplits = ctx / splitKeys, numWg = numSeqs * NUM_KV * maxSplits;
    const built = await buildKernel(device, {
      file: `${name}.wgsl`, sources: [...sourcesOf(KERNEL_FILES.decode("f16")).slice(0, 3), code],
      io: { bindings: { kvShard0: [0, "storage"], headTables: [4, "storage"], batch: [6, "batch"], out: [8, "storage"] } },
      constants: { ...KERNEL_CONSTANTS.appendKv(dims, pool.blocksPerShard), WG_SIZE: wg, MAX_SPLIT_KEYS: splitKeys } as Record<string, number>,
    });
    const out = device.createBuffer({ size: numWg * wg * 16, usage: GPUBufferUsage.STORAGE });
    const ring = new BatchRing(device, 4, "probe-batch");
    const group = bindGroup(device, built, { ...pool.poolBuffers(), batch: ring.buffer, out });
    const off = ring.writeIo(KERNEL_IO.decode, { layer: 0, numSeqs, splitKeys, maxSplits, metricMode: 0, scoresOffset: 0, mlOffset: 0, scoresStride: 0 });
    const kvBytes = numSeqs * NUM_KV * blocksPerHead * blockBytes(dims);
    const iters = Math.min(100, Math.max(5, Math.ceil(2e-3 / (kvBytes / 2.5e12))));
    const ms = await timer((pass) => { for (let i = 0; i < iters; i++) encodeLinear(pass, built, group, off, numWg); }, iters);
    out.destroy(); ring.destroy();
    return { ms, gbPerS: kvBytes / (ms * 1e6) };
  } finally { pool.destroy(); }
}

main().catch((e) => { console.error(e); process.exit(1); });
