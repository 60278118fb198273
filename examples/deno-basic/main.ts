// Deno: WebGPU from navigator.gpu (run with lavapipe or a real GPU), same API as everywhere.
//   deno run -A dist/... examples/deno-basic/main.ts
import { createKvCache, requestGpuDevice } from "kvcompress";

const { adapterName } = await requestGpuDevice();
const cache = await createKvCache({
  numLayers: 2, numQHeads: 8, numKvHeads: 4, headSize: 16, capacityTokens: 512, maxContextTokens: 512,
  policy: { name: "snapkv", maxTokensPerHead: 32 },
});
const seq = cache.addSequence();
const numTokens = 100;
await cache.reserve(seq, numTokens);
for (let layer = 0; layer < 2; layer++) {
  const kv = () => Float32Array.from({ length: numTokens * 4 * 16 }, () => Math.random() - 0.5);
  cache.append(layer, seq, kv(), kv());
  await cache.attend(layer, seq, Float32Array.from({ length: numTokens * 8 * 16 }, () => Math.random() - 0.5));
}
await cache.endStep([seq]);
console.log(adapterName, cache.stats().sequences[0].keptPerHead);
cache.destroy();
