// Serving throughput (issue "Serve many sequences on one pool"): N requests of P random prompt
// ids and G generated ids each (EOS ignored) through the request loop (src/engine/serve.ts) on
// one KV pool that holds only POOL_SEQS of them uncompressed, for policy `full` and kvcompress
// at 2..64x, in one run on one weights load. Per policy: total generated tok/s (first submit to
// last token), mean running batch, preemptions, compression passes and their time per generated
// token. Bounds in the same run: the copy kernel's bandwidth. Prints SERVEJSON lines.
// Usage: node bench-dist/serve/serve.mjs MODEL_DIR   (bundle: node bench/build-serve.mjs)
// Sizes from the environment: N, P, G, POOL_SEQS, MAX_SEQS, RATIOS (comma list), ROWS (matmul|matvec|auto),
// ADMISSION (peak|now), SMM=1 (prefill products on matrix units: experimentalSubgroupMatrix),
// CHUNK (prefillChunkTokens). Step profile: every PROFILE_EVERY-th decode step (default 16) its
// compute passes are timed on the GPU (dense products and norms / K/V append / attention), and
// the host's share of a step (reserve, endStep) is timed on every step.
import { requestGpuDevice } from "../sdk/device";
import { loadEngine } from "../sdk/engine";
import { KvCache } from "../src/cache";
import { createCopyProbe } from "./probes/copy";
import { installPassTimer } from "./probes/passTimer";

const env = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);
const SMALL = !!process.env.BENCH_SMALL;
const N = env("N", SMALL ? 8 : 64), P = env("P", SMALL ? 32 : 512), G = env("G", SMALL ? 8 : 64);
const POOL_SEQS = env("POOL_SEQS", SMALL ? 2 : 16), MAX_SEQS = env("MAX_SEQS", SMALL ? 8 : 64);
const RATIOS = (process.env.RATIOS ?? "2,4,8,16,32,64").split(",").map(Number);
const ROWS = (process.env.ROWS ?? "matmul") as "matmul" | "matvec" | "auto";
const ADMISSION = (process.env.ADMISSION ?? "peak") as "peak" | "now";
const SMM = process.env.SMM === "1";
const CHUNK = process.env.CHUNK ? Number(process.env.CHUNK) : undefined;
const PROFILE_EVERY = env("PROFILE_EVERY", 16);
const BLOCK = 16;

const handle = await requestGpuDevice({ experimentalSubgroupMatrix: SMM });
const device = handle.device;
console.log(`adapter: ${handle.adapterName}; N=${N} P=${P} G=${G} pool=${POOL_SEQS} seqs uncompressed, maxSeqs=${MAX_SEQS}, rows=${ROWS}, admission=${ADMISSION}, smm=${SMM}, chunk=${CHUNK ?? "default"}`);
const timer = installPassTimer(device);
// Passes begun inside these cache calls are the step's K/V append and its attention; the rest
// of a batched step's passes are the dense products, norms, RoPE, classifier and sampling.
if (timer) {
  const kp = KvCache.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const [name, label] of [["encodeAppendBatch", "append"], ["encodeAttention", "attention"]] as const) {
    const orig = kp[name]!;
    kp[name] = function (this: unknown, ...a: unknown[]) { timer.label = label; try { return orig.apply(this, a); } finally { timer.label = "dense"; } };
  }
  timer.label = "dense";
}
/** Host time inside KvCache.reserveMany (a decode step's reserve), reserve (prefill chunks) and
 *  endStep (every step's, the prompts' passes included): bookkeeping and any pass they run. */
const hostMs = { reserveMany: 0, reserve: 0, endStep: 0 };
{
  const kp = KvCache.prototype as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  for (const name of ["reserveMany", "reserve", "endStep"] as const) {
    const orig = kp[name]!;
    kp[name] = async function (this: unknown, ...a: unknown[]) { const t = performance.now(); try { return await orig.apply(this, a); } finally { hostMs[name] += performance.now() - t; } };
  }
}

async function copyGBs(): Promise<number> {
  const bytes = (SMALL ? 16 : 1024) * 2 ** 20;
  const probe = await createCopyProbe(device, bytes);
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (let j = 0; j < 10; j++) probe.encode(pass);
    pass.end();
    const t0 = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    if (i >= 2) times.push((performance.now() - t0) / 10);
  }
  probe.destroy();
  times.sort((a, b) => a - b);
  return (2 * bytes) / (times[times.length >> 1]! * 1e6);
}
console.log("BOUNDSJSON " + JSON.stringify({ copyGBs: await copyGBs() }));

const dir = process.argv[2];
if (!dir) throw new Error("usage: serve.mjs MODEL_DIR");
const ctx = Math.ceil((P + G) / BLOCK) * BLOCK;
const t0 = performance.now();
const engine = await loadEngine(dir, { device, policy: { name: "full" }, maxContextTokens: ctx, batchRows: ROWS,
  ...(SMM ? { experimentalSubgroupMatrix: true } : {}), ...(CHUNK ? { prefillChunkTokens: CHUNK } : {}) });
console.log(`loaded in ${(performance.now() - t0).toFixed(0)} ms, ${engine.weightBytes} weight bytes`);
let seed = 12345;
const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0);
const vocab = engine.config.vocabSize;
const prompts = Array.from({ length: N }, () => [1, ...Array.from({ length: P - 1 }, () => 3 + (rand() % (vocab - 3)))]);

