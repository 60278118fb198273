// The one memory-pressure decision (assembly/pressure.ts, docs/METHOD.md §2.4 "Admission and
// pressure") against a straight-loop reference written here from the rules, on random states
// that the test builds and tracks itself (tables, step state, admission order); plus literal cases.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import controlWasm from "kvcompress:wasm/control";
import { ControlPlane, type ControlPolicy, type PressurePlan } from "../../src/control/plane";

const B = 4; // block size of every case here

interface Seq { id: number; birth: number; prefilling: boolean; numNew: number; prompt: number; seqLen: number; ctx: number[] }
interface Model { L: number; H: number; numBlocks: number; seqs: Seq[] }

const blocks = (c: number) => Math.ceil(c / B);
const held = (s: Seq) => s.ctx.reduce((a, c) => a + blocks(c), 0);

/** Reference: the rules of the pressure plan, one loop each. */
function refPlan(m: Model, p: ControlPolicy, seqId: number, numTokens: number): PressurePlan {
  const req = m.seqs.find((s) => s.id === seqId)!;
  let need = 0;
  for (const c of req.ctx) need += blocks(c + numTokens) - blocks(c);
  let free = m.numBlocks;
  for (const s of m.seqs) free -= held(s);
  const plan: PressurePlan = { action: "fits", blocksNeeded: need, blocksFree: free, blocksFreeable: 0, compress: [], preempt: [] };
  if (need <= free) return plan;
  const freeable = (s: Seq): number => {
    const b = p.budget!;
    let cap: number;
    if (b.kind === "tokens") cap = b.maxTokensPerHead;
    else {
      const P = s.prompt !== 0 ? s.prompt : s.seqLen;
      cap = Math.max(0, Math.floor((P * 1000) / Math.round(b.ratio * 1000)) - 1);
      cap -= cap % B;
      cap = Math.max(cap, b.minTokens);
    }
    const e = Math.max(0, held(s) - blocks(cap) * m.L * m.H);
    const recent = Math.min(p.protectedWindow, s.seqLen);
    const prot = recent + Math.min(p.sinks, s.seqLen - recent);
    // The head floor does not enter: it never leaves min(E, this) unmet (docs/METHOD.md §2.4).
    let most = 0;
    for (const c of s.ctx) most += Math.max(0, blocks(c) - blocks(Math.min(prot, c)));
    return Math.min(e, most);
  };
  const byAge = [...m.seqs].sort((a, b) => a.birth - b.birth);
  let compress = p.budget ? byAge.filter((s) => !s.prefilling && s.numNew === 0) : [];
  let gain = 0;
  for (const s of compress) gain += freeable(s);
  if (free + gain >= need) return { ...plan, action: "compress", blocksFreeable: gain, compress: compress.map((s) => s.id) };
  const preempt: number[] = [];
  for (const v of byAge.reverse()) {
    if (compress.includes(v)) { compress = compress.filter((s) => s !== v); gain -= freeable(v); }
    preempt.push(v.id);
    if (v.id === seqId) break;
    free += held(v);
    if (free + gain >= need) break;
  }
  return { ...plan, action: "preempt", blocksFreeable: gain, compress: compress.map((s) => s.id), preempt };
}

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 2 ** 32; };
}

function randomPolicy(r: () => number): ControlPolicy {
  const pick = r();
  const budget = pick < 0.2 ? null : pick < 0.6 ? { kind: "tokens" as const, maxTokensPerHead: 1 + Math.floor(r() * 20) }
    : { kind: "ratio" as const, ratio: [1, 1.5, 2, 4][Math.floor(r() * 4)], minTokens: Math.floor(r() * 9) };
  const headFloor = [0, 0, 0.5, 1][Math.floor(r() * 4)];
  return { budget, protectedWindow: Math.floor(r() * 7), sinks: Math.floor(r() * 3), trigger: "prefill", ranking: "global", pyramidBeta: 20, headFloor };
}

const prop = suite("pressure plan: wasm == reference on random states");

