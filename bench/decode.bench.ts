// bench/decode.bench.ts — paged decode attention on a real GPU (issue 4): 32 query / 8 KV heads,
// d = 128, packed f16, b = 16, 4K / 32K / 128K tokens × 1 / 16 sequences, next to a plain WGSL
// copy kernel measured in the same run (the roofline). Node + the `webgpu` package (Dawn).
//   bundle: node bench/build-gpu.mjs   run: node bench-dist/decode.mjs [outFile.json]
// Times are GPU timestamps around one compute pass of N back-to-back decodes (median of
// samples); without timestamp-query, wall time of submit + onSubmittedWorkDone over N.

import { create, globals } from "webgpu";
import { createGpuKvPool, type GpuKvPool } from "../src/gpu/pool";
import { createDecodeAttention } from "../src/kernels/decodeAttention";
import { KERNEL_CONSTANTS, KERNEL_FILES, sourcesOf } from "../src/kernels/sources";
import { bindGroup, buildKernel, encodeLinear } from "../src/kernels/build";
import { BatchRing } from "../src/gpu/dispatch";
import { WG, type DecodeTuning, type KernelDims } from "../src/layout";

/** Kernel knob variants tried on a few shapes after the main table (one device call learns them all). */
const SWEEP: Partial<DecodeTuning>[] = [
  { shardFastPath: false }, { hoistShardSwitch: true }, { wgSize: 128 }, { lanesPerKey: 1 }, { lanesPerKey: 4 }, { maxSplitKeys: 512 },
];
const SWEEP_SHAPES: [number, number][] = [[32768, 16], [131072, 1], [130048, 16], [4096, 16]];

Object.assign(globalThis, globals);

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

// Kept in a module variable: Dawn aborts if the GPU object is collected while its devices live
// (docs/CONTRACTS.md "Known runtime hazards").
let gpuInstance: GPU | undefined;

async function main(): Promise<void> {
  const gpu = (gpuInstance = create(["disable-dawn-features=timestamp_quantization"]));
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new Error("no adapter");
  const limits: Record<string, number> = {};
  for (const k in adapter.limits) limits[k] = (adapter.limits as unknown as Record<string, number>)[k];
  const hasTs = adapter.features.has("timestamp-query");
  const device = await adapter.requestDevice({ requiredLimits: limits, requiredFeatures: hasTs ? ["timestamp-query"] : [] });
  device.addEventListener("uncapturederror", (e) => console.error("uncaptured:", (e as GPUUncapturedErrorEvent).error.message));
  const info = adapter.info;
  const results: Record<string, unknown>[] = [];
  console.log(`adapter: ${info.vendor} ${info.architecture} ${info.device} ${info.description}; timestamps: ${hasTs}`);
  console.log(`limits: maxStorageBufferBindingSize=${limits.maxStorageBufferBindingSize} maxBufferSize=${limits.maxBufferSize}`);
  const timer = makeTimer(device, hasTs);

  const copyGBs = await benchCopy(device, timer);
  console.log(`copy: ${copyGBs.toFixed(0)} GB/s (read + written)`);
  results.push({ kind: "copy", gbPerS: copyGBs });

  for (const ctx of CTXS) for (const numSeqs of SEQS) {
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
    console.log(`decode ctx=${ctx} seqs=${numSeqs}: ${f(row.ms)} ms, ${f(row.gbPerS)} GB/s (${f(row.pctOfCopy)}% of copy); ` +
      `target 4096 wg: ${f(row.msWide)} ms; L2 metric: ${f(row.msMetric)} ms${row.error ? ` ERROR ${row.error}` : ""}`);
  }
  if (!SMALL && !PLAIN_ONLY) {
    console.log("\nsweep (ms; default = wg 256, maxSplitKeys 256, lanesPerKey 2, shard fast path, no hoist):");
    for (const [ctx, numSeqs] of SWEEP_SHAPES) {
      try {
        const r = await benchDecode(device, timer, ctx, numSeqs, SWEEP);
        results.push({ kind: "sweep", ctx, numSeqs, ...r });
        console.log(`ctx=${ctx} seqs=${numSeqs}: default ${r.ms.toFixed(3)} | ` +
          SWEEP.map((t, i) => `${JSON.stringify(t)} ${(r as Record<string, number>)[`v${i}`]?.toFixed(3)}`).join(" | "));
      } catch (e) { console.log(`sweep ctx=${ctx} seqs=${numSeqs}: ${e instanceof Error ? e.message : e}`); }
    }
  }
  const out = process.argv[2];
  if (out) (await import("node:fs")).writeFileSync(out, JSON.stringify({ adapter: info.description || info.device, hasTs, results }, null, 1));
  for (const r of results) if (r.kind === "decode" && typeof r.gbPerS === "number") r.pctOfCopy = (100 * (r.gbPerS as number)) / copyGBs;
  console.log("\nctx     seqs  ms       GB/s    %copy  ms(4096wg) ms(L2 metric)");
  for (const r of results.filter((x) => x.kind === "decode")) {
    console.log(`${String(r.ctxUsed ?? r.ctx).padEnd(8)}${String(r.numSeqs).padEnd(6)}${num(r.ms, 9)}${num(r.gbPerS, 8)}${num(r.pctOfCopy, 7)}${num(r.msWide, 11)}${num(r.msMetric, 8)}${r.error ? " " + r.error : ""}`);
  }
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
    for (let s = 0; s < SAMPLES + 2; s++) {
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
      if (s >= 2) samples.push(ms / iters); // 2 warm-up samples
    }
    samples.sort((a, b) => a - b);
    return samples[samples.length >> 1];
  };
}

