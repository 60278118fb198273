// Dense layers of a SmolLM2-135M decode step on the CPU backend, one core (issue 13): W·x at
// the model's layer shapes with weights kept f32 / f16 / bf16 in wasm memory, next to the
// plain TypeScript loop of src/model/llama.ts (f32 weights) and, in the same run, a wasm
// f32x4 streaming read (the single-core memory-read ceiling). Two views:
//   per shape:   one [out, in] matrix, repeated (fits in L2/L3: the kernel's compute rate);
//   layer stack: every dense matrix of L layers, distinct memory, one matvec each, as a decode
//                step walks them (memory-bound: GB/s of stored weight bytes).
// Not a timed test; figures go to docs/bench/cpu.md.
//
//   node --input-type=module -e "const {commonOptions}=await import('./scripts/esbuild-plugins.mjs');
//     const esbuild=await import('esbuild'); await esbuild.build({...commonOptions('release'),
//     entryPoints:['bench/cpu_dense.bench.ts'],outfile:'bench-dist/cpu_dense.mjs',platform:'node'})"
//   node bench-dist/cpu_dense.mjs [--layers 30] [--quick]
import cpuWasm from "kvcompress:wasm/cpu";
import { createCpuDense, type DenseDtype, type DenseTensor } from "../src/cpu/dense";
import { matmul as tsMatmul } from "../src/model/llama";

const argv = (globalThis as { process?: { argv: string[] } }).process?.argv ?? [];
const quick = argv.includes("--quick");
const li = argv.indexOf("--layers");
const LAYERS = li >= 0 ? Number(argv[li + 1]) : quick ? 2 : 30;
const now = () => performance.now();

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}
/** Runs fn until ≥ minMs and ≥ 3 runs; median ms per run. */
function time(fn: () => void, minMs = quick ? 200 : 1200): number {
  fn();
  const ts: number[] = [];
  const t0 = now();
  while (ts.length < 3 || now() - t0 < minMs) { const t = now(); fn(); ts.push(now() - t); }
  return median(ts);
}

// SmolLM2-135M: dim 576, 9 query / 3 KV heads of 64, MLP 1536
const SHAPES: [string, number, number][] = [
  ["q / o  576→576", 576, 576], ["k / v  576→192", 192, 576],
  ["gate / up  576→1536", 1536, 576], ["down  1536→576", 576, 1536],
];
const LAYER: [number, number][] = [[576, 576], [192, 576], [192, 576], [576, 576], [1536, 576], [1536, 576], [576, 1536]];

let seed = 12345;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;

function stored(dtype: DenseDtype, values: Float32Array): Uint8Array {
  if (dtype === "f32") return new Uint8Array(values.buffer.slice(0));
  const u = new Uint32Array(values.buffer), h = new Uint16Array(values.length);
  // bf16 by truncation, f16 by a rough rebias (bench data only: |v| ≤ 1, no subnormals needed)
  for (let i = 0; i < values.length; i++) {
    const b = u[i]!;
    if (dtype === "bf16") h[i] = b >>> 16;
    else {
      const e = ((b >>> 23) & 255) - 112;
      h[i] = ((b >>> 16) & 0x8000) | (e <= 0 ? 0 : (e << 10) | ((b >>> 13) & 0x3ff));
    }
  }
  return new Uint8Array(h.buffer);
}

const d = await createCpuDense({ wasm: cpuWasm });
const ex = d.exports;

// same-run read baseline: 512 MiB streamed by f32x4 loads
const readN = quick ? 64 << 20 : 512 << 20;
const rp = ex.cpuDenseAlloc(readN) >>> 0;
new Uint8Array(ex.memory.buffer, rp, readN).fill(1);
const readGBs = readN / time(() => ex.cpuStreamRead(rp, readN)) / 1e6;

