// Decode attention on the CPU backend, one core: 8 KV heads × d 128 (32 query heads, GQA 4),
// one sequence of 4K and 32K tokens, f32 and f16 storage. Prints time per decode step and
// effective K+V bytes/s, next to a plain JavaScript loop doing the same attention over the
// same paged memory, and this machine's single-core memory bandwidth (big TypedArray sum and
// copy). Not a timed test; results go to docs/bench/cpu.md.
//
//   node --input-type=module -e "const {commonOptions}=await import('./scripts/esbuild-plugins.mjs');
//     const esbuild=await import('esbuild'); await esbuild.build({...commonOptions('release'),
//     entryPoints:['bench/cpu_decode.bench.ts'],outfile:'bench-dist/cpu_decode.mjs',platform:'node'})"
//   node bench-dist/cpu_decode.mjs
import cpuWasm from "kvcompress:wasm/cpu";
import { CpuKvPool } from "../src/cpu/pool";

const H = 8, R = 4, D = 128, B = 16;
const argv = (globalThis as { process?: { argv: string[] } }).process?.argv ?? [];
const now = () => performance.now();

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** Runs fn until ≥ minMs and ≥ 3 runs have passed; median ms per run. */
function time(fn: () => void, minMs = 1500): number {
  fn(); // warm-up (JIT, page faults)
  const ts: number[] = [];
  const t0 = now();
  while (ts.length < 3 || now() - t0 < minMs) {
    const t = now();
    fn();
    ts.push(now() - t);
  }
  return median(ts);
}

/** wasm SIMD streaming read over a 512 MiB scratch region of a fresh cpu.wasm instance. */
async function wasmReadBandwidth(): Promise<number> {
  const pool = await CpuKvPool.create(cpuWasm, {
    numLayers: 1, maxSeqs: 1, numKvHeads: 1, numQHeads: 1, headSize: 4, blockSize: 1, numBlocks: 1,
    maxBlocksPerHead: 1, dtype: "f32",
  });
  const n = 512 << 20, p = pool.scratch(31, n);
  new Uint8Array(pool.wasm.memory.buffer, p, n).fill(1); // touch every page
  return n / time(() => pool.wasm.cpuStreamRead(p, n)) / 1e6;
}

function memoryBandwidth(): { readGBs: number; copyGBs: number } {
  const n = 64 << 20; // 512 MiB of f64 per array: far past every cache
  const a = new Float64Array(n), b = new Float64Array(n);
  for (let i = 0; i < n; i += 512) a[i] = i; // touch every page
  b.fill(1);
  let sink = 0;
  const read = time(() => {
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let i = 0; i < n; i += 4) { s0 += a[i]; s1 += a[i + 1]; s2 += a[i + 2]; s3 += a[i + 3]; }
    sink += s0 + s1 + s2 + s3;
  });
  const copy = time(() => b.set(a));
  if (sink === 42) console.log("");
  return { readGBs: (n * 8) / read / 1e6, copyGBs: (2 * n * 8) / copy / 1e6 };
}

/** Plain-JS paged decode attention over the pool's own memory (same blocks, same work). */
function jsDecode(pool: CpuKvPool, ctx: number, q: Float32Array, out: Float32Array, half: Float32Array | null): void {
  const kv = pool.kvView(), tables = pool.blockTablesView();
  const kvf = kv instanceof Float32Array ? kv : new Float32Array(0);
  const kvh = kv instanceof Uint16Array ? kv : new Uint16Array(0);
  const M = pool.config.maxBlocksPerHead, scale = 1 / Math.sqrt(D);
  const s = new Float32Array(ctx);
  for (let h = 0; h < H; h++) for (let g = 0; g < R; g++) {
    const qo = (h * R + g) * D;
    let m = -Infinity;
    for (let i = 0; i < ctx; i++) {
      const base = (tables[h * M + ((i / B) | 0)] * 2 * B + (i % B)) * D;
      let dot = 0;
      if (half) for (let j = 0; j < D; j++) dot += q[qo + j] * half[kvh[base + j]];
      else for (let j = 0; j < D; j++) dot += q[qo + j] * kvf[base + j];
      s[i] = dot * scale;
      if (s[i] > m) m = s[i];
    }
    let l = 0;
    for (let i = 0; i < ctx; i++) { s[i] = Math.exp(s[i] - m); l += s[i]; }
    out.fill(0, qo, qo + D);
    for (let i = 0; i < ctx; i++) {
      const base = (tables[h * M + ((i / B) | 0)] * 2 * B + B + (i % B)) * D, p = s[i] / l;
      if (half) for (let j = 0; j < D; j++) out[qo + j] += p * half[kvh[base + j]];
      else for (let j = 0; j < D; j++) out[qo + j] += p * kvf[base + j];
    }
  }
}

