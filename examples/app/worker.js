// The model runs here, off the page's thread, so the page never freezes. Messages in:
//   { type: "load", source, backend, maxContextTokens, policy, llama2c }  → progress…, loaded | error
//   { type: "generate", prompt, maxTokens, compare }                      → step…, done | stopped | error
//   { type: "stop" }
// Every "step" carries engine.stats() as the SDK returned it, so the page draws exactly that.
// Where kvcompress comes from: this repository's bundle; on a static host, a copy beside the
// app ("./kvcompress.browser.js") or the CDN
// ("https://cdn.jsdelivr.net/npm/kvcompress@VERSION/dist/kvcompress.browser.js").
import { loadEngine, sourceFromFiles, sourceFromHub, sourceFromUrl, CachedSequence } from "../../dist/kvcompress.browser.js";

let engine = null;
let loaded = null; // what the engine was loaded from, to reload it with another policy
let controller = null;

const post = (msg) => self.postMessage(msg);
const errorOf = (err) => ({ type: "error", name: err?.name ?? "Error", message: err?.message ?? String(err) });

/** The page's description of a model → a ModelSource. */
async function sourceOf(src) {
  if (src.kind === "hub") return sourceFromHub(src.id, src.hubUrl ? { hubUrl: src.hubUrl } : {});
  if (src.kind === "url") return sourceFromUrl(src.url);
  const bytes = new Map();
  for (const f of src.files) bytes.set(f.name, new Uint8Array(await f.file.arrayBuffer()));
  return sourceFromFiles(bytes);
}

async function load(msg) {
  engine?.destroy();
  engine = null;
  const source = await sourceOf(msg.source);
  engine = await loadEngine(source, {
    backend: msg.backend, policy: msg.policy, maxContextTokens: msg.maxContextTokens,
    llama2c: msg.llama2c, onProgress: (loadedBytes, totalBytes, file) => post({ type: "progress", loadedBytes, totalBytes, file }),
  });
  loaded = msg;
  const c = engine.config;
  post({
    type: "loaded", backend: engine.backend, adapterName: engine.adapterName, format: engine.format,
    architecture: engine.architecture, weightBytes: engine.weightBytes, maxContextTokens: engine.maxContextTokens,
    numLayers: c.numLayers, numKvHeads: c.numKvHeads, policy: msg.policy, stats: engine.stats(),
  });
}

/** Lets a queued "stop" in: the CPU backend's steps settle as microtasks, which never let it run. */
const channel = new MessageChannel();
function yieldToMessages() {
  return new Promise((resolve) => { channel.port1.onmessage = () => resolve(); channel.port2.postMessage(0); });
}

/** One greedy step of the `full` comparison on its own cache (same weights, same backend). */
function argmax(logits) {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

async function generate(msg) {
  if (JSON.stringify(msg.policy) !== JSON.stringify(loaded.policy)) await load({ ...loaded, policy: msg.policy });
  controller = new AbortController();
  const signal = controller.signal;
  const tok = engine.tokenizer;
  const prompt = tok.encode(msg.prompt);
  const decoder = tok.createStreamDecoder();
  let full = null;
  if (msg.compare) {
    const cache = await engine.createCache({ name: "full" }, engine.maxContextTokens);
    full = { cache, seq: new CachedSequence(cache, cache.addSequence()), decoder: tok.createStreamDecoder(), next: null, done: false };
  }
  const model = engine.windowModel();
  let generated = 0, decodeMs = 0, prefillMs = 0;
  try {
    const it = engine.generate(prompt, { maxTokens: msg.maxTokens, signal });
    for (;;) {
      const t0 = performance.now();
      const r = await it.next();
      if (r.done) break;
      if (generated > 0) decodeMs += performance.now() - t0; // the first token also waited for the prefill
      else prefillMs = performance.now() - t0;
      generated++;
      const step = { type: "step", text: decoder.push(r.value), generated, promptTokens: prompt.length, stats: engine.stats() };
      step.tokensPerSecond = generated > 1 ? (generated - 1) / (decodeMs / 1000) : 0;
      step.prefillMs = prefillMs;
      if (full && !full.done) {
        const logits = await model.forward(full.next === null ? prompt : [full.next], full.seq);
        full.next = argmax(logits);
        step.fullText = full.decoder.push(full.next);
        step.fullStats = full.cache.stats();
        if (full.next === tok.eosId) full.done = true;
      }
      post(step);
      await yieldToMessages();
    }
    post({ type: "done", text: decoder.flush(), fullText: full?.decoder.flush() ?? "", stats: engine.stats() });
  } catch (err) {
    if (signal.aborted) post({ type: "stopped", text: decoder.flush(), stats: engine.stats() });
    else throw err;
  } finally {
    full?.cache.destroy();
    controller = null;
  }
}

self.onmessage = async (e) => {
  const msg = e.data;
  if (msg.type === "stop") return void controller?.abort();
  try {
    if (msg.type === "load") await load(msg);
    else if (msg.type === "generate") await generate(msg);
  } catch (err) {
    post(errorOf(err));
  }
};