async function benchCopy(device: GPUDevice, timer: Timer): Promise<number> {
  const bytes = COPY_BYTES;
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  const src = device.createBuffer({ size: bytes, usage }), dst = device.createBuffer({ size: bytes, usage });
  await fillRandom(device, [src]);
  const built = await buildKernel(device, {
    file: "copy_buffer.wgsl", sources: sourcesOf(KERNEL_FILES.copy()),
    bindings: { 6: "batch", 7: "read-only-storage", 8: "storage" }, constants: KERNEL_CONSTANTS.copy({} as KernelDims, 0),
  });
  const ring = new BatchRing(device, 4, "copy-batch");
  const group = bindGroup(device, built, { 6: ring.buffer, 7: src, 8: dst });
  const off = ring.write([bytes / 16]);
  const iters = SMALL ? 2 : 20;
  const ms = await timer((pass) => {
    for (let i = 0; i < iters; i++) encodeLinear(pass, built, group, off, Math.ceil(bytes / 16 / (WG.copy * 4)));
  }, iters);
  src.destroy(); dst.destroy(); ring.destroy();
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

async function benchDecode(device: GPUDevice, timer: Timer, ctx: number, numSeqs: number,
  sweep?: Partial<DecodeTuning>[]): Promise<Record<string, number>> {
  const blocksPerHead = ctx / B;
  const dims: KernelDims = {
    numLayers: 1, maxSeqs: numSeqs, numKvHeads: NUM_KV, numQHeads: NUM_Q, headSize: D, blockSize: B,
    numBlocks: numSeqs * NUM_KV * blocksPerHead, maxBlocksPerHead: blocksPerHead, dtype: "f16",
  };
  let pool: GpuKvPool | undefined;
  try {
    pool = createGpuKvPool(device, dims);
    await fillRandom(device, pool.kvShards.slice(0, pool.numShards));
    // Blocks scattered: a random permutation of the pool, as after a long-running server.
    const perm = Int32Array.from({ length: dims.numBlocks }, (_, i) => i);
    for (let i = perm.length - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [perm[i], perm[j]] = [perm[j], perm[i]]; }
    pool.writeHeadTables(new Int32Array(numSeqs * NUM_KV).fill(ctx), perm);
    const q = new Float32Array(numSeqs * NUM_Q * D).map(() => Math.random() * 2 - 1);
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
    const queries = device.createBuffer({ size: q.byteLength, usage });
    device.queue.writeBuffer(queries, 0, q);
    const out = device.createBuffer({ size: q.byteLength, usage });
    const seqIds = Array.from({ length: numSeqs }, (_, i) => i);
    const kvBytes = numSeqs * NUM_KV * ctx * D * 2 * 2;
    const iters = SMALL ? 2 : Math.min(100, Math.max(5, Math.ceil(2e-3 / (kvBytes / 2.5e12))));
    const res: Record<string, number> = { iters, shards: pool.numShards, kvBytes };
    const plain = await createDecodeAttention(device, pool, { maxBatchSeqs: numSeqs, withMetric: false, targetWorkgroups: 1024 });
    res.ms = await timer((pass) => { for (let i = 0; i < iters; i++) plain.encode(pass, { layer: 0, seqIds, queries, out, metricMode: 0 }); }, iters);
    res.gbPerS = kvBytes / (res.ms * 1e6);
    plain.destroy();
    if (PLAIN_ONLY) { queries.destroy(); out.destroy(); return res; }
    if (sweep) {
      for (const [i, tuning] of sweep.entries()) {
        const v = await createDecodeAttention(device, pool, { maxBatchSeqs: numSeqs, withMetric: false, tuning });
        res[`v${i}`] = await timer((pass) => { for (let j = 0; j < iters; j++) v.encode(pass, { layer: 0, seqIds, queries, out, metricMode: 0 }); }, iters);
        v.destroy();
      }
      queries.destroy(); out.destroy();
      return res;
    }
    // The split grid's target matters most for one sequence: try 4× more workgroups too.
    const wide = await createDecodeAttention(device, pool, { maxBatchSeqs: numSeqs, withMetric: false, targetWorkgroups: 4096 });
    res.msWide = await timer((pass) => { for (let i = 0; i < iters; i++) wide.encode(pass, { layer: 0, seqIds, queries, out, metricMode: 0 }); }, iters);
    wide.destroy();
    try {
      const withMetric = await createDecodeAttention(device, pool, { maxBatchSeqs: numSeqs, withMetric: true, targetWorkgroups: 1024 });
      res.msMetric = await timer((pass) => { for (let i = 0; i < Math.min(iters, 60); i++) withMetric.encode(pass, { layer: 0, seqIds, queries, out, metricMode: 2 }); }, Math.min(iters, 60));
      withMetric.destroy();
    } catch { /* metric scratch may exceed a binding: reported as "-" */ }
    queries.destroy(); out.destroy();
    return res;
  } finally {
    pool?.destroy();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
