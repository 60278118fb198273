// loadModel("org/name"): the hub protocol against an injected fetch (so it runs in every
// runtime), one overall progress figure, a cache that makes the second load fetch nothing, an
// AbortSignal, and an HTML answer that is refused and never cached.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { InvalidArgumentError, ModelSourceError } from "../../src/errors";
import { loadModel, sourceFromHub, type LoadProgress, type ModelFileCache } from "../../src/model/hub";
import { loadEngine } from "../../sdk/engine";
import { readHfFiles } from "./helpers";

const t = suite("model: loadModel from a hub id");
const HUB = "http://127.0.0.1:9/"; // never dialled: every request goes to the fake below

function fakeHub(files: Map<string, Uint8Array>, opts: { html?: string } = {}) {
  const requests: string[] = [];
  const fetchImpl = (async (input: string | URL | Request) => {
    const url = String(input);
    requests.push(url);
    if (url === "http://127.0.0.1:9/api/models/org/tiny/tree/main") {
      return new Response(JSON.stringify([...files].map(([path, b]) => ({ type: "file", path, size: b.byteLength }))), { headers: { "content-type": "application/json" } });
    }
    const m = /^http:\/\/127\.0\.0\.1:9\/org\/tiny\/resolve\/main\/(.+)$/.exec(url);
    if (m && opts.html === m[1]) return new Response("<html>log in</html>", { headers: { "content-type": "text/html" } });
    const bytes = m && files.get(m[1]);
    if (!bytes) return new Response("not found", { status: 404, statusText: "Not Found" });
    // Streamed in 4 pieces, so progress has steps inside a file.
    const piece = Math.ceil(bytes.byteLength / 4);
    return new Response(new ReadableStream({
      start(c) {
        for (let i = 0; i < bytes.byteLength; i += piece) c.enqueue(bytes.slice(i, i + piece));
        c.close();
      },
    }), { headers: { "content-length": String(bytes.byteLength) } });
  }) as typeof fetch;
  return { fetchImpl, requests };
}

function memoryCache(): ModelFileCache & { store: Map<string, Uint8Array> } {
  const store = new Map<string, Uint8Array>();
  return {
    store,
    async match(url) { const b = store.get(url); return b && new Response(b.slice()); },
    async put(url, res) { store.set(url, new Uint8Array(await res.arrayBuffer())); },
  };
}

t("one overall progress figure, rising to 1; a second load from the cache fetches nothing", async () => {
  const files = await readHfFiles();
  const hub = fakeHub(files);
  const cache = memoryCache();
  const seen: LoadProgress[] = [];
  const a = await loadModel("org/tiny", { hubUrl: HUB, fetch: hub.fetchImpl, cache, progress: (p) => seen.push(p) });
  assert.is(a.format, "hf");
  const total = [...files.values()].reduce((s, b) => s + b.byteLength, 0);
  assert.ok(seen.length > files.size, "progress inside files");
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i].loadedBytes >= seen[i - 1].loadedBytes, "monotone");
  assert.ok(seen.every((p) => p.totalBytes === total), `the total is known from the listing (${total})`);
  assert.is(seen.at(-1)!.fraction, 1);
  assert.is(cache.store.size, files.size);
  hub.requests.length = 0;
  const b = await loadModel("org/tiny", { hubUrl: HUB, fetch: hub.fetchImpl, cache });
  assert.equal(b.tokenizer.encode("Once upon a time"), a.tokenizer.encode("Once upon a time"));
  assert.equal(hub.requests.filter((u) => u.includes("/resolve/")), [], "no file fetched again");
});

t("an AbortSignal stops the load with its reason", async () => {
  const files = await readHfFiles();
  const hub = fakeHub(files);
  const controller = new AbortController();
  try {
    await loadModel("org/tiny", {
      hubUrl: HUB, fetch: hub.fetchImpl, cache: false, signal: controller.signal,
      progress: (p) => { if (p.file === "model.safetensors") controller.abort(); },
    });
    assert.unreachable("expected an abort");
  } catch (err) {
    assert.is((err as Error).name, "AbortError");
  }
});

for (const htmlFile of ["config.json", "model.safetensors"]) t(`an HTML answer for ${htmlFile} is a ModelSourceError naming the file and is not cached`, async () => {
  const files = await readHfFiles();
  const hub = fakeHub(files, { html: htmlFile });
  const cache = memoryCache();
  try {
    await loadModel("org/tiny", { hubUrl: HUB, fetch: hub.fetchImpl, cache });
    assert.unreachable("expected a rejection");
  } catch (err) {
    assert.instance(err, ModelSourceError);
    assert.match((err as Error).message, new RegExp(`${htmlFile.replace(".", "\\.")}.*HTML`));
  }
  assert.ok(![...cache.store.keys()].some((u) => u.endsWith(htmlFile)), "the page is not cached");
});

t("sourceFromHub: loadEngine reads the repository through the same requests and cache; a bad id is named", async () => {
  const files = await readHfFiles();
  const hub = fakeHub(files);
  const cache = memoryCache();
  const engine = await loadEngine(sourceFromHub("org/tiny", { hubUrl: HUB, fetch: hub.fetchImpl, cache }), { backend: "cpu", maxContextTokens: 32 });
  try {
    assert.is(engine.format, "hf");
    assert.ok(hub.requests.includes("http://127.0.0.1:9/org/tiny/resolve/main/config.json"), hub.requests.join("\n"));
    assert.equal([...cache.store.keys()].sort(), [...files.keys()].map((f) => `http://127.0.0.1:9/org/tiny/resolve/main/${f}`).sort());
  } finally {
    engine.destroy();
  }
  hub.requests.length = 0;
  const again = await sourceFromHub("org/tiny", { hubUrl: HUB, fetch: hub.fetchImpl, cache }).read("config.json");
  assert.equal(again, files.get("config.json"));
  assert.equal(hub.requests, [], "the second read comes from the cache");
  try {
    sourceFromHub("not a hub id");
    assert.unreachable("expected a rejection");
  } catch (err) {
    assert.instance(err, InvalidArgumentError);
    assert.is((err as InvalidArgumentError).field, "id");
  }
});

t.run();
