// Exact-order tests of the block pool (STYLE L10): a 12-block pool of block size 4, one layer,
// two KV heads. Rows are filled in [layer, kvHead] order; the free list is FIFO (blocks
// released go to the back). Every expected order is derived by hand in the comment above it.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import controlWasm from "kvcompress:wasm/control";
import { ControlPlane } from "../../src/control/plane";
import { ConfigError, InvalidArgumentError } from "../../src/errors";

const cfg = { numLayers: 1, numKvHeads: 2, blockSize: 4, numBlocks: 12, maxSeqs: 3, maxBlocksPerHead: 8, bytesPerBlock: 100 };
const M = cfg.maxBlocksPerHead;
const newPlane = () => ControlPlane.createSync(controlWasm, cfg);
/** Block-table row of (layer 0, seq, kvHead), trimmed of its −1 padding. */
const row = (cp: ControlPlane, seqId: number, kvHead: number) =>
  Array.from(cp.blockTables.subarray(cp.rowOf(0, seqId, kvHead) * M, cp.rowOf(0, seqId, kvHead) * M + M)).filter((b) => b >= 0);

const isArgError = (e: unknown) => e instanceof InvalidArgumentError;

const order = suite("allocator: exact order");

order("a fresh pool hands out blocks in id order, head 0 before head 1", () => {
  const cp = newPlane();
  const s0 = cp.addSequence();
  assert.is(s0, 0);
  // 5 tokens → 2 blocks per head: head 0 takes 0, 1; head 1 takes 2, 3.
  assert.ok(cp.reserve(s0, 5));
  assert.equal(row(cp, s0, 0), [0, 1]);
  assert.equal(row(cp, s0, 1), [2, 3]);
  assert.equal(Array.from(cp.ctxLens.subarray(0, 2)), [5, 5]);
  assert.is(cp.seqLens[s0], 5);
  // free order: 4 5 6 7 8 9 10 11
  assert.equal(cp.freeBlockIds(), [4, 5, 6, 7, 8, 9, 10, 11]);
});

order("filling a partial block takes nothing; crossing a boundary takes one per head", () => {
  const cp = newPlane();
  const s0 = cp.addSequence();
  const s1 = cp.addSequence();
  cp.reserve(s0, 5); // s0: h0 [0,1], h1 [2,3]
  cp.reserve(s1, 4); // s1: h0 [4],   h1 [5]
  assert.ok(cp.reserve(s0, 3)); // ctxLen 5 → 8 fits in 2 blocks
  assert.is(cp.numFreeBlocks, 6);
  assert.ok(cp.reserve(s0, 1)); // ctxLen 9: h0 takes 6, h1 takes 7
  assert.equal(row(cp, s0, 0), [0, 1, 6]);
  assert.equal(row(cp, s0, 1), [2, 3, 7]);
  // free order: 8 9 10 11
  assert.equal(cp.freeBlockIds(), [8, 9, 10, 11]);
});

order("reserve is all-or-nothing: a short pool changes nothing", () => {
  const cp = newPlane();
  const s0 = cp.addSequence();
  cp.reserve(s0, 16); // 4 blocks per head: h0 [0..3], h1 [4..7]; free 8..11
  // 4 more tokens need 1 block per head = 2 ≤ 4 free; 12 more need 3 per head = 6 > 4.
  assert.is(cp.blocksToReserve(s0, 12), 6);
  assert.is(cp.reserve(s0, 12), false);
  assert.equal(row(cp, s0, 0), [0, 1, 2, 3]);
  assert.equal(row(cp, s0, 1), [4, 5, 6, 7]);
  assert.is(cp.ctxLens[0], 16);
  assert.is(cp.seqLens[s0], 16);
  assert.equal(cp.freeBlockIds(), [8, 9, 10, 11]);
});

