// bench/pass.bench.ts — one compression pass on a real GPU, split into its parts (issue "Serve many
// sequences on one pool", "The pass itself"): 32 layers × 8 KV heads × T tokens of one sequence
// (T = 32K and 8K, head size 128, f16, b = 16) compressed 8× (maxTokensPerHead = T/8), metrics
// random and all tied (0, as appended), through the wasm-scheduled pass (the old path: GPU sort →
// chunk keys read back → wasm schedule → GPU evicted indices → read back → wasm planMoves → moves
// uploaded) and through the device pass (src/gpu/kernels/devicePass.ts: everything on the GPU, n
// per head read back, the wasm applies it). Then the decode path: STEPS decode steps after the
// prompt pass with the continual trigger, the pass time each step costs.
//   bundle: node bench/build-pass.mjs   run: node bench-dist/pass/pass.mjs [out.json]
// Each part: wall time (performance.now) around the call and, for GPU work, submit → done; GPU
// parts also GPU timestamps. "e2e" is KvCache.endStep after appending the prompt. Medians.
// BENCH_SMALL=1: a smoke run on a software adapter.

import { create, globals } from "webgpu";
import controlWasm from "kvcompress:wasm/control";
import { blockBytes, defineConfig, type KvCacheConfig } from "../src/config";
import { poolGeometry } from "../src/contract";
import { ControlPlane } from "../src/control/plane";
import { createGpuBackend, type GpuBackend } from "../src/gpu/backend";
import { KvCache } from "../src/cache";
import { createRng } from "../src/model/sample";
import { createCopyProbe } from "./probes/copy";

Object.assign(globalThis, globals);
const SMALL = !!process.env.BENCH_SMALL;
const L = SMALL ? 2 : 32, QH = SMALL ? 4 : 32, H = SMALL ? 2 : 8, D = SMALL ? 16 : 128, B = 16;
const TS = SMALL ? [1024, 512] : [32768, 8192];
const SAMPLES = SMALL ? 2 : 5;
const STEPS = SMALL ? 6 : 48;
const PROTECTED = 8;
let gpuInstance: GPU | undefined;

const median = (xs: number[]) => (xs.length ? xs.slice().sort((a, b) => a - b)[xs.length >> 1] : NaN);
const f = (x: number) => (Number.isFinite(x) ? x.toFixed(x < 10 ? 3 : 1) : "-");

interface Rig { cfg: KvCacheConfig; control: ControlPlane; backend: GpuBackend; cache: KvCache; kBuf: GPUBuffer; vBuf: GPUBuffer }