async function benchOne(ctx: number, dtype: "f32" | "f16", withJs: boolean): Promise<string> {
  const M = ctx / B, numBlocks = H * M;
  const pool = await CpuKvPool.create(cpuWasm, {
    numLayers: 1, maxSeqs: 1, numKvHeads: H, numQHeads: H * R, headSize: D, blockSize: B,
    numBlocks, maxBlocksPerHead: M, dtype,
  });
  // scattered blocks: a fixed permutation of the pool
  const tables = pool.blockTablesView();
  const stride = argv.includes("--contig") ? 1 : 7919;
  for (let i = 0; i < numBlocks; i++) tables[i] = (i * stride) % numBlocks;
  pool.ctxLensView().fill(ctx);
  pool.seqLensView().fill(ctx);
  const kv = pool.kvView();
  let x = 12345;
  for (let i = 0; i < kv.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const v = (x >>> 8) / 2 ** 24 - 0.5;
    kv[i] = dtype === "f16" ? pool.wasm.cpuF32ToF16(v) : v;
  }
  const q = new Float32Array(H * R * D).map((_, i) => Math.sin(i));
  const bytes = H * ctx * 2 * D * (dtype === "f16" ? 2 : 4);
  const fmt = (ms: number) => `${ms.toFixed(2)} ms, ${(bytes / ms / 1e6).toFixed(2)} GB/s`;
  const tNone = time(() => pool.decode(0, [0], q, 0));
  const tL2 = time(() => pool.decode(0, [0], q, 2));
  let line = `| ${ctx / 1024}K | ${dtype} | ${(bytes / 2 ** 20).toFixed(0)} MiB | ${fmt(tNone)} | ${fmt(tL2)} |`;
  if (withJs) {
    let half: Float32Array | null = null;
    if (dtype === "f16") half = Float32Array.from({ length: 65536 }, (_, h) => pool.wasm.cpuF16ToF32(h));
    const out = new Float32Array(H * R * D);
    const tJs = time(() => jsDecode(pool, ctx, q, out, half), 3000);
    const wasmOut = pool.decode(0, [0], q, 0);
    let err = 0;
    for (let i = 0; i < out.length; i++) err = Math.max(err, Math.abs(out[i] - wasmOut[i]));
    line += ` ${fmt(tJs)} (max abs diff ${err.toExponential(1)}) |`;
  } else line += " – |";
  return line;
}

// --quick: 4K only, no JS loop and no bandwidth probe (for iterating on the kernels);
// --contig: blocks in table order instead of scattered; --ctx=N: only that context length
const quick = argv.includes("--quick");
const bw = quick ? { readGBs: NaN, copyGBs: NaN } : memoryBandwidth();
const wasmRead = quick ? NaN : await wasmReadBandwidth();
console.log(`single-core memory bandwidth: read (wasm f32x4 sum) ${wasmRead.toFixed(2)} GB/s, read (JS f64 sum) ${bw.readGBs.toFixed(2)} GB/s, copy (TypedArray.set, read+write) ${bw.copyGBs.toFixed(2)} GB/s`);
console.log("| ctx | storage | K+V bytes | wasm SIMD, no metric | wasm SIMD, L2 metric | plain JS loop |");
console.log("|---|---|---|---|---|---|");
const ctxArg = argv.find((a) => a.startsWith("--ctx="));
const ctxs = ctxArg ? [Number(ctxArg.slice(6))] : quick ? [4096] : [4096, 32768];
for (const ctx of ctxs) for (const dtype of ["f32", "f16"] as const) {
  console.log(await benchOne(ctx, dtype, !quick));
}
