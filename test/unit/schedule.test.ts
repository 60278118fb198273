// The schedule (docs/METHOD.md §2.4): control.wasm against the straight-loop reference on random
// passes with awkward sizes, plus literal cases worked by hand.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import controlWasm from "kvcompress:wasm/control";
import { ControlPlane } from "../../src/control/plane";
import { KvCompressError } from "../../src/errors";
import {
  chunkKeysOfHead, evictCountOf, evictedIndicesOfHead, isProtected, refScheduleByLayer,
  refScheduleKvCompress, refScheduleUniform, type HeadKvs, type PassSeq,
} from "../reference/schedule";
import { createRng as mulberry32 } from "../../src/model/sample";

const pick = <T>(rng: () => number, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)];
const int = (rng: () => number, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));

/** A random pass: k sequences whose heads hold different, awkward numbers of KVs. */
function randomPass(seed: number) {
  const rng = mulberry32(seed);
  const L = int(rng, 1, 3), H = int(rng, 1, 3), b = pick(rng, [2, 3, 4, 5, 8, 16]);
  const maxSeqs = 3, k = int(rng, 1, 3), M = Math.ceil(64 / b) + 1;
  const protectedWindow = pick(rng, [0, 1, 3, 8]), sinks = pick(rng, [0, 0, 2]);
  const cp = ControlPlane.createSync(controlWasm, { numLayers: L, numKvHeads: H, blockSize: b, numBlocks: maxSeqs * L * H * M, maxSeqs, maxBlocksPerHead: M, bytesPerBlock: 1 });
  const seqIds: number[] = [];
  for (let i = 0; i < maxSeqs; i++) seqIds.push(cp.addSequence());
  const passIds = seqIds.slice(maxSeqs - k).reverse(); // pass order ≠ slot order on purpose
  const seqLens = passIds.map(() => int(rng, 0, 60));
  passIds.forEach((s, i) => cp.reserve(s, seqLens[i]));
  // Pre-evict random unprotected counts so ctxLens differ per head (any n, not a multiple of b).
  const pre = cp.evictedOffsets(k);
  const idx = cp.evictedIdx;
  let at = 0;
  for (let l = 0; l < L; l++) for (let i = 0; i < k; i++) for (let h = 0; h < H; h++) {
    pre[(l * k + i) * H + h] = at;
    const prot = countProtected(seqLens[i], protectedWindow, sinks);
    const n = rng() < 0.6 ? int(rng, 0, seqLens[i] - prot) : 0;
    for (let q = seqLens[i] - n; q < seqLens[i]; q++) idx[at++] = q; // any ascending set works
  }
  pre[L * k * H] = at;
  cp.setPass(passIds);
  cp.planMoves();
  // Heads: positions = protected ones + a random sample of the rest, in shuffled slot order.
  const heads: HeadKvs[][][] = [];
  const keys = cp.chunkKeys(k);
  const seqs: PassSeq[] = passIds.map(() => ({ ctxLens: [], keys: [] }));
  for (let l = 0; l < L; l++) {
    heads.push([]);
    for (let i = 0; i < k; i++) {
      heads[l].push([]);
      seqs[i].ctxLens.push([]);
      seqs[i].keys.push([]);
      for (let h = 0; h < H; h++) {
        const ctxLen = cp.ctxLens[cp.rowOf(l, passIds[i], h)];
        const head = randomHead(rng, ctxLen, seqLens[i], protectedWindow, sinks);
        const hk = chunkKeysOfHead(head, seqLens[i], protectedWindow, sinks, b, M);
        keys.set(hk, ((l * k + i) * H + h) * M);
        heads[l][i].push(head);
        seqs[i].ctxLens[l].push(ctxLen);
        seqs[i].keys[l].push(hk);
      }
    }
  }
  return { rng, cp, L, H, b, k, M, passIds, seqLens, seqs, heads, protectedWindow, sinks };
}

function countProtected(seqLen: number, w: number, sinks: number): number {
  let c = 0;
  for (let p = 0; p < seqLen; p++) if (isProtected(p, seqLen, w, sinks)) c++;
  return c;
}