prop("random pools, sequences mid-prefill, mid-step and decoding, heads of different lengths", () => {
  let checked = 0;
  for (let seed = 1; seed <= 120; seed++) {
    const r = rng(seed * 7919);
    const L = 1 + Math.floor(r() * 3), H = 1 + Math.floor(r() * 3), maxSeqs = 4, M = 8;
    const numBlocks = L * H + Math.floor(r() * L * H * 6);
    const cp = ControlPlane.createSync(controlWasm, { numLayers: L, numKvHeads: H, blockSize: B, numBlocks, maxSeqs, maxBlocksPerHead: M, bytesPerBlock: 1 });
    const pol = randomPolicy(r);
    cp.setPolicy(pol);
    const m: Model = { L, H, numBlocks, seqs: [] };
    let births = 0;
    for (let op = 0; op < 40; op++) {
      const x = r(), s = m.seqs.length ? m.seqs[Math.floor(r() * m.seqs.length)] : undefined;
      if (x < 0.2 || !s) {
        const id = cp.addSequence();
        if (id >= 0) m.seqs.push({ id, birth: births++, prefilling: true, numNew: 0, prompt: 0, seqLen: 0, ctx: new Array(L * H).fill(0) });
      } else if (x < 0.5 && (s.numNew === 0 || s.prefilling)) {
        const n = s.prefilling ? 1 + Math.floor(r() * 6) : 1;
        if (s.ctx.some((c) => c + n > M * B)) continue;
        if (cp.reserveStep(s.id, n)) { s.numNew = n; s.seqLen += n; s.ctx = s.ctx.map((c) => c + n); }
      } else if (x < 0.7) {
        for (let l = 0; l < L && s.numNew; l++) cp.markAppended(s.id, l);
        cp.endStep(s.id);
        if (s.prefilling) { s.prefilling = false; s.prompt = s.seqLen; }
        s.numNew = 0;
      } else if (x < 0.85) {
        const h = Math.floor(r() * L * H), e = Math.floor(r() * (blocks(s.ctx[h]) + 1));
        cp.freeTailBlocks(s.id, Math.floor(h / H), h % H, e);
        if (e > 0) s.ctx[h] = (blocks(s.ctx[h]) - e) * B;
      } else if (x < 0.9) {
        cp.removeSequence(s.id);
        m.seqs = m.seqs.filter((q) => q !== s);
      }
      if (m.seqs.length && r() < 0.6) {
        const q = m.seqs[Math.floor(r() * m.seqs.length)], n = 1 + Math.floor(r() * 9);
        const before = Array.from(cp.ctxLens).join();
        assert.equal(cp.pressurePlan(q.id, n), refPlan(m, pol, q.id, n), `seed ${seed} op ${op}`);
        assert.is(Array.from(cp.ctxLens).join(), before, "the plan changes nothing");
        checked++;
      }
    }
    for (const s of m.seqs) for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) {
      assert.is(cp.ctxLens[cp.rowOf(l, s.id, h)], s.ctx[l * H + h], "the test tracks the tables it planned on");
    }
  }
  assert.ok(checked > 1000, `${checked} plans checked`);
});

prop.run();

const lit = suite("pressure plan: literal cases");
const policy = (budget: ControlPolicy["budget"], protectedWindow = 0): ControlPolicy =>
  ({ budget, protectedWindow, sinks: 0, trigger: "prefill", ranking: "global", pyramidBeta: 20 });

lit("compress the oldest decoding sequences first, or preempt the newest", () => {
  // L = H = 1, 6 blocks of 4. a: 12 tokens decoding (3 blocks), b: 8 tokens decoding (2 blocks), 1 free.
  const cp = ControlPlane.createSync(controlWasm, { numLayers: 1, numKvHeads: 1, blockSize: B, numBlocks: 6, maxSeqs: 3, maxBlocksPerHead: 8, bytesPerBlock: 1 });
  cp.setPolicy(policy({ kind: "tokens", maxTokensPerHead: 4 }));
  const a = cp.addSequence(), b = cp.addSequence();
  for (const [s, n] of [[a, 12], [b, 8]]) { cp.reserveStep(s, n); cp.markAppended(s, 0); cp.endStep(s); }
  // b asks for 8 more: 2 blocks, 1 free. a can give 3 − 1 = 2, b 2 − 1 = 1 → compress a, b.
  assert.equal(cp.pressurePlan(b, 8), { action: "compress", blocksNeeded: 2, blocksFree: 1, blocksFreeable: 3, compress: [a, b], preempt: [] });
  // A third sequence mid-prefill asks for 20 tokens (5 blocks): 1 + 3 is short; preempt the newest, c itself.
  const c = cp.addSequence();
  assert.equal(cp.pressurePlan(c, 20), { action: "preempt", blocksNeeded: 5, blocksFree: 1, blocksFreeable: 3, compress: [a, b], preempt: [c] });
  // a asks for 20 more (12 + 20 = 32: 5 more blocks): newest c holds none, then b goes (2 blocks,
  // its 1 freeable leaves the count): 1 + 2 + 2 = 5.
  assert.equal(cp.pressurePlan(a, 20), { action: "preempt", blocksNeeded: 5, blocksFree: 1, blocksFreeable: 2, compress: [a], preempt: [c, b] });
  // No budget: nothing is compressible.
  cp.setPolicy(policy(null));
  assert.equal(cp.pressurePlan(b, 8), { action: "preempt", blocksNeeded: 2, blocksFree: 1, blocksFreeable: 0, compress: [], preempt: [c, b] });
});

lit("protection bounds what a sequence gives up; a mid-step sequence gives up nothing", () => {
  // L = H = 1, 5 blocks. a: 16 tokens (4 blocks), protected window 9 → ceil(9/4) = 3 kept, 1 freeable.
  const cp = ControlPlane.createSync(controlWasm, { numLayers: 1, numKvHeads: 1, blockSize: B, numBlocks: 5, maxSeqs: 2, maxBlocksPerHead: 8, bytesPerBlock: 1 });
  cp.setPolicy(policy({ kind: "tokens", maxTokensPerHead: 1 }, 9));
  const a = cp.addSequence();
  cp.reserveStep(a, 16); cp.markAppended(a, 0); cp.endStep(a);
  const b = cp.addSequence();
  // b wants 8 tokens: 2 blocks, 1 free + 1 freeable = 2 → compress a.
  assert.equal(cp.pressurePlan(b, 8), { action: "compress", blocksNeeded: 2, blocksFree: 1, blocksFreeable: 1, compress: [a], preempt: [] });
  // Once a has reserved its next token (17 tokens: it takes the free block), it is mid-step and
  // cannot be compressed: only preempting b itself (the newest) is left.
  cp.reserveStep(a, 1);
  assert.equal(cp.pressurePlan(b, 4), { action: "preempt", blocksNeeded: 1, blocksFree: 0, blocksFreeable: 0, compress: [], preempt: [b] });
});

lit.run();
