// Sampling: greedy is argmax, a seed fixes the draw, top-p never leaves the nucleus.
import { InvalidArgumentError } from "../../src/errors";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { argmax, createRng, sampleToken } from "../../src/model/sample";

const t = suite("model: sampling");
const logits = Float32Array.from([1, 3, 2.5, -1, 3, 0]); // ids 1 and 4 tie for the max

t("temperature 0 is argmax, lowest id on ties", () => {
  assert.is(argmax(logits), 1);
  assert.is(sampleToken(logits, { temperature: 0 }, createRng(1)), 1);
  assert.is(sampleToken(logits, {}, createRng(1)), 1);
});

t("same seed → same tokens; different seeds differ", () => {
  const draw = (seed: number) => {
    const rng = createRng(seed);
    return Array.from({ length: 50 }, () => sampleToken(logits, { temperature: 1, topP: 0.95 }, rng));
  };
  assert.equal(draw(42), draw(42));
  assert.not.equal(draw(42), draw(43));
});

t("top-p keeps only the smallest nucleus above p", () => {
  // softmax at T=1: ids 1 and 4 ≈ 0.356 each (0.712 together), id 2 ≈ 0.216, the rest ≈ 0.07.
  const nucleus = (topP: number) => {
    const rng = createRng(7);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) seen.add(sampleToken(logits, { temperature: 1, topP }, rng));
    return [...seen].sort();
  };
  assert.equal(nucleus(0.7), [1, 4]);
  assert.equal(nucleus(0.75), [1, 2, 4]);
  assert.equal(nucleus(1), [0, 1, 2, 3, 4, 5]);
});

t("temperature 1 without top-p follows the softmax", () => {
  const rng = createRng(123);
  const twoWay = Float32Array.from([0, Math.log(3)]); // p = [0.25, 0.75]
  let ones = 0;
  const numDraws = 20000;
  for (let i = 0; i < numDraws; i++) ones += sampleToken(twoWay, { temperature: 1 }, rng);
  assert.ok(Math.abs(ones / numDraws - 0.75) < 0.02, `frequency ${ones / numDraws}`);
});

t("bad options throw InvalidArgumentError naming the field", () => {
  assert.throws(() => sampleToken(logits, { temperature: -1 }, createRng(1)), (e: unknown) => e instanceof InvalidArgumentError && e.field === "temperature");
  assert.throws(() => sampleToken(logits, { temperature: 1, topP: 0 }, createRng(1)), (e: unknown) => e instanceof InvalidArgumentError && e.field === "topP");
});

t.run();