function randomHead(rng: () => number, ctxLen: number, seqLen: number, w: number, sinks: number): HeadKvs {
  const prot: number[] = [], rest: number[] = [];
  for (let p = 0; p < seqLen; p++) (isProtected(p, seqLen, w, sinks) ? prot : rest).push(p);
  for (let i = rest.length - 1; i > 0; i--) { const j = Math.floor(rng() * (i + 1)); [rest[i], rest[j]] = [rest[j], rest[i]]; }
  const positions = prot.concat(rest.slice(0, ctxLen - prot.length));
  for (let i = positions.length - 1; i > 0; i--) { const j = Math.floor(rng() * (i + 1)); [positions[i], positions[j]] = [positions[j], positions[i]]; }
  const mode = pick(rng, ["ties", "zero", "f32", "f32"]);
  // f32-exact scores, so the reference's doubles order exactly like the wasm's f32 bits.
  const scores = positions.map(() => (mode === "zero" ? 0 : mode === "ties" ? pick(rng, [0, 0.5, 1]) : Math.fround(rng())));
  return { scores, positions };
}

function flatE(seqs: number[][][], L: number, k: number, H: number): number[] {
  const out: number[] = [];
  for (let l = 0; l < L; l++) for (let i = 0; i < k; i++) for (let h = 0; h < H; h++) out.push(seqs[i][l][h]);
  return out;
}
function flatN(p: ReturnType<typeof randomPass>, e: number[]): number[] {
  const out: number[] = [];
  let t = 0;
  for (let l = 0; l < p.L; l++) for (let i = 0; i < p.k; i++) for (let h = 0; h < p.H; h++) out.push(evictCountOf(p.seqs[i].ctxLens[l][h], e[t++], p.b));
  return out;
}

const random = suite("schedule: wasm == reference on random passes");

random("kvcompress global ranking, 400 seeds", () => {
  for (let seed = 1; seed <= 400; seed++) {
    const p = randomPass(seed);
    const budgets = p.passIds.map((s) => (p.rng() < 0.2 ? 1000 : int(p.rng, 0, Math.ceil(p.cp.budgetMaxTokens(s, 0) * 0.8))));
    p.cp.scheduleKvCompress(p.passIds, budgets);
    const want = flatE(p.seqs.map((s, i) => refScheduleKvCompress(s, p.b, budgets[i])), p.L, p.k, p.H);
    assert.equal(Array.from(p.cp.evictBlocks()), want, `seed ${seed} e`);
    assert.equal(Array.from(p.cp.evictCounts()), flatN(p, want), `seed ${seed} n`);
  }
});

random("head floor: global and per-layer rankings with a floor, 300 seeds", () => {
  for (let seed = 2001; seed <= 2300; seed++) {
    const p = randomPass(seed);
    const milli = pick(p.rng, [0, 1, 250, 500, 999, 1000]);
    p.cp.setHeadFloor(milli / 1000);
    const budgets = p.passIds.map((s) => (p.rng() < 0.2 ? 1000 : int(p.rng, 0, p.cp.budgetMaxTokens(s, 0))));
    const taken = p.cp.scheduleKvCompress(p.passIds, budgets);
    const want = flatE(p.seqs.map((s, i) => refScheduleKvCompress(s, p.b, budgets[i], milli)), p.L, p.k, p.H);
    // The floor moves blocks between heads but never takes fewer than the free ranking.
    const free = flatE(p.seqs.map((s, i) => refScheduleKvCompress(s, p.b, budgets[i], 0)), p.L, p.k, p.H);
    assert.is(taken, free.reduce((a, b) => a + b, 0), `seed ${seed}: floor ${milli} takes what the free ranking takes`);
    assert.equal(Array.from(p.cp.evictBlocks()), want, `seed ${seed} floor ${milli} e`);
    assert.equal(Array.from(p.cp.evictCounts()), flatN(p, want), `seed ${seed} n`);
    const caps = Array.from({ length: p.L }, () => int(p.rng, 0, 50));
    p.cp.layerCaps.set(caps);
    p.cp.scheduleByLayer(p.passIds);
    const wantLayer = flatE(p.seqs.map((s) => refScheduleByLayer(s, p.b, caps, milli)), p.L, p.k, p.H);
    assert.equal(Array.from(p.cp.evictBlocks()), wantLayer, `seed ${seed} floor ${milli} byLayer`);
  }
});

