// A call already in flight when the device is lost rejects with DeviceLostError (issue 15),
// not with the bare AbortError that mapAsync gives on a destroyed device (Node's Dawn).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createKvCache } from "../../sdk/cache";
import { requestGpuDevice } from "../../sdk/device";
import { DeviceLostError } from "../../src/errors";
import { SHAPE, makeTokens } from "./helpers";


const t = suite("sdk cache: device lost during a call");

t("attend in flight when the device is destroyed rejects with DeviceLostError", async () => {
  const { device } = await requestGpuDevice();
  const cache = await createKvCache({ ...SHAPE, capacityBlocks: 64, storage: "f32", maxContextTokens: 64, maxSeqs: 1 }, { device });
  const seq = cache.addSequence();
  const numTokens = 9;
  await cache.reserve(seq, numTokens);
  const rand = () => Math.random();
  const { k, v } = makeTokens(rand, numTokens);
  for (let l = 0; l < SHAPE.numLayers; l++) cache.append(l, seq, k[l], v[l]);
  const q = new Float32Array(numTokens * SHAPE.numQHeads * SHAPE.headSize).fill(0.5);
  const pending = cache.attend(0, seq, q);
  device.destroy();
  let outcome: unknown = "resolved";
  try {
    await pending;
  } catch (err) {
    outcome = err;
  }
  // Dawn aborts the queued readback (mapAsync rejects with a bare AbortError, which the cache
  // must turn into DeviceLostError); Deno's wgpu lets work submitted before destroy() finish.
  // Either is fine; any other rejection is not.
  assert.ok(outcome === "resolved" || outcome instanceof DeviceLostError, `settled with ${String(outcome)}`);
});

t.run();
