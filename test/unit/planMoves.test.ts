// Compaction (docs/METHOD.md §2.5): control.wasm's planMoves against the straight-loop reference on
// random pools whose tables are scattered by earlier passes, plus input validation.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import controlWasm from "kvcompress:wasm/control";
import { ControlPlane } from "../../src/control/plane";
import { InvalidArgumentError } from "../../src/errors";
import { refPlanHead } from "../reference/planMoves";
import { createRng as mulberry32 } from "../../src/model/sample";

const int = (rng: () => number, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));

/** A random ascending subset of [0, ctxLen): empty, everything, a tail, or scattered. */
function randomEvicted(rng: () => number, ctxLen: number): number[] {
  const mode = int(rng, 0, 4);
  const out: number[] = [];
  if (mode === 0) return out;
  if (mode === 1) { for (let i = 0; i < ctxLen; i++) out.push(i); return out; }
  if (mode === 2) { for (let i = int(rng, 0, ctxLen); i < ctxLen; i++) out.push(i); return out; }
  const p = rng();
  for (let i = 0; i < ctxLen; i++) if (rng() < p) out.push(i);
  return out;
}

/** Writes the CSR of `evicted[passHead]` into the plane. */
function writeCsr(cp: ControlPlane, evicted: number[][]): void {
  const offsets = cp.evictedOffsets();
  const idx = cp.evictedIdx;
  let at = 0;
  evicted.forEach((ev, ph) => { offsets[ph] = at; idx.set(ev, at); at += ev.length; });
  offsets[evicted.length] = at;
}

const random = suite("planMoves: wasm == reference");

random("300 seeds, two passes each (the second on scattered tables)", () => {
  for (let seed = 1; seed <= 300; seed++) {
    const rng = mulberry32(seed);
    const L = int(rng, 1, 3), H = int(rng, 1, 3), b = [1, 2, 3, 4, 7, 8, 16][int(rng, 0, 6)];
    const S = 3, M = Math.ceil(50 / b) + 1;
    const cp = ControlPlane.createSync(controlWasm, { numLayers: L, numKvHeads: H, blockSize: b, numBlocks: S * L * H * M, maxSeqs: S, maxBlocksPerHead: M, bytesPerBlock: 1 });
    const ids = [cp.addSequence(), cp.addSequence(), cp.addSequence()];
    // Interleaved reserves scatter each head's blocks over the pool.
    for (let r = 0; r < 6; r++) for (const s of ids) cp.reserve(s, int(rng, 0, 8));
    for (let pass = 0; pass < 2; pass++) {
      const passIds = ids.filter(() => rng() < 0.7);
      if (passIds.length === 0) passIds.push(ids[1]);
      const k = passIds.length;
      cp.setPass(passIds);
      const evicted: number[][] = [];
      const want: ReturnType<typeof refPlanHead>[] = [];
      for (let l = 0; l < L; l++) for (let i = 0; i < k; i++) for (let h = 0; h < H; h++) {
        const r = cp.rowOf(l, passIds[i], h);
        const ctxLen = cp.ctxLens[r];
        const table = Array.from(cp.blockTables.subarray(r * M, r * M + M));
        const ev = randomEvicted(rng, ctxLen);
        evicted.push(ev);
        want.push(refPlanHead(table, ctxLen, ev, b));
      }
      writeCsr(cp, evicted);
      const got = cp.planMoves();
      const moves = cp.moves(got.numMoves), moveOffsets = cp.moveOffsets();
      const freed = Array.from(cp.freedBlocks());
      let ph = 0, freedAt = 0;
      for (let l = 0; l < L; l++) for (let i = 0; i < k; i++) for (let h = 0; h < H; h++, ph++) {
        const w = want[ph];
        const gotMoves: [number, number][] = [];
        for (let m = moveOffsets[ph]; m < moveOffsets[ph + 1]; m++) gotMoves.push([moves[2 * m], moves[2 * m + 1]]);
        assert.equal(gotMoves, w.moves, `seed ${seed} pass ${pass} head ${ph} moves`);
        assert.is(cp.ctxLens[cp.rowOf(l, passIds[i], h)], w.newCtxLen, `seed ${seed} head ${ph} ctxLen`);
        assert.equal(freed.slice(freedAt, freedAt + w.freedBlocks.length), w.freedBlocks, `seed ${seed} head ${ph} freed`);
        freedAt += w.freedBlocks.length;
      }
      assert.is(freedAt, freed.length);
      // Freed blocks went to the back of the free list, in the order listed.
      const free = cp.freeBlockIds();
      assert.equal(free.slice(free.length - freed.length), freed, `seed ${seed} free order`);
    }
  }
});

random.run();

const invalid = suite("planMoves: a bad plan throws and changes nothing");

invalid("indices not ascending, out of range, or too many", () => {
  const cp = ControlPlane.createSync(controlWasm, { numLayers: 1, numKvHeads: 2, blockSize: 4, numBlocks: 12, maxSeqs: 2, maxBlocksPerHead: 4, bytesPerBlock: 1 });
  const s = cp.addSequence();
  cp.reserve(s, 6);
  cp.setPass([s]);
  const before = { tables: Array.from(cp.blockTables), ctx: Array.from(cp.ctxLens), free: cp.freeBlockIds() };
  for (const bad of [[[1], [3, 2]], [[0], [6]], [[0, 1, 2, 3, 4, 5], [0, 0]]]) {
    writeCsr(cp, bad);
    assert.throws(() => cp.planMoves(), (e: unknown) => e instanceof InvalidArgumentError && /head 1/.test((e as Error).message));
    assert.equal(Array.from(cp.blockTables), before.tables);
    assert.equal(Array.from(cp.ctxLens), before.ctx);
    assert.equal(cp.freeBlockIds(), before.free);
  }
});

invalid("a pass naming a removed sequence is refused", () => {
  const cp = ControlPlane.createSync(controlWasm, { numLayers: 1, numKvHeads: 1, blockSize: 4, numBlocks: 8, maxSeqs: 2, maxBlocksPerHead: 4, bytesPerBlock: 1 });
  const s = cp.addSequence();
  cp.reserve(s, 5);
  cp.setPass([s]);
  cp.removeSequence(s);
  writeCsr(cp, [[]]);
  assert.throws(() => cp.planMoves(), (e: unknown) => e instanceof InvalidArgumentError);
});

invalid.run();