console.log(`date ${new Date().toISOString()}  ${LAYERS} layers  wasm read baseline ${readGBs.toFixed(2)} GB/s`);
console.log("\nper shape, n = 1 (weights cache-resident after the first pass), GB/s of stored weight bytes:");
console.log("| shape | TS loop f32 | wasm f32 | wasm f16 | wasm bf16 |");
console.log("|---|---|---|---|---|");
for (const [name, outDim, inDim] of SHAPES) {
  const vals = Float32Array.from({ length: outDim * inDim }, rnd);
  const x = Float32Array.from({ length: inDim }, rnd), out = new Float32Array(outDim);
  const xb = d.alloc(inDim), ob = d.alloc(outDim);
  xb.view().set(x);
  const reps = 20;
  const ts = time(() => { for (let r = 0; r < reps; r++) tsMatmul(out, x, vals, null, 1, inDim, outDim); }) / reps;
  const cells = [`${(outDim * inDim * 4 / ts / 1e6).toFixed(2)}`];
  for (const dtype of ["f32", "f16", "bf16"] as const) {
    const w = d.uploadTensor({ dtype, shape: [outDim, inDim], bytes: stored(dtype, vals) });
    const tw = time(() => { for (let r = 0; r < reps; r++) d.matmul(w, xb, 1, ob); }) / reps;
    cells.push(`${(w.byteLength / tw / 1e6).toFixed(2)} (${(ts / tw).toFixed(1)}x)`);
  }
  console.log(`| ${name} | ${cells.join(" | ")} |`);
}

// layer stack: distinct weights for every layer, like a real decode step
console.log(`\nlayer stack (${LAYERS} layers x 7 matrices, distinct memory), ms per decode step of the dense layers:`);
console.log("| weights | bytes | n = 1 ms | GB/s | vs TS f32 | n = 5 ms (per token) |");
console.log("|---|---|---|---|---|---|");
const tsW: Float32Array[] = [];
for (let l = 0; l < LAYERS; l++) for (const [o, i] of LAYER) tsW.push(Float32Array.from({ length: o * i }, rnd));
const x5 = Float32Array.from({ length: 5 * 1536 }, rnd), out5 = new Float32Array(5 * 1536);
const tsStep = time(() => { let k = 0; for (let l = 0; l < LAYERS; l++) for (const [o, i] of LAYER) tsMatmul(out5, x5, tsW[k++]!, null, 1, i, o); });
const tsStep5 = time(() => { let k = 0; for (let l = 0; l < LAYERS; l++) for (const [o, i] of LAYER) tsMatmul(out5, x5, tsW[k++]!, null, 5, i, o); });
const tsBytes = tsW.reduce((s, w) => s + w.byteLength, 0);
console.log(`| TS loop f32 | ${(tsBytes / 2 ** 20).toFixed(0)} MiB | ${tsStep.toFixed(2)} | ${(tsBytes / tsStep / 1e6).toFixed(2)} | 1.0x | ${(tsStep5 / 5).toFixed(2)} |`);
const xb5 = d.alloc(5 * 1536), ob5 = d.alloc(5 * 1536);
xb5.view().set(x5);
for (const dtype of ["f32", "f16", "bf16"] as const) {
  const ws: DenseTensor[] = [];
  let k = 0;
  for (let l = 0; l < LAYERS; l++) for (const [o, i] of LAYER) ws.push(d.uploadTensor({ dtype, shape: [o, i], bytes: stored(dtype, tsW[k++]!) }));
  const bytes = ws.reduce((s, w) => s + w.byteLength, 0);
  const t1 = time(() => { for (const w of ws) d.matmul(w, xb5, 1, ob5); });
  const t5 = time(() => { for (const w of ws) d.matmul(w, xb5, 5, ob5); });
  console.log(`| wasm ${dtype} | ${(bytes / 2 ** 20).toFixed(0)} MiB | ${t1.toFixed(2)} | ${(bytes / t1 / 1e6).toFixed(2)} | ${(tsStep / t1).toFixed(1)}x | ${(t5 / 5).toFixed(2)} |`);
}
console.log(`wasm memory ${(d.memoryBytes() / 2 ** 20).toFixed(0)} MiB`);
