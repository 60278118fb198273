import { suite } from "uvu";
import * as assert from "uvu/assert";
import { countWindows, cutWindows } from "../../src/eval/windows";

const t = suite("eval windows");
const arr = (w: Int32Array) => Array.from(w);

t("T = 4, BOS = 1: chunks of 3 with BOS in front, short tail dropped", () => {
  // ids 10..16 → [10,11,12] [13,14,15], 16 is a short tail.
  const w = cutWindows([10, 11, 12, 13, 14, 15, 16], 4, 10, 1);
  assert.equal(w.map(arr), [[1, 10, 11, 12], [1, 13, 14, 15]]);
  assert.is(countWindows(7, 4), 2);
});

t("an exact multiple gives every chunk; maxWindows keeps the first N", () => {
  // 6 ids, T = 4 → 2 windows; N = 1 → only the first.
  assert.equal(cutWindows([5, 6, 7, 8, 9, 10], 4, 5, 0).map(arr), [[0, 5, 6, 7], [0, 8, 9, 10]]);
  assert.equal(cutWindows([5, 6, 7, 8, 9, 10], 4, 1, 0).map(arr), [[0, 5, 6, 7]]);
});

t("T = 2: one text token per window; too short a text gives no window", () => {
  assert.equal(cutWindows([7, 8, 9], 2, 9, 2).map(arr), [[2, 7], [2, 8], [2, 9]]);
  assert.equal(cutWindows([7, 8], 4, 9, 2), []);
});

t("windows do not overlap and cover the stream in order", () => {
  const ids = Array.from({ length: 2000 }, (_, i) => i + 3);
  const w = cutWindows(ids, 512, 64, 1);
  assert.is(w.length, 3); // floor(2000 / 511)
  const back = w.flatMap((x) => arr(x.subarray(1)));
  assert.equal(back, ids.slice(0, 3 * 511));
  for (const x of w) assert.is(x[0], 1);
});

t("bad arguments throw", () => {
  assert.throws(() => cutWindows([1, 2], 1, 1, 0), /windowTokens/);
  assert.throws(() => cutWindows([1, 2], 4, 0, 0), /maxWindows/);
  assert.throws(() => cutWindows([1, 2], 4, 1.5, 0), /maxWindows/);
  assert.throws(() => cutWindows([1, 2], 4, 1, -1), /bosId/);
});

t.run();