random("per-layer ranking and uniform budgets (incl. pyramid caps), 300 seeds", () => {
  for (let seed = 1001; seed <= 1300; seed++) {
    const p = randomPass(seed);
    const caps = p.rng() < 0.5 ? Array.from(p.cp.pyramidLayerCaps(int(p.rng, 0, 40), int(p.rng, 1, 20))) : Array.from({ length: p.L }, () => int(p.rng, 0, 50));
    p.cp.layerCaps.set(caps);
    p.cp.scheduleByLayer(p.passIds);
    const wantLayer = flatE(p.seqs.map((s) => refScheduleByLayer(s, p.b, caps)), p.L, p.k, p.H);
    assert.equal(Array.from(p.cp.evictBlocks()), wantLayer, `seed ${seed} byLayer`);
    p.cp.scheduleUniform(p.passIds);
    const wantUniform = flatE(p.seqs.map((s) => refScheduleUniform(s, p.b, caps)), p.L, p.k, p.H);
    assert.equal(Array.from(p.cp.evictBlocks()), wantUniform, `seed ${seed} uniform`);
    assert.equal(Array.from(p.cp.evictCounts()), flatN(p, wantUniform), `seed ${seed} uniform n`);
  }
});

random.run();

const literal = suite("schedule: literal cases");
const one = (L: number, H: number, b: number) =>
  ControlPlane.createSync(controlWasm, { numLayers: L, numKvHeads: H, blockSize: b, numBlocks: 64, maxSeqs: 4, maxBlocksPerHead: 8, bytesPerBlock: 1 });

literal("docs/METHOD.md §2.4 worked example: b=4, 10 KVs, e=2 evicts 6 and leaves one full block", () => {
  const cp = one(1, 1, 4);
  const s = cp.addSequence();
  cp.reserve(s, 10); // blocks of 4, 4, 2 → a = 2; table [0, 1, 2]
  // logical index:   0    1    2    3    4    5    6    7    8    9
  const scores = [0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4, 0.5, 0.05];
  // ascending: 0.05 0.1 | 0.2 0.3 0.4 0.5 | 0.6 0.7 0.8 0.9 → keys = [sorted[1], sorted[5], sorted[9]]
  cp.chunkKeys(1).set([0.1, 0.5, 0.9, Infinity, Infinity, Infinity, Infinity, Infinity]);
  assert.is(cp.scheduleKvCompress([s], [2]), 2);
  assert.equal(Array.from(cp.evictBlocks()), [2]);
  assert.equal(Array.from(cp.evictCounts()), [6]); // (2 − 1)·4 + 2
  // The 6 lowest: 0.05(9) 0.1(1) 0.2(3) 0.3(5) 0.4(7) 0.5(8) → ascending indices 1 3 5 7 8 9.
  const head = { scores, positions: scores.map((_, i) => i) };
  assert.equal(evictedIndicesOfHead(head, 10, 0, 0, 6), [1, 3, 5, 7, 8, 9]);
  cp.evictedOffsets().set([0, 6]);
  cp.evictedIdx.set([1, 3, 5, 7, 8, 9]);
  // Tail [4, 10): survivors 6, 4 (top first) → holes 1, 3. Slots equal logical indices here.
  assert.equal(cp.planMoves(), { numMoves: 2, numFreed: 2 });
  assert.equal(Array.from(cp.moves(2)), [1, 6, 3, 4]);
  assert.equal(Array.from(cp.freedBlocks()), [1, 2]);
  assert.is(cp.ctxLens[0], 4); // 4 KVs in exactly one full block
});

literal("ties go to the lower (layer, kvHead); +∞ keys are never taken", () => {
  const cp = one(2, 2, 4);
  const s = cp.addSequence();
  cp.reserve(s, 8); // every head: 2 full blocks, a = 4
  const keys = cp.chunkKeys(1); // [layer, 1, kvHead, 8]
  const I = Infinity;
  keys.set([0.5, 0.5, I, I, I, I, I, I], 0); // layer 0 head 0
  keys.set([0.5, I, I, I, I, I, I, I], 8); // layer 0 head 1
  keys.set([0.25, 0.5, I, I, I, I, I, I], 16); // layer 1 head 0
  keys.set([I, I, I, I, I, I, I, I], 24); // layer 1 head 1: all protected
  // Sorted candidates: 0.25(l1h0j0) then 0.5 in flat order: l0h0j0 l0h0j1 l0h1j0 l1h0j1.
  assert.is(cp.scheduleKvCompress([s], [3]), 3);
  assert.equal(Array.from(cp.evictBlocks()), [2, 0, 1, 0]);
  assert.is(cp.scheduleKvCompress([s], [4]), 4);
  assert.equal(Array.from(cp.evictBlocks()), [2, 1, 1, 0]);
  // Budget 99 stops at the 5 finite keys (docs/METHOD.md §2.4: a +∞ key is never taken).
  assert.is(cp.scheduleKvCompress([s], [99]), 5);
  assert.equal(Array.from(cp.evictBlocks()), [2, 1, 2, 0]);
  assert.equal(Array.from(cp.evictCounts()), [8, 4, 8, 0]);
});

