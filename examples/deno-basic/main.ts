// Deno: WebGPU from navigator.gpu on a hardware GPU, else the CPU backend (backend "auto"); the
// same API as everywhere. Prints the backend the cache really runs on and the kept KVs per head.
// In this repository (after `npm run build`; the import map points "kvcompress" at dist/):
//   deno run -A --import-map examples/deno-basic/import_map.json examples/deno-basic/main.ts
// From npm instead: import from "npm:kvcompress" and drop the import map.
import { createKvCache } from "kvcompress";

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
console.log(`backend ${cache.backendKind} (${cache.adapterName}); kept KVs per head:`, Array.from(cache.stats().sequences[0].keptPerHead).join(" "));
cache.destroy();