async function main(): Promise<void> {
  const gpu = (gpuInstance = create(["disable-dawn-features=timestamp_quantization"]));
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new Error("no adapter");
  const limits: Record<string, number> = {};
  for (const k in adapter.limits) limits[k] = (adapter.limits as unknown as Record<string, number>)[k];
  const hasTs = adapter.features.has("timestamp-query");
  const features = (["timestamp-query", "subgroups", "shader-f16"] as const).filter((x) => adapter.features.has(x));
  const device = await adapter.requestDevice({ requiredLimits: limits, requiredFeatures: features });
  device.addEventListener("uncapturederror", (e) => console.error("uncaptured:", (e as GPUUncapturedErrorEvent).error.message));
  const info = adapter.info;
  console.log(`adapter: ${info.vendor} ${info.architecture} ${info.description}; timestamps: ${hasTs}; ${new Date().toISOString()}`);
  const q = device.queue;
  const qs = hasTs ? device.createQuerySet({ type: "timestamp", count: 8 }) : undefined;
  const resolve = device.createBuffer({ size: 64, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const tsRead = device.createBuffer({ size: 64, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const tsWrites = (i: number) => (qs ? { timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } } : {});
  /** ms between timestamp pairs 0..n−1 of the last submit (NaN without timestamps). */
  const gpuMs = async (n: number): Promise<number[]> => {
    if (!qs) return Array(n).fill(NaN);
    const enc = device.createCommandEncoder();
    enc.resolveQuerySet(qs, 0, 2 * n, resolve, 0);
    enc.copyBufferToBuffer(resolve, 0, tsRead, 0, 16 * n);
    q.submit([enc.finish()]);
    await tsRead.mapAsync(GPUMapMode.READ);
    const t = new BigInt64Array(tsRead.getMappedRange().slice(0, 16 * n));
    tsRead.unmap();
    return Array.from({ length: n }, (_, i) => Number(t[2 * i + 1] - t[2 * i]) / 1e6);
  };
  const done = () => q.onSubmittedWorkDone();
  const out: Record<string, unknown>[] = [];

  // Same-run baseline: a plain copy kernel's bandwidth.
  const copyBytes = SMALL ? 16 * 2 ** 20 : 512 * 2 ** 20;
  const copy = await createCopyProbe(device, copyBytes);
  const copyMs: number[] = [];
  for (let s = 0; s < 7; s++) {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass(tsWrites(0));
    copy.encode(pass);
    pass.end();
    q.submit([enc.finish()]);
    copyMs.push((await gpuMs(1))[0]);
  }
  copy.destroy();
  const copyGBs = (2 * copyBytes) / (median(copyMs.slice(2)) * 1e6);
  console.log(`copy kernel: ${copyGBs.toFixed(0)} GB/s (read + written, ${copyBytes >> 20} MiB)`);
  out.push({ kind: "copy", gbPerS: copyGBs });

  for (const T of TS) {
    for (const devicePass of [false, true]) {
      const path = devicePass ? "device" : "wasm";
      const rig = await makeRig(device, T, devicePass);
      const { cache, control, backend, cfg } = rig;
      const b = backend as unknown as Record<string, any>; // the bench reaches into the backend's parts
      for (const metrics of ["random", "tied"] as const) {
        const e2e: number[] = [];
        const parts: Record<string, number[]> = {};
        const add = (k: string, v: number) => (parts[k] ??= []).push(v);
        let report = "";
        for (let s = 0; s < SAMPLES + 1; s++) {
          // e2e sample
          let seq = await prompt(rig, T, metrics, 7);
          let t0 = performance.now();
          const r = await cache.endStep([seq]);
          await done();
          if (s > 0) e2e.push(performance.now() - t0);
          report = `evicted ${r?.evictedKvs} KVs, freed ${r?.blocksFreed} blocks`;
          cache.removeSequence(seq);
          // parts sample: the same pass, step by step, with the same metrics
          seq = await prompt(rig, T, metrics, 7);
          if (!control.endStep(seq)) throw new Error("no pass due after the prompt");
          const ids = [seq];
          const prot = { protectedWindow: PROTECTED, sinks: 0, queryAvg: false };
          const keep = s > 0;
          if (!devicePass) {
            const M = cfg.maxBlocksPerHead, keyBytes = 4 * L * H * M;
            const ck = b.buffer("chunkKeys", keyBytes);
            t0 = performance.now();
            let enc = device.createCommandEncoder();
            let pass = enc.beginComputePass(tsWrites(0));
            b.k.ordering.encodeSort(pass, { seqIds: ids, seqLens: [control.seqLens[seq]], ...prot, chunkKeys: ck });
            pass.end();
            q.submit([enc.finish()]);
            await done();
            const tSort = performance.now() - t0;
            b.lastPass = `${ids.join(",")}|${prot.protectedWindow}|${prot.sinks}|0`;
            const [gSort] = await gpuMs(1);
            t0 = performance.now();
            const keys = await b.read(ck, 0, keyBytes);
            control.chunkKeys(1).set(new Float32Array(keys));
            const tReadKeys = performance.now() - t0;
            t0 = performance.now();
            control.schedulePass(ids);
            const tSchedule = performance.now() - t0;
            const offsets = control.evictedOffsets(1), total = offsets[L * H];
            t0 = performance.now();
            const ib = b.buffer("evicted", 4 * total);
            const cb = b.upload("counts", control.evictCounts(1).slice()), ob = b.upload("offsets", offsets);
            enc = device.createCommandEncoder();
            pass = enc.beginComputePass(tsWrites(0));
            b.k.ordering.encodeEvicted(pass, { evictCounts: cb, evictedOffsets: ob, evictedIdx: ib });
            pass.end();
            q.submit([enc.finish()]);
            await done();
            const tEvict = performance.now() - t0;
            const [gEvict] = await gpuMs(1);
            t0 = performance.now();
            control.evictedIdx.set(new Uint32Array(await b.read(ib, 0, 4 * total)));
            const tReadIdx = performance.now() - t0;
            t0 = performance.now();
            const { numMoves } = control.planMoves();
            const tPlan = performance.now() - t0;
            t0 = performance.now();
            const mb = b.upload("moves", control.moves(numMoves));
            enc = device.createCommandEncoder();
            pass = enc.beginComputePass(tsWrites(0));
            b.k.moves.encode(pass, { moves: mb, numMoves });
            pass.end();
            q.submit([enc.finish()]);
            await done();
            const tMoves = performance.now() - t0;
            const [gMoves] = await gpuMs(1);
            t0 = performance.now();
            backend.syncTables(ids);
            await done();
            const tSync = performance.now() - t0;
            if (keep) {
              add("sort (gather, bitonic sort, chunk keys) submit→done", tSort); add("  GPU time", gSort);
              add("chunk keys readback + copy into wasm", tReadKeys); add("  MiB read back", keyBytes / 2 ** 20);
              add("wasm schedulePass", tSchedule);
              add("evicted indices (mark, compact) upload+submit→done", tEvict); add("  GPU time ", gEvict);
              add("evicted indices readback + copy into wasm", tReadIdx); add("  MiB read back ", (4 * total) / 2 ** 20);
              add("wasm planMoves", tPlan);
              add("moves (count)", numMoves);
              add("moves upload + execute, submit→done", tMoves); add("  GPU time  ", gMoves);
              add("syncTables", tSync);
              add("sum of parts", tSort + tReadKeys + tSchedule + tEvict + tReadIdx + tPlan + tMoves + tSync);
            }
          } else {
            t0 = performance.now();
            const budgets = control.passBudgets(ids).slice();
            let maxCtxLen = 0, maxMoves = 0;
            for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) {
              const c = control.ctxLens[(l * cfg.maxSeqs + seq) * H + h];
              maxCtxLen = Math.max(maxCtxLen, c); maxMoves += c >> 1;
            }
            let enc = device.createCommandEncoder();
            b.k.pass.encode(enc, { seqIds: ids, seqLens: [control.seqLens[seq]], budgets, ...prot, maxCtxLen, maxMoves }, qs ? { querySet: qs, first: 0 } : undefined);
            q.submit([enc.finish()]);
            await done();
            const tSelect = performance.now() - t0;
            const [gGlobal, gHead, gPlan] = await gpuMs(3);
            t0 = performance.now();
            const bytes = 4 * (1 + L * H);
            const words = new Uint32Array(await b.read(b.k.pass.result, 0, bytes));
            const counts = new Int32Array(words.buffer, 4, L * H).slice();
            const tRead = performance.now() - t0;
            t0 = performance.now();
            control.applyEvictCounts(counts);
            const tApply = performance.now() - t0;
            const numMoves = words[0];
            t0 = performance.now();
            enc = device.createCommandEncoder();
            const pass = enc.beginComputePass(tsWrites(0));
            b.k.moves.encode(pass, { moves: b.k.pass.moves, numMoves });
            pass.end();
            q.submit([enc.finish()]);
            await done();
            const tMoves = performance.now() - t0;
            const [gMoves] = await gpuMs(1);
            t0 = performance.now();
            backend.syncTables(ids);
            await done();
            const tSync = performance.now() - t0;
            if (keep) {
              add("device select + plan (all kernels) submit→done", tSelect);
              add("  GPU: global select (4 rounds)", gGlobal); add("  GPU: per-head selects", gHead); add("  GPU: tally, offsets, move list", gPlan);
              add(`readback of n per head (${bytes} B)`, tRead);
              add("wasm applyEvictCounts", tApply);
              add("moves (count)", numMoves);
              add("execute the moves (on the GPU already), submit→done", tMoves); add("  GPU time  ", gMoves);
              add("syncTables", tSync);
              add("sum of parts", tSelect + tRead + tApply + tMoves + tSync);
            }
          }
          cache.removeSequence(seq);
        }
        console.log(`\n${path} pass, T=${T}, metrics ${metrics} (${report}): e2e endStep ${f(median(e2e))} ms (min ${f(Math.min(...e2e))}, max ${f(Math.max(...e2e))})`);
        for (const [k, v] of Object.entries(parts)) console.log(`  ${k.padEnd(66)} ${(/MiB/.test(k) ? median(v).toFixed(3) : f(median(v))).padStart(8)}${/count|MiB/.test(k) ? "" : " ms"}`);
        out.push({ kind: "pass", path, T, metrics, report, e2e, parts: Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, median(v)])) });
      }
      // Decode under the continual trigger: STEPS steps after the prompt pass (random metrics).
      const seq = await prompt(rig, T - STEPS - 8, "random", 11);
      await cache.endStep([seq]);
      const k1 = device.createBuffer({ size: 4 * H * D, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
      const stepMs: number[] = [];
      let passes = 0, evicted = 0;
      for (let t = 0; t < STEPS; t++) {
        await cache.reserve(seq, 1);
        const enc = device.createCommandEncoder();
        for (let l = 0; l < L; l++) cache.encodeAppend(enc, l, seq, k1, k1);
        q.submit([enc.finish()]);
        await done();
        const t0 = performance.now();
        const r = await cache.endStep([seq]);
        await done();
        stepMs.push(performance.now() - t0);
        if (r) { passes++; evicted += r.evictedKvs; }
      }
      const mean = stepMs.reduce((a, x) => a + x, 0) / STEPS;
      console.log(`\n${path} decode, T=${T}: ${passes} passes in ${STEPS} steps, ${evicted} KVs evicted; endStep per generated token: mean ${f(mean)} ms, ` +
        `median ${f(median(stepMs))} ms, max ${f(Math.max(...stepMs))} ms`);
      out.push({ kind: "decode", path, T, steps: STEPS, passes, evicted, meanMs: mean, stepMs });
      k1.destroy();
      cache.destroy();
      rig.kBuf.destroy(); rig.vBuf.destroy();
    }
  }
  const file = process.argv[2];
  if (file) (await import("node:fs")).writeFileSync(file, JSON.stringify({ adapter: info.description, hasTs, date: new Date().toISOString(), out }, null, 1));
  process.exit(0);
}

async function makeRig(device: GPUDevice, T: number, devicePass: boolean): Promise<Rig> {
  const cfg = defineConfig({
    numLayers: L, numQHeads: QH, numKvHeads: H, headSize: D, blockSize: B, storage: "f16",
    capacityBlocks: L * H * (T / B + 2), maxContextTokens: T, maxSeqs: 1,
    policy: { name: "kvcompress", maxTokensPerHead: T / 8, protectedWindow: PROTECTED, trigger: "continual" },
  });
  const control = await ControlPlane.create(controlWasm, { ...poolGeometry(cfg), bytesPerBlock: blockBytes(cfg) });
  const backend = await createGpuBackend(device, "bench", cfg, control, { devicePass });
  const cache = new KvCache(cfg, control, backend, () => undefined);
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  const kBuf = device.createBuffer({ size: 4 * T * H * D, usage }), vBuf = device.createBuffer({ size: 4 * T * H * D, usage });
  const rng = createRng(3);
  const row = Float32Array.from({ length: H * D * 256 }, () => rng() * 2 - 1);
  for (let t = 0; t < T; t += 256) { device.queue.writeBuffer(kBuf, 4 * t * H * D, row); device.queue.writeBuffer(vBuf, 4 * t * H * D, row.map((x) => -x)); }
  return { cfg, control, backend, cache, kBuf, vBuf };
}

/** A fresh sequence with an appended prompt of n tokens and its metrics: random (seeded) or all 0. */
async function prompt(rig: Rig, n: number, metrics: "random" | "tied", seed: number): Promise<number> {
  const { cache, backend, control, kBuf, vBuf } = rig;
  const device = backend.device;
  const seq = cache.addSequence();
  await cache.reserve(seq, n);
  const enc = device.createCommandEncoder();
  for (let l = 0; l < L; l++) cache.encodeAppend(enc, l, seq, kBuf, vBuf);
  device.queue.submit([enc.finish()]);
  if (metrics === "random") {
    const slots = rig.cfg.numBlocks * B, rng = createRng(seed);
    const m = new Float32Array(slots);
    for (let i = 0; i < slots; i++) m[i] = rng() * 4;
    device.queue.writeBuffer(backend.pool.slotMeta, 0, m);
  }
  await device.queue.onSubmittedWorkDone();
  void control;
  return seq;
}

main().catch((e) => { console.error(e); process.exit(1); });
