// Property tests over random operation sequences (add, append, attend, compress, remove).
// A small simulated "GPU" holds each slot's position and score; the test executes the wasm's
// moves on it, and keeps its own model of which positions every head should still hold.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import controlWasm from "kvcompress:wasm/control";
import { ControlPlane } from "../../src/control/plane";
import { chunkKeysOfHead, evictionOrder, isProtected, type HeadKvs } from "../reference/schedule";
import { createRng as mulberry32 } from "../../src/model/sample";

const int = (rng: () => number, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));

class World {
  readonly cp: ControlPlane;
  readonly slotPos: Int32Array;
  readonly slotScore: Float32Array;
  /** Model: per head row, the positions it must still hold → their score. */
  readonly model = new Map<number, Map<number, number>>();
  constructor(readonly L: number, readonly H: number, readonly b: number, readonly N: number, readonly S: number, readonly M: number, readonly w: number, readonly sinks: number) {
    this.cp = ControlPlane.createSync(controlWasm, { numLayers: L, numKvHeads: H, blockSize: b, numBlocks: N, maxSeqs: S, maxBlocksPerHead: M, bytesPerBlock: 10 });
    this.slotPos = new Int32Array(N * b).fill(-1);
    this.slotScore = new Float32Array(N * b);
  }
  rows(seqId: number): number[] {
    const out: number[] = [];
    for (let l = 0; l < this.L; l++) for (let h = 0; h < this.H; h++) out.push(this.cp.rowOf(l, seqId, h));
    return out;
  }
  slot(row: number, i: number): number {
    return this.cp.blockTables[row * this.M + Math.floor(i / this.b)] * this.b + (i % this.b);
  }
  head(row: number): HeadKvs {
    const scores: number[] = [], positions: number[] = [];
    for (let i = 0; i < this.cp.ctxLens[row]; i++) { scores.push(this.slotScore[this.slot(row, i)]); positions.push(this.slotPos[this.slot(row, i)]); }
    return { scores, positions };
  }
  active(): number[] {
    const out: number[] = [];
    for (let s = 0; s < this.S; s++) if (this.cp.isActive(s)) out.push(s);
    return out;
  }
}

/** No block both free and owned, none lost, tables match ctxLens, every KV reachable once. */
function checkInvariants(wd: World, tag: string): void {
  const { cp, M, b, N } = wd;
  const owner = new Map<number, number>();
  for (const s of wd.active()) {
    for (const row of wd.rows(s)) {
      const nb = Math.ceil(cp.ctxLens[row] / b);
      for (let j = 0; j < M; j++) {
        const blockId = cp.blockTables[row * M + j];
        if (j >= nb) { assert.is(blockId, -1, `${tag}: row ${row} entry ${j} past its length`); continue; }
        assert.ok(blockId >= 0 && blockId < N, `${tag}: row ${row} entry ${j} = ${blockId}`);
        assert.not.ok(owner.has(blockId), `${tag}: block ${blockId} owned twice`);
        owner.set(blockId, row);
      }
      const expected = wd.model.get(row)!;
      const seen = new Set<number>();
      for (let i = 0; i < cp.ctxLens[row]; i++) {
        const p = wd.slotPos[wd.slot(row, i)];
        assert.ok(expected.has(p), `${tag}: row ${row} holds position ${p} it should not`);
        assert.not.ok(seen.has(p), `${tag}: row ${row} holds position ${p} twice`);
        assert.is(wd.slotScore[wd.slot(row, i)], expected.get(p), `${tag}: score of ${p} did not travel with it`);
        seen.add(p);
      }
      assert.is(seen.size, expected.size, `${tag}: row ${row} lost a KV`);
    }
  }
  const free = cp.freeBlockIds();
  for (const blockId of free) assert.not.ok(owner.has(blockId), `${tag}: block ${blockId} both free and owned`);
  assert.is(new Set(free).size, free.length, `${tag}: a block is free twice`);
  assert.is(free.length + owner.size, N, `${tag}: blocks lost`);
  const st = cp.stats();
  assert.is(st.blocksInUse, owner.size, `${tag}: stats blocksInUse`);
  assert.is(st.bytesInUse, owner.size * 10, `${tag}: stats bytesInUse`);
}

function append(wd: World, s: number, numTokens: number): void {
  const before = wd.rows(s).map((r) => wd.cp.ctxLens[r]);
  const seqLen = wd.cp.seqLens[s];
  if (!wd.cp.reserve(s, numTokens)) {
    assert.equal(wd.rows(s).map((r) => wd.cp.ctxLens[r]), before, "a failed reserve changed ctxLens");
    return;
  }
  wd.rows(s).forEach((row, t) => {
    for (let q = 0; q < numTokens; q++) {
      const slot = wd.slot(row, before[t] + q);
      wd.slotPos[slot] = seqLen + q;
      wd.slotScore[slot] = 0; // a new KV starts at 0 (docs/METHOD.md §2.2)
      wd.model.get(row)!.set(seqLen + q, 0);
    }
  });
}

function attend(wd: World, rng: () => number): void {
  const coarse = rng() < 0.5; // coarse increments make many ties
  for (const s of wd.active()) for (const row of wd.rows(s)) {
    for (let i = 0; i < wd.cp.ctxLens[row]; i++) {
      const slot = wd.slot(row, i);
      wd.slotScore[slot] += coarse ? int(rng, 0, 2) * 0.25 : rng();
      wd.model.get(row)!.set(wd.slotPos[slot], wd.slotScore[slot]);
    }
  }
}

