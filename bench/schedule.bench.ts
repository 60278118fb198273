// schedule.bench.ts — one kvcompress pass in control.wasm: schedule (global ranking of the
// chunk keys) + planMoves (compaction plan, ctxLen update, tail blocks back to the pool) for
// 32 layers × 8 KV heads × 32K tokens, block 16, compressed 8× (C = 4096 tokens per head).
// Not a test: prints ms per pass. Inputs are built untimed; each pass starts from a fresh
// prefilled sequence because planMoves mutates the tables.
import controlWasm from "kvcompress:wasm/control";
import { ControlPlane } from "../src/control/plane";
import { createRng as mulberry32 } from "../src/model/sample";

const L = 32, H = 8, b = 16, T = 32 * 1024, M = T / b, W = 32, CAP = 4096;
const PASSES = Number((globalThis as { process?: { argv: string[] } }).process?.argv[2] ?? 20);


const cp = ControlPlane.createSync(controlWasm, { numLayers: L, numKvHeads: H, blockSize: b, numBlocks: L * H * M, maxSeqs: 1, maxBlocksPerHead: M, bytesPerBlock: 2 * b * 128 * 2 });
const rng = mulberry32(1);
let seqId = cp.addSequence();
cp.reserve(seqId, T);

// Chunk keys: sorted per head, each head on its own scale so heads get different e; the last
// ceil(W/b) keys are +∞ (protected window).
const keys = cp.chunkKeys(1);
for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) {
  const scale = 10 ** (rng() * 4 - 2);
  const row = new Float32Array(M);
  for (let j = 0; j < M; j++) row[j] = rng() * scale;
  row.sort();
  for (let j = M - Math.ceil(W / b); j < M; j++) row[j] = Infinity;
  keys.set(row, (l * H + h) * M);
}
const budget = cp.budgetMaxTokens(seqId, CAP);
const scheduled = cp.scheduleKvCompress([seqId], [budget]);
// Evicted indices: n random unprotected indices per head (selection sampling, ascending).
const counts = Array.from(cp.evictCounts());
const offsets = cp.evictedOffsets(1);
const idx = cp.evictedIdx;
let at = 0;
counts.forEach((n, ph) => {
  offsets[ph] = at;
  let need = n;
  for (let i = 0, left = T - W; i < T - W && need > 0; i++, left--) {
    if (rng() * left < need) { idx[at++] = i; need--; }
  }
});
offsets[counts.length] = at;

const tSchedule: number[] = [], tPlan: number[] = [];
let numMoves = 0;
for (let p = 0; p < PASSES + 3; p++) {
  cp.removeSequence(seqId);
  seqId = cp.addSequence();
  cp.reserve(seqId, T);
  const t0 = performance.now();
  cp.scheduleKvCompress([seqId], [budget]);
  const t1 = performance.now();
  numMoves = cp.planMoves().numMoves;
  const t2 = performance.now();
  if (p >= 3) { tSchedule.push(t1 - t0); tPlan.push(t2 - t1); } // 3 warm-up passes
}
const median = (xs: number[]) => xs.slice().sort((x, y) => x - y)[xs.length >> 1];
const total = tSchedule.map((t, i) => t + tPlan[i]);
console.log(`pass: ${L} layers × ${H} kv heads × ${T} tokens, b=${b}, C=${CAP}: E=${budget} blocks, scheduled ${scheduled}, evicted ${at} KVs, ${numMoves} moves`);
console.log(`schedule ${median(tSchedule).toFixed(3)} ms, planMoves ${median(tPlan).toFixed(3)} ms, total ${median(total).toFixed(3)} ms per pass (median of ${PASSES}; min total ${Math.min(...total).toFixed(3)} ms)`);
