// Keys per split of each batch chunk (src/gpu/kernels/decodeAttention.ts batchChunkSplitKeys): a
// chunk's scratch rows, (rows before it + its sequences) · splits, never exceed the scratch, for
// batches past MAX_BATCH_SEQS. Pure, no device. The scratch's row count is written out here as
// createDecodeAttention sizes it: max(B · ceil(C / maxSplitKeys), ceil(target / (kvHeads · quads)) + B).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { batchChunkSplitKeys, chooseSplitKeys } from "../../src/gpu/kernels/decodeAttention";
import { makeRng } from "../reference/kernels";

const test = suite("decode splits per batch chunk");
const CHUNK = 64; // MAX_BATCH_SEQS

test("the case that overflowed: 128 sequences of 1 280 tokens, 8 KV heads, one quad", () => {
  const B = 128, C = 1280, MSK = 512, target = 1024, kvHeads = 8, quads = 1;
  const rows = Math.max(B * Math.ceil(C / MSK), Math.ceil(target / (kvHeads * quads)) + B);
  // A last chunk of 1 sequence alone takes splits of 32 keys: 40 of them, 65 · 40 rows.
  const alone = chooseSplitKeys(1, kvHeads, quads, C, target, MSK);
  assert.ok((CHUNK + 1) * Math.ceil(C / alone) > rows, "the unclamped choice overflows");
  const k = batchChunkSplitKeys(CHUNK, 1, kvHeads, quads, C, target, MSK, rows);
  assert.ok((CHUNK + 1) * Math.ceil(C / k) <= rows, `${k} keys per split fit ${rows} rows`);
});

test("random batches: every chunk fits, keys a multiple of 32 and at most maxSplitKeys; the first chunk as before", () => {
  const rng = makeRng(7);
  for (let trial = 0; trial < 2000; trial++) {
    const B = 1 + Math.floor(rng() * 300), MSK = 32 * (1 + Math.floor(rng() * 32)), C = 32 + Math.floor(rng() * 40000);
    const kvHeads = 1 + Math.floor(rng() * 16), quads = 1 + Math.floor(rng() * 4), target = 64 * (1 + Math.floor(rng() * 64));
    const rows = Math.max(B * Math.ceil(C / MSK), Math.ceil(target / (kvHeads * quads)) + B);
    const n = 1 + Math.floor(rng() * B), ctx = 1 + Math.floor(rng() * C);
    for (let base = 0; base < n; base += CHUNK) {
      const len = Math.min(CHUNK, n - base);
      const k = batchChunkSplitKeys(base, len, kvHeads, quads, ctx, target, MSK, rows);
      const at = `B ${B} C ${C} MSK ${MSK} ctx ${ctx} base ${base} len ${len}`;
      assert.ok(k % 32 === 0 && k >= 32 && k <= MSK, `${at}: ${k} keys`);
      assert.ok((base + len) * Math.ceil(ctx / k) <= rows, `${at}: ${(base + len) * Math.ceil(ctx / k)} rows > ${rows}`);
      if (base === 0) assert.is(k, chooseSplitKeys(len, kvHeads, quads, ctx, target, MSK), `${at}: first chunk unchanged`);
    }
  }
});

test.run();