literal("head floor: a starved head keeps its share; out-of-range floors throw", () => {
  const cp = one(2, 1, 4);
  const s = cp.addSequence();
  cp.reserve(s, 32); // 2 heads × 8 blocks
  const keys = cp.chunkKeys(1);
  keys.set([0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, Infinity], 0); // layer 0: cheap keys
  keys.set([1, 2, 3, 4, 5, 6, 7, Infinity], 8); // layer 1: dear keys
  // E = 10 leaves 6 blocks, 3 per head on average. No floor: layer 0 gives all 7 it can, layer 1 three.
  assert.is(cp.scheduleKvCompress([s], [10]), 10);
  assert.equal(Array.from(cp.evictBlocks()), [7, 3]);
  // Floor 1: each head keeps ≥ 3 blocks → layer 0 gives 5, layer 1 the other 5.
  cp.setHeadFloor(1);
  assert.is(cp.scheduleKvCompress([s], [10]), 10);
  assert.equal(Array.from(cp.evictBlocks()), [5, 5]);
  // Floor 0.5: f = floor(6 · 0.5 / 2) = 1 → layer 0 gives 7 (its +∞ last block binds first), layer 1 three.
  cp.setHeadFloor(0.5);
  cp.scheduleKvCompress([s], [10]);
  assert.equal(Array.from(cp.evictBlocks()), [7, 3]);
  // Floor 0.7: f = floor(6 · 0.7 / 2) = 2 → layer 0 gives 6, layer 1 four.
  cp.setHeadFloor(0.7);
  cp.scheduleKvCompress([s], [10]);
  assert.equal(Array.from(cp.evictBlocks()), [6, 4]);
  assert.throws(() => cp.setHeadFloor(1.5), /headFloor/);
  assert.throws(() => cp.setHeadFloor(-0.1), /headFloor/);
});

literal("sequences never trade budget: a pass of two computes each E alone", () => {
  const cp = one(1, 2, 4);
  const low = cp.addSequence(), high = cp.addSequence();
  cp.reserve(low, 16);
  cp.reserve(high, 16); // each: 2 heads × 4 blocks
  const keys = cp.chunkKeys(2); // [layer 0, k = 2, kvHead, 8]
  for (let h = 0; h < 2; h++) {
    keys.set([0.01, 0.02, 0.03, Infinity, Infinity, Infinity, Infinity, Infinity], (0 * 2 + h) * 8); // low: cheap keys
    keys.set([5, 6, 7, Infinity, Infinity, Infinity, Infinity, Infinity], (1 * 2 + h) * 8); // high: dear keys
  }
  // C = 8 tokens → 2 blocks per head allowed → E = 8 − 4 = 4 each.
  assert.is(cp.budgetMaxTokens(low, 8), 4);
  assert.is(cp.budgetMaxTokens(high, 8), 4);
  // A joint ranking (the reference implementation's bug) would take all 6 cheap keys from `low`.
  assert.is(cp.scheduleKvCompress([low, high], [4, 4]), 8);
  assert.equal(Array.from(cp.evictBlocks()), [2, 2, 2, 2]); // [layer 0][low: h0 h1, high: h0 h1]
});

literal("misuse: duplicate or inactive seqIds and wrong budget counts throw", () => {
  const cp = one(1, 1, 4);
  const s = cp.addSequence();
  assert.throws(() => cp.scheduleKvCompress([s, s], [1, 1]), /distinct/);
  assert.throws(() => cp.scheduleKvCompress([3], [1]), /seqId/);
  assert.throws(() => cp.scheduleKvCompress([s], []), /budgets.length/);
  assert.throws(() => cp.scheduleKvCompress([s], [-1]), /budgets\[0\]/);
});

literal("debug build: chunk keys out of order trip an assertion, raised as KvCompressError", () => {
  const cp = one(1, 1, 4);
  const s = cp.addSequence();
  cp.reserve(s, 12);
  cp.chunkKeys(1).set([0.5, 0.25, 1, Infinity]);
  assert.throws(() => cp.scheduleKvCompress([s], [1]), (e: unknown) => e instanceof KvCompressError && /non-decreasing/.test((e as Error).message));
});

literal.run();
