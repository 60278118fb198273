// loadModel("org/name"): @huggingface/hub's protocol against an injected fake hub (so it runs in
// every runtime), one overall progress figure, a cache that makes the second load fetch nothing
// (in Chromium: the real Cache Storage), revisions, a sharded repo of any id, an AbortSignal, and
// an HTML answer that is refused and never cached.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { InvalidArgumentError, ModelSourceError } from "../../src/errors";
import { loadModel, openModel, sourceFromHub, type LoadProgress, type ModelFileCache } from "../../src/model/hub";
import { loadEngine } from "../../sdk/engine";
import { fakeHub } from "./fakeHub";
import { greedyIds, readHfFiles } from "./helpers";
import { buildSafetensors, jsonBytes, splitSafetensors } from "./safetensorsFixtures";

const t = suite("model: loadModel from a hub id");
const HUB = "http://127.0.0.1:9"; // never dialled: every request goes to the fake hub's function
const inBrowser = typeof (globalThis as { document?: unknown }).document !== "undefined";

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
  const a = await loadModel("org/tiny", { hubUrl: HUB, fetch: hub.fetch, cache, progress: (p) => seen.push(p) });
  assert.is(a.format, "hf");
  const total = [...files.values()].reduce((s, b) => s + b.byteLength, 0);
  assert.ok(seen.length > files.size, "progress inside files");
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i].loadedBytes >= seen[i - 1].loadedBytes, "monotone");
  assert.ok(seen.every((p) => p.totalBytes === total), `the total is known from the listing (${total})`);
  assert.is(seen.at(-1)!.fraction, 1);
  assert.is(cache.store.size, files.size);
  assert.equal(hub.fileGets().sort(), [...files.keys()].map((f) => `/org/tiny/resolve/main/${f}`).sort(), "each file fetched once");
  hub.requests.length = 0;
  const b = await loadModel("org/tiny", { hubUrl: HUB, fetch: hub.fetch, cache });
  assert.equal(b.tokenizer.encode("Once upon a time"), a.tokenizer.encode("Once upon a time"));
  assert.equal(hub.requests.filter((r) => r.path.includes("/resolve/")), [], "no file fetched again");
});

t("openModel: loadEngine runs a hub model, with one overall figure from the listing", async () => {
  const files = await readHfFiles();
  const hub = fakeHub(files);
  const seen: LoadProgress[] = [];
  const engine = await loadEngine(await openModel("org/tiny", { hubUrl: HUB, fetch: hub.fetch, cache: false, progress: (p) => seen.push(p) }), { backend: "cpu" });
  try {
    const ids: number[] = [];
    for await (const id of engine.generate("Once upon a time", { maxTokens: 2 })) ids.push(id);
    assert.is(ids.length, 2);
    const total = [...files.values()].reduce((n, b) => n + b.byteLength, 0);
    assert.ok(seen.length > 0 && seen.every((p) => p.totalBytes === total), `total ${seen[0]?.totalBytes} of ${total}`);
    assert.is(seen.at(-1)!.fraction, 1);
  } finally {
    engine.destroy();
  }
});

