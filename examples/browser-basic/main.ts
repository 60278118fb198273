// Browser: import the single-file CDN bundle (wasm and WGSL embedded), e.g.
//   <script type="module" src="main.js"></script> with
//   import { createKvCache } from "https://cdn.jsdelivr.net/npm/kvcompress/dist/kvcompress.browser.js";
import { createKvCache, loadModel, sourceFromUrl, CachedSequence, generate } from "kvcompress";

const out = document.querySelector("#out")!;
const { model, tokenizer } = await loadModel(sourceFromUrl(new URL("./stories260K/", location.href).href), {
  llama2c: { checkpoint: "stories260K.bin", tokenizer: "tok512.bin" },
  onProgress: (done, total, file) => { out.textContent = `loading ${file}: ${done}/${total}`; },
});
const c = model.config;
const cache = await createKvCache({ numLayers: c.numLayers, numQHeads: c.numQHeads, numKvHeads: c.numKvHeads, headSize: c.headSize,
  capacityTokens: 512, maxContextTokens: 512, policy: { name: "kvcompress", ratio: 4 } });
const prompt = tokenizer.encode("Once upon a time");
const decoder = tokenizer.createStreamDecoder();
out.textContent = "";
await generate(model, new CachedSequence(cache, cache.addSequence()), prompt, { maxNewTokens: 100, onToken: (id) => { out.textContent += decoder.push(id); } });