/** Times every compression pass of a cache (bench-only: wraps its private pass). */
function timePasses(cache: KvCache): { ms: number; n: number } {
  const acc = { ms: 0, n: 0 };
  const c = cache as unknown as { pass: (ids: number[]) => Promise<unknown> };
  const orig = c.pass.bind(cache);
  c.pass = async (ids) => { const t = performance.now(); try { return await orig(ids); } finally { acc.ms += performance.now() - t; acc.n++; } };
  return acc;
}

const rows: Record<string, number | string>[] = [];
for (const ratio of [1, ...RATIOS]) {
  const policy = ratio === 1 ? { name: "full" as const } : { name: "kvcompress" as const, ratio };
  const cache = await engine.createCache(policy, ctx, BLOCK, "f32", { maxSeqs: MAX_SEQS, capacityTokens: POOL_SEQS * ctx });
  const passes = timePasses(cache);
  const server = engine.serveOn(cache, { admission: ADMISSION });
  // warm-up: one short request (pipelines, first passes)
  for await (const _ of server.submit(prompts[0]!.slice(0, 32), { maxTokens: 2, stopIds: [] })) { /* drain */ }
  const before = server.stats();
  passes.ms = 0; passes.n = 0;
  hostMs.reserveMany = 0; hostMs.reserve = 0; hostMs.endStep = 0;
  // Every PROFILE_EVERY-th batched step: its passes timed (the readback of the timestamps waits
  // after the step's own, so a sampled step is a little longer; 1 in 16 by default).
  const gpuMs = new Map<string, number>();
  let sampled = 0, sampledRows = 0, sampledWallMs = 0, stepNo = 0;
  const stepper = (server as unknown as { stepper: { decode: (...a: unknown[]) => Promise<Uint32Array> } }).stepper;
  const decode = stepper.decode;
  stepper.decode = async (...a: unknown[]) => {
    if (!timer || ++stepNo % PROFILE_EVERY !== 0) return decode(...a);
    timer.on = true;
    const t = performance.now();
    try {
      return await decode(...a);
    } finally {
      sampledWallMs += performance.now() - t;
      timer.on = false;
      sampled++;
      sampledRows += (a[1] as number[]).length;
      for (const [k, v] of (await timer.take()).ms) gpuMs.set(k, (gpuMs.get(k) ?? 0) + v);
    }
  };
  const start = performance.now();
  let last = start;
  const streams = prompts.map((p) => server.submit(p, { maxTokens: G, stopIds: [] }));
  await Promise.all(streams.map(async (s) => { for await (const _ of s) last = performance.now(); }));
  const s = server.stats();
  const gen = s.generatedTokens - before.generatedTokens, wallMs = last - start;
  const waits = streams.map((x) => x.stats().queueWaitMs).sort((a, b) => a - b);
  const row = {
    policy: ratio === 1 ? "full" : `kvcompress ${ratio}x`, ratio, N, P, G, poolSeqsUncompressed: POOL_SEQS, maxSeqs: MAX_SEQS, rows: ROWS,
    generated: gen, wallMs, tokS: gen / (wallMs / 1000),
    meanBatch: (s.meanBatch * s.decodeSteps - before.meanBatch * before.decodeSteps) / Math.max(1, s.decodeSteps - before.decodeSteps),
    decodeSteps: s.decodeSteps - before.decodeSteps, prefills: s.prefills - before.prefills, preemptions: s.preemptions - before.preemptions,
    replayed: s.replayedTokens - before.replayedTokens, passes: passes.n, passMs: passes.ms, passMsPerToken: passes.ms / Math.max(1, gen),
    decodeMs: s.decodeMs - before.decodeMs, prefillMs: s.prefillMs - before.prefillMs, peakBytes: s.peakBytesInUse,
    poolBlocks: cache.config.numBlocks, admission: ADMISSION, smm: SMM ? 1 : 0,
    reserveMsPerStep: hostMs.reserveMany / Math.max(1, s.decodeSteps - before.decodeSteps),
    prefillReserveMs: hostMs.reserve,
    endStepMsPerStep: hostMs.endStep / Math.max(1, s.decodeSteps - before.decodeSteps),
    profiledSteps: sampled, profiledMeanRows: sampledRows / Math.max(1, sampled), profiledWallMs: sampledWallMs / Math.max(1, sampled),
    gpuDenseMs: (gpuMs.get("dense") ?? 0) / Math.max(1, sampled), gpuAppendMs: (gpuMs.get("append") ?? 0) / Math.max(1, sampled),
    gpuAttentionMs: (gpuMs.get("attention") ?? 0) / Math.max(1, sampled),
    queueWaitMedianMs: waits[waits.length >> 1]!, queueWaitMaxMs: waits[waits.length - 1]!,
  };
  rows.push(row);
  console.log("SERVEJSON " + JSON.stringify(row));
  server.destroy();
  cache.destroy();
}
const full = rows[0]!.tokS as number;
const f = (x: unknown, d = 2) => (x as number).toFixed(d);
for (const r of rows) {
  console.log(`${String(r.policy).padEnd(16)} ${f(r.tokS, 1).padStart(8)} tok/s  ${f((r.tokS as number) / full)}x  batch ${f(r.meanBatch, 1)}  preempt ${r.preemptions}  pass ${f(r.passMsPerToken)} ms/token` +
    `  step: ${f((r.decodeMs as number) / (r.decodeSteps as number))} ms (reserve ${f(r.reserveMsPerStep)}, endStep ${f(r.endStepMsPerStep)}; profiled ${f(r.profiledWallMs)} ms at ${f(r.profiledMeanRows, 1)} rows: GPU dense ${f(r.gpuDenseMs)}, append ${f(r.gpuAppendMs)}, attention ${f(r.gpuAttentionMs)})`);
}
engine.destroy();
process.exit(0);
