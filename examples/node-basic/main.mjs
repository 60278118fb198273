// Node: WebGPU through the optional `webgpu` package (Dawn) on a hardware GPU, else the CPU
// backend. Generates with stories260K on the compressed cache and prints the backend it used,
// tokens/s and the compression. Plain JavaScript, so Node 20 runs it as is. In this repository
// (after `npm run build`; "kvcompress" resolves to the package itself):
//   node examples/node-basic/main.mjs ../shared/models/stories260K
import { CachedSequence, createKvCache, generate, loadModel, sourceFromPath } from "kvcompress";

const dir = process.argv[2] ?? "../shared/models/stories260K";
const { model, tokenizer } = await loadModel(sourceFromPath(dir), { llama2c: { checkpoint: "stories260K.bin", tokenizer: "tok512.bin" } });
const c = model.config;
const cache = await createKvCache({
  numLayers: c.numLayers, numQHeads: c.numQHeads, numKvHeads: c.numKvHeads, headSize: c.headSize,
  capacityTokens: c.maxSeqLen, maxContextTokens: c.maxSeqLen, policy: { name: "kvcompress", ratio: 4 },
});
const prompt = tokenizer.encode("Once upon a time, there was a little dog named Max. Max loved to run in the park and play with his red ball.");
const seq = new CachedSequence(cache, cache.addSequence());
const out = await generate(model, seq, prompt, { maxNewTokens: 64 });
const s = cache.stats().sequences[0];
console.log(tokenizer.decode(out.ids.slice(prompt.length)));
console.log(`backend ${cache.backendKind} (${cache.adapterName}): ${(63 / (out.decodeMs / 1000)).toFixed(1)} tok/s, ` +
  `${s.bytesInUse} B of KV in use vs ${s.bytesUncompressed} B uncompressed (${s.achievedRatio.toFixed(2)}x)`);
cache.destroy();
