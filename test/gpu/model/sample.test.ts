// GPU sampling (temperature + top-p) vs src/model/sample.ts sampleToken fed the same uniform r.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { STEP_BYTES, createModelKernels, createStepBuffer, writeStep } from "../../../src/gpu/model";
import { sampleToken } from "../../../src/model/sample";
import { makeRng } from "../../reference/kernels";
import { testDevice } from "../../harness/env";
import { freshSeed, randomArray, readBuffer, runPass, storageBuffer } from "../helpers";

const test = suite("gpu: model sampling");

test("top-p / temperature sampling matches sampleToken, vocab 515, 3 rows", async () => {
  const device = await testDevice();
  const k = await createModelKernels(device);
  for (const [temperature, topP] of [[0, 1], [0.7, 0.9], [1, 1], [1.3, 0.5], [0.5, 0.95]] as const) {
    const seed = freshSeed(), rng = makeRng(seed);
    const V = 515, rows = 3;
    const logits = randomArray(rng, rows * V).map((v) => v * 6);
    const r = rng();
    const out = storageBuffer(device, new Uint32Array(rows).fill(0xdeadbeef));
    const step = createStepBuffer(device);
    writeStep(device.queue, step, 1, 0, temperature, topP, r, new Uint32Array(STEP_BYTES / 4));
    const lb = storageBuffer(device, logits);
    const d = temperature === 0 ? k.argmax.prepare({ logits: lb, out, vocab: V }) : k.sample.prepare({ step, logits: lb, out, vocab: V });
    await runPass(device, (pass) => d.encode(pass, rows));
    const got = [...new Uint32Array(await readBuffer(device, out)).subarray(0, rows)];
    const want = [0, 1, 2].map((row) => sampleToken(logits.subarray(row * V, (row + 1) * V), { temperature, topP }, () => r));
    assert.equal(got, want, `T=${temperature} topP=${topP} r=${r} (seed ${seed})`);
  }
  k.destroy();
});

test.run();