order("removeSequence returns blocks row by row, in table order, to the BACK of the list", () => {
  const cp = newPlane();
  const s0 = cp.addSequence();
  const s1 = cp.addSequence();
  cp.reserve(s0, 5); // s0: h0 [0,1], h1 [2,3]
  cp.reserve(s1, 4); // s1: h0 [4],   h1 [5]
  cp.reserve(s0, 4); // s0 ctxLen 9: h0 [0,1,6], h1 [2,3,7]; free 8 9 10 11
  cp.removeSequence(s0);
  // free order: 8 9 10 11 | 0 1 6 (s0 h0) | 2 3 7 (s0 h1)
  assert.equal(cp.freeBlockIds(), [8, 9, 10, 11, 0, 1, 6, 2, 3, 7]);
  assert.equal(row(cp, s0, 0), []);
  assert.is(cp.ctxLens[cp.rowOf(0, s0, 0)], 0);
  // The lowest free slot is reused; its blocks come from the front: h0 → 8, h1 → 9.
  const s2 = cp.addSequence();
  assert.is(s2, 0);
  cp.reserve(s2, 1);
  assert.equal(row(cp, s2, 0), [8]);
  assert.equal(row(cp, s2, 1), [9]);
  // freeTailBlocks(s1, layer 0, head 1, 1) releases block 5 and empties the head.
  cp.freeTailBlocks(s1, 0, 1, 1);
  // free order: 10 11 0 1 6 2 3 7 5
  assert.equal(cp.freeBlockIds(), [10, 11, 0, 1, 6, 2, 3, 7, 5]);
  assert.is(cp.ctxLens[cp.rowOf(0, s1, 1)], 0);
});

order("freeTailBlocks leaves whole blocks: b=4, ctxLen 10, e=2 → ctxLen 4", () => {
  const cp = newPlane();
  const s0 = cp.addSequence();
  cp.reserve(s0, 10); // h0 [0,1,2], h1 [3,4,5]; free 6..11
  cp.freeTailBlocks(s0, 0, 0, 2);
  assert.equal(row(cp, s0, 0), [0]);
  assert.is(cp.ctxLens[cp.rowOf(0, s0, 0)], 4);
  // free order: 6 7 8 9 10 11 | 1 2 (table order of the released tail)
  assert.equal(cp.freeBlockIds(), [6, 7, 8, 9, 10, 11, 1, 2]);
});

order.run();

const misuse = suite("allocator: misuse throws named errors, shortfalls return");

misuse("addSequence returns −1 once maxSeqs slots are taken", () => {
  const cp = newPlane();
  assert.equal([cp.addSequence(), cp.addSequence(), cp.addSequence(), cp.addSequence()], [0, 1, 2, -1]);
});

misuse("bad seqId, layer, kvHead and counts throw InvalidArgumentError", () => {
  const cp = newPlane();
  const s0 = cp.addSequence();
  assert.throws(() => cp.removeSequence(2), isArgError);
  assert.throws(() => cp.removeSequence(-1), isArgError);
  assert.throws(() => cp.reserve(1.5, 1), isArgError);
  assert.throws(() => cp.reserve(s0, -1), isArgError);
  assert.throws(() => cp.freeTailBlocks(s0, 1, 0, 0), isArgError);
  assert.throws(() => cp.freeTailBlocks(s0, 0, 2, 0), isArgError);
  assert.throws(() => cp.freeTailBlocks(s0, 0, 0, 1), isArgError); // head holds 0 blocks
  // A head may hold at most 8 · 4 = 32 KVs.
  assert.throws(() => cp.reserve(s0, 33), (e: unknown) => e instanceof InvalidArgumentError && /32/.test((e as Error).message));
  assert.is(cp.numFreeBlocks, 12);
});

misuse("bad config fields throw ConfigError naming the field", () => {
  assert.throws(() => ControlPlane.createSync(controlWasm, { ...cfg, blockSize: 0 }), (e: unknown) => e instanceof ConfigError && e.field === "blockSize");
  assert.throws(() => ControlPlane.createSync(controlWasm, { ...cfg, numBlocks: 2.5 }), (e: unknown) => e instanceof ConfigError && e.field === "numBlocks");
});

misuse("async create gives the same pool", async () => {
  const cp = await ControlPlane.create(controlWasm, cfg);
  assert.is(cp.numFreeBlocks, 12);
  assert.is(cp.addSequence(), 0);
});

misuse.run();
