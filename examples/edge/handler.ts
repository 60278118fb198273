// An edge function (the `fetch(request, env)` handler of Cloudflare Workers and Deno Deploy):
// decodes with a small model on the compressed cache on the CPU backend — edge runtimes have
// no WebGPU — and returns the text and the cache's stats as JSON.
//
//   GET /?prompt=Once%20upon%20a%20time&tokens=48&ratio=4
//
// The model comes from MODEL_URL (a directory of llama2.c or Hugging Face files) or from a
// ModelSource the host injects (the tests pass the shared files as bytes).
import { CachedSequence, createKvCache, generate, loadModel, sourceFromUrl, type LoadedModel, type ModelSource } from "kvcompress";

export interface EdgeEnv {
  MODEL_URL?: string;
}

export function createHandler(options: { source?: ModelSource; llama2c?: { checkpoint: string; tokenizer: string } } = {}) {
  let model: Promise<LoadedModel> | undefined; // loaded once per isolate, reused by every request
  return {
    async fetch(request: Request, env: EdgeEnv = {}): Promise<Response> {
      const url = new URL(request.url);
      const prompt = url.searchParams.get("prompt") ?? "Once upon a time";
      const tokens = Number(url.searchParams.get("tokens") ?? 48);
      const ratio = Number(url.searchParams.get("ratio") ?? 4);
      if (!(Number.isInteger(tokens) && tokens >= 1 && tokens <= 256)) return json({ error: "tokens must be an integer in [1, 256]" }, 400);
      if (!(ratio >= 1)) return json({ error: "ratio must be a number ≥ 1" }, 400);
      const modelUrl = typeof env.MODEL_URL === "string" ? env.MODEL_URL : denoEnv("MODEL_URL");
      const source = options.source ?? (modelUrl ? sourceFromUrl(modelUrl) : undefined);
      if (!source) return json({ error: "no model: set MODEL_URL" }, 500);
      model ??= loadModel(source, { llama2c: options.llama2c ?? { checkpoint: "stories260K.bin", tokenizer: "tok512.bin" } });
      const { model: llama, tokenizer } = await model;
      const c = llama.config;
      const promptIds = tokenizer.encode(prompt);
      const maxContextTokens = Math.min(c.maxSeqLen, promptIds.length + tokens);
      const cache = await createKvCache({
        numLayers: c.numLayers, numQHeads: c.numQHeads, numKvHeads: c.numKvHeads, headSize: c.headSize,
        storage: "f16", maxSeqs: 1, maxContextTokens, capacityTokens: maxContextTokens,
        policy: { name: "kvcompress", ratio, trigger: "continual", protectedWindow: 8 },
      }, { backend: "cpu" });
      try {
        const seq = new CachedSequence(cache, cache.addSequence());
        const t0 = performance.now();
        const out = await generate(llama, seq, promptIds, { maxNewTokens: tokens, stopIds: [tokenizer.eosId] });
        const stats = cache.stats();
        const s = stats.sequences[0];
        return json({
          backend: cache.backendKind, text: tokenizer.decode(out.ids.slice(promptIds.length)),
          promptTokens: promptIds.length, generatedTokens: out.ids.length - promptIds.length, ms: performance.now() - t0,
          kv: { policy: stats.policy, keptPerHead: Array.from(s.keptPerHead), bytesInUse: s.bytesInUse, bytesUncompressed: s.bytesUncompressed, achievedRatio: s.achievedRatio, passes: s.passes, evictedKvs: s.evictedKvs },
        });
      } finally {
        cache.destroy();
      }
    },
  };
}

/** Deno.env under `deno serve` (undefined elsewhere, or without --allow-env). */
function denoEnv(name: string): string | undefined {
  const deno = (globalThis as { Deno?: { env: { get(k: string): string | undefined } } }).Deno;
  try {
    return deno?.env.get(name);
  } catch {
    return undefined;
  }
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

/** The module shape Cloudflare Workers and Deno Deploy expect. */
export default createHandler();
