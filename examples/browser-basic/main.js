// Generates with stories260K on the compressed cache: WebGPU on a hardware adapter, else the
// CPU backend (backend "auto"), and prints the backend it really used. Plain JavaScript, so the
// page needs no build step; index.html maps "kvcompress" to the bundle.
import { createKvCache, loadModel, sourceFromUrl, CachedSequence, generate } from "kvcompress";

const out = document.querySelector("#out");
const modelUrl = new URL(new URLSearchParams(location.search).get("model") ?? "/shared/models/stories260K/", location.href).href;
const { model, tokenizer } = await loadModel(sourceFromUrl(modelUrl), { llama2c: { checkpoint: "stories260K.bin", tokenizer: "tok512.bin" } });
const c = model.config;
const cache = await createKvCache({ numLayers: c.numLayers, numQHeads: c.numQHeads, numKvHeads: c.numKvHeads, headSize: c.headSize,
  capacityTokens: 512, maxContextTokens: 512, policy: { name: "kvcompress", ratio: 4, trigger: "continual" } });
const prompt = tokenizer.encode("Once upon a time, there was a little girl named Lily. She loved to play outside in the park.");
const decoder = tokenizer.createStreamDecoder();
out.textContent = "";
await generate(model, new CachedSequence(cache, cache.addSequence()), prompt, { maxNewTokens: 64, onToken: (id) => { out.textContent += decoder.push(id); } });
const s = cache.stats().sequences[0];
const line = `backend ${cache.backendKind} (${cache.adapterName}): ${s.passes} compression passes, ${s.achievedRatio.toFixed(2)}x`;
out.textContent += `\n\n${line}`;
console.log(line);
cache.destroy();
