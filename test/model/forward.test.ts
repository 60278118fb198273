// The decoder's invariants that the reference ids alone would not pin down: chunked prefill
// equals token-by-token decode, the two RoPE conventions are the same rotation on permuted
// components, and Llama-3 rope scaling keeps high frequencies and slows low ones.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createFullAttentionCache } from "../../src/model/index";
import { applyRope, ropeInvFrequencies } from "../../src/model/rope";
import { loadTinyHf } from "./helpers";

const t = suite("model: forward invariants");

t("prefill in chunks of 5 and 1-token decode give the same logits", async () => {
  const { model } = await loadTinyHf();
  const ids = [1, 147, 201, 282, 215, 286, 598, 1662, 356, 499, 826];
  const chunked = createFullAttentionCache(model);
  await model.forward(ids.slice(0, 5), chunked);
  const chunkLogits = await model.forward(ids.slice(5), chunked, { allLogits: true });
  const stepped = createFullAttentionCache(model);
  let stepLogits: Float32Array = new Float32Array(0);
  for (const id of ids) stepLogits = await model.forward([id], stepped);
  const vocabSize = model.config.vocabSize;
  const lastChunkRow = chunkLogits.subarray(5 * vocabSize);
  let maxDiff = 0;
  for (let i = 0; i < vocabSize; i++) maxDiff = Math.max(maxDiff, Math.abs(lastChunkRow[i]! - stepLogits[i]!));
  assert.ok(maxDiff < 1e-4, `max |Δlogit| ${maxDiff}`);
  assert.is(chunked.seqLen, ids.length);
});

t("interleaved and rotate-half RoPE agree up to the component permutation", () => {
  const headSize = 8;
  const invFreq = ropeInvFrequencies(headSize, 10000, null);
  const halves = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]); // pairs (j, j+4)
  const interleaved = Float32Array.from([1, 5, 2, 6, 3, 7, 4, 8]); // same pairs as (2j, 2j+1)
  applyRope(halves, 1, 1, headSize, 17, invFreq, "rotate-half");
  applyRope(interleaved, 1, 1, headSize, 17, invFreq, "interleaved");
  for (let j = 0; j < 4; j++) {
    assert.ok(Math.abs(halves[j]! - interleaved[2 * j]!) < 1e-6);
    assert.ok(Math.abs(halves[j + 4]! - interleaved[2 * j + 1]!) < 1e-6);
  }
});

t("llama3 rope_scaling: high frequencies kept, low ones divided by factor, band between", () => {
  const scaling = { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };
  const plain = ropeInvFrequencies(128, 500000, null);
  const scaled = ropeInvFrequencies(128, 500000, scaling);
  assert.is(scaled[0], plain[0]); // wavelength 2π < 8192/4
  assert.ok(Math.abs(scaled[63]! - plain[63]! / 8) < 1e-18); // wavelength > 8192
  const mid = plain.findIndex((f) => 2 * Math.PI / f > 2048 && 2 * Math.PI / f < 8192);
  assert.ok(mid > 0 && scaled[mid]! < plain[mid]! && scaled[mid]! > plain[mid]! / 8);
});

t.run();
