// The GPU-buffer path of the SDK (issue 5): inputs and outputs are GPUBuffers the caller owns,
// the cache only encodes into the caller's encoder, and nothing on the decode path waits on the
// GPU — a spy on mapAsync proves it. Results equal a plain attention over every token.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createKvCache } from "../../sdk/index";
import { freshSeed, rng, testDevice } from "../harness/env";
import { SHAPE, attendOver, makeTokens } from "./helpers";

const t = suite("sdk GPU-buffer path");

t("prefill and a batch of decodes from GPUBuffers, with no mapAsync on the way", async () => {
  const device = await testDevice();
  const seed = freshSeed();
  const P = 19, numSeqs = 3;
  const toks = Array.from({ length: numSeqs }, (_, i) => makeTokens(rng(seed + i), P + 1));
  const cache = await createKvCache({ ...SHAPE, blockSize: 8, storage: "f32", capacityBlocks: 64, maxSeqs: numSeqs, maxContextTokens: 64, policy: { name: "full" } }, { device });
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const made: GPUBuffer[] = [];
  const buf = (data: Float32Array | number) => {
    const b = device.createBuffer({ size: typeof data === "number" ? data : data.byteLength, usage });
    if (typeof data !== "number") device.queue.writeBuffer(b, 0, data as Float32Array<ArrayBuffer>);
    made.push(b);
    return b;
  };
  const proto = (globalThis as unknown as { GPUBuffer: { prototype: GPUBuffer } }).GPUBuffer.prototype;
  const original = proto.mapAsync;
  let mapCalls = 0;
  proto.mapAsync = function (this: GPUBuffer, ...args: Parameters<GPUBuffer["mapAsync"]>) {
    mapCalls++;
    return original.apply(this, args);
  };
  const outs: GPUBuffer[] = [];
  let seqIds: number[] = [];
  try {
    seqIds = toks.map(() => cache.addSequence());
    for (let i = 0; i < numSeqs; i++) {
      const pre = toks[i].slice(0, P);
      await cache.reserve(seqIds[i], P);
      const enc = device.createCommandEncoder();
      for (let l = 0; l < SHAPE.numLayers; l++) {
        cache.encodeAppend(enc, l, seqIds[i], buf(pre.k[l]), buf(pre.v[l]));
        cache.encodeAttention(enc, l, [seqIds[i]], buf(pre.q[l]), buf(pre.q[l].byteLength));
      }
      device.queue.submit([enc.finish()]);
      await cache.endStep([seqIds[i]]);
    }
    for (const s of seqIds) await cache.reserve(s, 1);
    const enc = device.createCommandEncoder();
    const rowQ = SHAPE.numQHeads * SHAPE.headSize;
    for (let l = 0; l < SHAPE.numLayers; l++) {
      const q = new Float32Array(numSeqs * rowQ);
      toks.forEach((tk, i) => {
        const one = tk.slice(P, P + 1);
        cache.encodeAppend(enc, l, seqIds[i], buf(one.k[l]), buf(one.v[l]));
        q.set(one.q[l], i * rowQ);
      });
      const out = buf(q.byteLength);
      cache.encodeAttention(enc, l, seqIds, buf(q), out);
      outs.push(out);
    }
    device.queue.submit([enc.finish()]);
    await cache.endStep(seqIds);
    assert.is(mapCalls, 0, "the GPU-buffer path never maps a buffer");
  } finally {
    proto.mapAsync = original;
  }
  try {
    for (let l = 0; l < SHAPE.numLayers; l++) {
      const rb = device.createBuffer({ size: outs[l].size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      const enc = device.createCommandEncoder();
      enc.copyBufferToBuffer(outs[l], 0, rb, 0, outs[l].size);
      device.queue.submit([enc.finish()]);
      await rb.mapAsync(GPUMapMode.READ);
      const got = new Float32Array(rb.getMappedRange().slice(0));
      rb.destroy();
      const rowQ = SHAPE.numQHeads * SHAPE.headSize;
      toks.forEach((tk, i) => {
        const want = attendOver(tk, l, P, P + 1, [...Array(P + 1).keys()]);
        for (let j = 0; j < rowQ; j++) {
          const g = got[i * rowQ + j];
          if (!(Math.abs(g - want[j]) <= 1e-5 * Math.max(1, Math.abs(want[j])))) assert.unreachable(`seed ${seed} layer ${l} seq ${i} [${j}]: ${g} vs ${want[j]}`);
        }
      });
    }
  } finally {
    cache.destroy();
    for (const b of made) b.destroy();
  }
});

t("the GPU-buffer path on a CPU cache is a named error", async () => {
  const cache = await createKvCache({ ...SHAPE, capacityBlocks: 8, policy: { name: "full" } }, { backend: "cpu" });
  try {
    assert.throws(() => cache.device, /GPU-buffer path needs the WebGPU backend/);
  } finally {
    cache.destroy();
  }
});

t.run();
