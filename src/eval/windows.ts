// Evaluation windows of docs/METHOD.md §5: the text is tokenized ONCE (no special tokens) and the
// token stream is cut into consecutive, non-overlapping chunks of T−1 tokens, each with BOS in
// front. Cutting the stream (rather than tokenizing each chunk) keeps every window's tokens
// identical to what the model sees in running text, and BOS gives every window the same start
// state, so windows are independent samples.
import { InvalidArgumentError } from "../errors";

/**
 * Cuts `tokenIds` into evaluation windows of `windowTokens` tokens: BOS followed by the next
 * `windowTokens − 1` tokens of the stream. A trailing chunk shorter than `windowTokens − 1` is
 * dropped (it would make windows of unequal length, and so unequal prediction counts).
 *
 * Worked example, T = 4, BOS = 1, ids = [10, 11, 12, 13, 14, 15, 16]:
 *   chunks of 3 → [10,11,12] [13,14,15] (16 dropped) → windows [1,10,11,12] [1,13,14,15].
 *
 * @param tokenIds    the whole text, tokenized once, without special tokens
 * @param windowTokens T, tokens per window including BOS (≥ 2)
 * @param maxWindows  N, keep only the first N windows (≥ 1)
 * @param bosId       the model's BOS token id
 * @returns at most `maxWindows` windows, each an Int32Array of length T (fewer when the text is short)
 * @throws InvalidArgumentError on T < 2, N < 1, or a non-integer argument
 */
export function cutWindows(
  tokenIds: ArrayLike<number>,
  windowTokens: number,
  maxWindows: number,
  bosId: number,
): Int32Array[] {
  if (!Number.isInteger(windowTokens) || windowTokens < 2) {
    throw new InvalidArgumentError("windowTokens", windowTokens, "must be an integer ≥ 2");
  }
  if (!Number.isInteger(maxWindows) || maxWindows < 1) {
    throw new InvalidArgumentError("maxWindows", maxWindows, "must be an integer ≥ 1");
  }
  if (!Number.isInteger(bosId) || bosId < 0) throw new InvalidArgumentError("bosId", bosId, "must be an integer ≥ 0");
  const chunkTokens = windowTokens - 1;
  const numWindows = Math.min(maxWindows, Math.floor(tokenIds.length / chunkTokens));
  const windows: Int32Array[] = [];
  for (let w = 0; w < numWindows; w++) {
    const window = new Int32Array(windowTokens);
    window[0] = bosId;
    const start = w * chunkTokens;
    for (let i = 0; i < chunkTokens; i++) window[i + 1] = tokenIds[start + i];
    windows.push(window);
  }
  return windows;
}

/** How many full windows of T tokens a stream of `numTokens` tokens yields (before the N cap). */
export function countWindows(numTokens: number, windowTokens: number): number {
  return Math.floor(numTokens / (windowTokens - 1));
}