function compress(wd: World, rng: () => number): void {
  const { cp, L, H, b, M } = wd;
  const seqIds = wd.active().filter(() => rng() < 0.7);
  if (seqIds.length === 0) return;
  const k = seqIds.length;
  const cap = int(rng, 0, 24);
  const budgets = seqIds.map((s) => cp.budgetMaxTokens(s, cap));
  const keys = cp.chunkKeys(k);
  const heads: HeadKvs[] = [];
  for (let l = 0; l < L; l++) for (let i = 0; i < k; i++) for (let h = 0; h < H; h++) {
    const row = cp.rowOf(l, seqIds[i], h);
    const head = wd.head(row);
    heads.push(head);
    keys.set(chunkKeysOfHead(head, cp.seqLens[seqIds[i]], wd.w, wd.sinks, b, M), ((l * k + i) * H + h) * M);
  }
  const held = seqIds.map((s) => cp.stats().blocksPerSeq[s]);
  const uniform = rng() < 0.3;
  if (uniform) cp.uniformLayerCaps(cap);
  const scheduled = uniform ? cp.scheduleUniform(seqIds) : cp.scheduleKvCompress(seqIds, budgets);
  const counts = cp.evictCounts();
  const offsets = cp.evictedOffsets(), idx = cp.evictedIdx;
  // The schedule itself writes the CSR offsets: prefix sums of the counts it chose.
  let sum = 0;
  for (let r = 0; r <= heads.length; r++) {
    assert.is(offsets[r], sum, `evictedOffsets[${r}] is the prefix sum of evictCounts`);
    if (r < heads.length) sum += counts[r];
  }
  let at = 0;
  const evictedPositions: number[][] = [];
  heads.forEach((head, ph) => {
    const i = Math.floor(ph / H) % k;
    const order = evictionOrder(head, cp.seqLens[seqIds[i]], wd.w, wd.sinks);
    const ev = order.slice(0, counts[ph]).sort((x, y) => x - y);
    offsets[ph] = at;
    idx.set(ev, at);
    at += ev.length;
    evictedPositions.push(ev.map((q) => head.positions[q]));
  });
  offsets[heads.length] = at;
  const before = heads.map((h) => h.positions.slice());
  const { numMoves } = cp.planMoves();
  const moves = cp.moves(numMoves);
  for (let m = 0; m < numMoves; m++) { // execute on the simulated GPU
    wd.slotPos[moves[2 * m]] = wd.slotPos[moves[2 * m + 1]];
    wd.slotScore[moves[2 * m]] = wd.slotScore[moves[2 * m + 1]];
  }
  let ph = 0;
  for (let l = 0; l < L; l++) for (let i = 0; i < k; i++) for (let h = 0; h < H; h++, ph++) {
    const seqLen = cp.seqLens[seqIds[i]];
    const model = wd.model.get(cp.rowOf(l, seqIds[i], h))!;
    const gone = new Set(evictedPositions[ph]);
    // Evicted = exactly the lowest (score, position) unprotected KVs of the head.
    for (const p of gone) assert.not.ok(isProtected(p, seqLen, wd.w, wd.sinks), `protected ${p} evicted`);
    for (const p of before[ph]) {
      if (gone.has(p) || isProtected(p, seqLen, wd.w, wd.sinks)) continue;
      for (const g of gone) {
        const sp = model.get(p)!, sg = model.get(g)!;
        assert.ok(sg < sp || (sg === sp && g < p), `kept ${p} (${sp}) below evicted ${g} (${sg})`);
      }
    }
    for (const p of gone) model.delete(p);
  }
  // Achieved blocks = the budget whenever protection allows: min(E, Σ freeable) per sequence.
  seqIds.forEach((s, i) => {
    let freeable = 0, want = 0;
    for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) {
      const head = heads[(l * k + i) * H + h];
      const prot = head.positions.filter((p) => isProtected(p, cp.seqLens[s], wd.w, wd.sinks)).length;
      const e = Math.max(0, Math.ceil(head.positions.length / b) - Math.ceil(prot / b));
      freeable += e;
      if (uniform) want += Math.min(e, Math.max(0, Math.ceil(head.positions.length / b) - Math.ceil(cap / b)));
    }
    if (!uniform) want = Math.min(budgets[i], freeable);
    assert.is(held[i] - cp.stats().blocksPerSeq[s], want, `seq ${s}: achieved blocks vs budget`);
  });
  assert.ok(scheduled >= 0);
}

const props = suite("control plane: properties over random operation sequences");

props("200 seeds × 60 operations", () => {
  for (let seed = 1; seed <= 200; seed++) {
    const rng = mulberry32(seed * 7919);
    const L = int(rng, 1, 2), H = int(rng, 1, 3), b = [2, 3, 4, 8][int(rng, 0, 3)];
    const S = 3, M = Math.ceil(48 / b);
    const wd = new World(L, H, b, int(rng, 4, S * L * H * M), S, M, [0, 2, 5][int(rng, 0, 2)], [0, 1][int(rng, 0, 1)]);
    for (let op = 0; op < 60; op++) {
      const active = wd.active();
      const r = rng();
      const tag = `seed ${seed} op ${op}`;
      if (r < 0.15 || active.length === 0) {
        const s = wd.cp.addSequence();
        if (s >= 0) for (const row of wd.rows(s)) wd.model.set(row, new Map());
      }
      else if (r < 0.5) {
        const s = active[int(rng, 0, active.length - 1)];
        const maxMore = M * b - Math.max(...wd.rows(s).map((row) => wd.cp.ctxLens[row]));
        append(wd, s, int(rng, 0, Math.min(9, maxMore)));
      } else if (r < 0.7) attend(wd, rng);
      else if (r < 0.92) compress(wd, rng);
      else {
        const s = active[int(rng, 0, active.length - 1)];
        wd.cp.removeSequence(s);
        for (const row of wd.rows(s)) wd.model.set(row, new Map());
      }
      checkInvariants(wd, tag);
    }
  }
});

props.run();