t("an AbortSignal stops the load with its reason", async () => {
  const files = await readHfFiles();
  const hub = fakeHub(files);
  const controller = new AbortController();
  try {
    await loadModel("org/tiny", {
      hubUrl: HUB, fetch: hub.fetch, cache: false, signal: controller.signal,
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
    await loadModel("org/tiny", { hubUrl: HUB, fetch: hub.fetch, cache });
    assert.unreachable("expected a rejection");
  } catch (err) {
    assert.instance(err, ModelSourceError);
    assert.match((err as Error).message, new RegExp(`${htmlFile.replace(".", "\\.")}.*HTML`));
  }
  assert.ok(![...cache.store.keys()].some((u) => u.endsWith(htmlFile)), "the page is not cached");
});

t("a file whose bytes do not match the listing's sha256 is refused and not cached", async () => {
  const files = await readHfFiles();
  const hub = fakeHub(files, { listing: (e) => (e.path === "model.safetensors" && e.lfs ? { ...e, lfs: { ...e.lfs, oid: "0".repeat(64) } } : e) });
  const cache = memoryCache();
  try {
    await loadModel("org/tiny", { hubUrl: HUB, fetch: hub.fetch, cache });
    assert.unreachable("expected a rejection");
  } catch (err) {
    assert.instance(err, ModelSourceError);
    assert.match((err as Error).message, /model\.safetensors: sha256 [0-9a-f]{64} does not match the hub's 0{64}/);
  }
  assert.ok(![...cache.store.keys()].some((u) => u.endsWith("model.safetensors")), "the wrong file is not cached");
});

t("revision: files resolve at that revision; a mirror without the tree API still loads", async () => {
  const files = await readHfFiles();
  const hub = fakeHub(files, { revision: "v1.0" });
  const a = await loadModel("org/tiny", { hubUrl: HUB, fetch: hub.fetch, cache: false, revision: "v1.0" });
  assert.is(a.format, "hf");
  assert.ok(hub.fileGets().every((p) => p.startsWith("/org/tiny/resolve/v1.0/")), hub.fileGets().join(" "));
  try {
    await loadModel("org/tiny", { hubUrl: HUB, fetch: hub.fetch, cache: false }); // main is not served
    assert.unreachable("expected a rejection");
  } catch (err) {
    assert.instance(err, ModelSourceError);
  }
  const mirror = fakeHub(files, { noApi: true });
  const seen: number[] = [];
  const b = await loadModel("org/tiny", { hubUrl: HUB, fetch: mirror.fetch, cache: false, progress: (p) => seen.push(p.fraction) });
  assert.equal(b.tokenizer.encode("Once"), a.tokenizer.encode("Once"));
  assert.is(seen.at(-1), 1);
});

t("any id: a sharded repo with an index loads, the total counts every shard and no other file", async () => {
  const files = await readHfFiles();
  const { tensors } = splitSafetensors(files.get("model.safetensors")!);
  const shardOf = (name: string) => (name.includes("layers.1.") ? "model-00002-of-00002.safetensors" : "model-00001-of-00002.safetensors");
  const repo = new Map(files);
  repo.delete("model.safetensors");
  for (const shard of ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]) repo.set(shard, buildSafetensors(tensors.filter((x) => shardOf(x.name) === shard)));
  repo.set("model.safetensors.index.json", jsonBytes({ metadata: {}, weight_map: Object.fromEntries(tensors.map((x) => [x.name, shardOf(x.name)])) }));
  repo.set("README.md", new TextEncoder().encode("# a model card the loader never reads"));
  repo.set("pytorch_model.bin", new Uint8Array(5000)); // the same weights in another format: never read
  const hub = fakeHub(repo, { repo: "someone/Sharded-Llama" });
  const seen: LoadProgress[] = [];
  const loaded = await loadModel("someone/Sharded-Llama", { hubUrl: HUB, fetch: hub.fetch, cache: false, progress: (p) => seen.push(p) });
  const ref = await loadModel("org/tiny", { hubUrl: HUB, fetch: fakeHub(files).fetch, cache: false });
  const prompt = ref.tokenizer.encode("Once upon a time");
  assert.equal(await greedyIds(loaded, prompt, 3), await greedyIds(ref, prompt, 3));
  const expected = [...repo].filter(([f]) => f !== "README.md" && f !== "pytorch_model.bin").reduce((n, [, b]) => n + b.byteLength, 0);
  assert.ok(seen.every((p) => p.totalBytes === expected), `total ${seen[0].totalBytes}, expected ${expected}`);
  assert.is(seen.at(-1)!.fraction, 1);
  assert.ok(!hub.fileGets().some((p) => /README|pytorch_model/.test(p)), "only the files the loader reads");
});

t(`cache "auto": ${inBrowser ? "Cache Storage keeps the files, a second load fetches none" : "no browser cache here, every load fetches"}`, async () => {
  const files = await readHfFiles();
  const hub = fakeHub(files, { repo: "org/cached" });
  const storage = (globalThis as { caches?: CacheStorage }).caches;
  if (inBrowser) await storage!.delete("kvcompress-models-v1");
  await loadModel("org/cached", { hubUrl: HUB, fetch: hub.fetch });
  assert.is(hub.fileGets().length, files.size);
  hub.requests.length = 0;
  await loadModel("org/cached", { hubUrl: HUB, fetch: hub.fetch });
  assert.is(hub.fileGets().length, inBrowser ? 0 : files.size, hub.fileGets().join(" "));
  if (inBrowser) {
    const c = await storage!.open("kvcompress-models-v1");
    assert.is((await c.match(`${HUB}/org/cached/resolve/main/model.safetensors`))?.headers.get("content-length"), String(files.get("model.safetensors")!.byteLength));
    await storage!.delete("kvcompress-models-v1");
  }
});

t("sourceFromHub: loadEngine reads the repository through the same requests and cache; a bad id is named", async () => {
  const files = await readHfFiles();
  const hub = fakeHub(files);
  const cache = memoryCache();
  const source = sourceFromHub("org/tiny", { hubUrl: HUB, fetch: hub.fetch, cache });
  assert.equal(hub.requests, [], "nothing is asked before the first read");
  const engine = await loadEngine(source, { backend: "cpu", maxContextTokens: 32 });
  try {
    assert.is(engine.format, "hf");
    assert.ok(hub.requests.some((r) => r.path === "/api/models/org/tiny/tree/main"), "the listing");
    assert.ok(hub.fileGets().includes("/org/tiny/resolve/main/config.json"), hub.fileGets().join("\n"));
    assert.equal([...cache.store.keys()].sort(), [...files.keys()].map((f) => `${HUB}/org/tiny/resolve/main/${f}`).sort());
  } finally {
    engine.destroy();
  }
  hub.requests.length = 0;
  const again = await sourceFromHub("org/tiny", { hubUrl: HUB, fetch: hub.fetch, cache }).read("config.json");
  assert.equal(again, files.get("config.json"));
  assert.equal(hub.fileGets(), [], "the second read comes from the cache");
  try {
    sourceFromHub("not a hub id");
    assert.unreachable("expected a rejection");
  } catch (err) {
    assert.instance(err, InvalidArgumentError);
    assert.is((err as InvalidArgumentError).field, "id");
  }
});

t.run();
