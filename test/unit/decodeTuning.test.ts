// The decode kernel's default knobs per pool (src/gpu/layout.ts decodeDefaultTuning): pure, no device.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { DECODE_WIDE_WG_POOL_BYTES, DEFAULT_DECODE_TUNING, decodeDefaultTuning } from "../../src/gpu/layout";

const test = suite("decode tuning defaults");

// f16, d = 128, b = 16: 8 KiB blocks.
const dims = (numBlocks: number) => ({
  numLayers: 1, maxSeqs: 1, numKvHeads: 8, numQHeads: 32, headSize: 128, blockSize: 16, numBlocks, maxBlocksPerHead: 16, dtype: "f16" as const,
});

test("128-invocation workgroups only on pools over DECODE_WIDE_WG_POOL_BYTES; split-minor grid", () => {
  const edge = DECODE_WIDE_WG_POOL_BYTES / 8192;
  assert.equal(decodeDefaultTuning(dims(1)), DEFAULT_DECODE_TUNING);
  assert.equal(decodeDefaultTuning(dims(edge)), DEFAULT_DECODE_TUNING);
  assert.equal(decodeDefaultTuning(dims(edge + 1)), { ...DEFAULT_DECODE_TUNING, wgSize: 128 });
  assert.is(decodeDefaultTuning(dims(edge + 1)).splitMajor, false);
  // q4 blocks are smaller: the same block count is a smaller pool.
  assert.equal(decodeDefaultTuning({ ...dims(edge + 1), dtype: "q4" }), DEFAULT_DECODE_TUNING);
});

test.run();
