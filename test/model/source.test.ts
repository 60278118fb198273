// Model sources: bytes passed in, and URLs fetched with streamed progress (an injected fetch,
// so the test needs no server and runs in every runtime).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ModelSourceError } from "../../src/errors";
import { readOptional, sourceFromFiles, sourceFromPath, sourceFromUrl } from "../../src/model/source";
import { loadModel } from "../../src/model/index";
import { type RawTensor, streamModel } from "../../src/engine/weights";
import type { ModelSource } from "../../src/model/source";
import { readShared, runtime, sharedBase } from "../harness/env";
import { HF_FILES, STORIES_DIR, TINY_HF_DIR } from "./helpers";

const t = suite("model: sources");

t("sourceFromFiles: reads, reports progress, and a missing file is notFound", async () => {
  const source = sourceFromFiles({ "a.bin": Uint8Array.of(1, 2, 3) });
  const progress: [number, number, string][] = [];
  assert.equal(Array.from(await source.read("a.bin", (l, n, f) => progress.push([l, n, f]))), [1, 2, 3]);
  assert.equal(progress, [[3, 3, "a.bin"]]);
  assert.is(await readOptional(source, "b.bin"), null);
  try {
    await source.read("b.bin");
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ModelSourceError);
    assert.ok((err as ModelSourceError).notFound);
  }
});

t("sourceFromUrl: streams chunks with progress; HTTP 404 is notFound, 500 is not", async () => {
  const chunks = [Uint8Array.of(1, 2), Uint8Array.of(3, 4, 5)];
  const fakeFetch = (async (url: string) => {
    if (url.endsWith("/missing.json")) return new Response("no", { status: 404 });
    if (url.endsWith("/broken.json")) return new Response("no", { status: 500 });
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const c of chunks) controller.enqueue(c);
        controller.close();
      },
    });
    return new Response(body, { headers: { "content-length": "5" } });
  }) as typeof fetch;
  const source = sourceFromUrl("http://127.0.0.1:1/models/x", fakeFetch);
  const progress: number[] = [];
  const bytes = await source.read("model.bin", (loaded, total, fileName) => {
    assert.is(total, 5);
    assert.is(fileName, "model.bin");
    progress.push(loaded);
  });
  assert.equal(Array.from(bytes), [1, 2, 3, 4, 5]);
  assert.equal(progress, [2, 5]);
  assert.is(await readOptional(source, "missing.json"), null);
  try {
    await source.read("broken.json");
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ModelSourceError);
    assert.match((err as Error).message, "http://127.0.0.1:1/models/x/broken.json: HTTP 500");
  }
});

t("sourceFromPath (Node, Deno): chunked read with progress; ENOENT is notFound", async () => {
  if (runtime === "chromium") return; // no file system in the browser; sources there are URLs or bytes
  const source = sourceFromPath(`${sharedBase()}/${STORIES_DIR}`);
  const progress: [number, number][] = [];
  const bytes = await source.read("tok512.bin", (loaded, total) => progress.push([loaded, total]));
  assert.equal(bytes, await readShared(`${STORIES_DIR}/tok512.bin`));
  assert.equal(progress.at(-1), [6227, 6227]);
  assert.is(await readOptional(source, "no-such-file.json"), null);
});

t("streamModel on a path source reads one tensor at a time (never a whole weight file), the same bytes as a whole read", async () => {
  if (runtime === "chromium") return; // range reads come from a file system
  for (const [dir, weights] of [[TINY_HF_DIR, "model.safetensors"], [STORIES_DIR, "stories260K.bin"]] as const) {
    const base = sourceFromPath(`${sharedBase()}/${dir}`);
    const wholeReads: string[] = [];
    let maxRange = 0, fileBytes = 0;
    const spied: ModelSource = {
      location: base.location,
      read: (name, p) => (wholeReads.push(name), base.read(name, p)),
      open: async (name) => {
        const f = await base.open!(name);
        fileBytes = f.byteLength;
        return { byteLength: f.byteLength, read: (o, n) => ((maxRange = Math.max(maxRange, n)), f.read(o, n)), close: () => f.close() };
      },
    };
    const llama2c = { checkpoint: "stories260K.bin", tokenizer: "tok512.bin" };
    const viaRanges: RawTensor[] = [], viaWhole: RawTensor[] = [];
    const keep = (out: RawTensor[]) => (t: RawTensor) => void out.push({ ...t, bytes: t.bytes.slice() });
    await streamModel(spied, keep(viaRanges), { llama2c });
    assert.not.ok(wholeReads.includes(weights), `${weights} read whole`);
    // The largest tensor (embedding or classifier: vocab × dim; llama2.c: one weight of all layers)
    // is well under half the file.
    assert.ok(maxRange > 0 && maxRange < fileBytes / 2, `largest range ${maxRange} of ${fileBytes}`);
    const whole = await readShared(`${dir}/${weights}`);
    const files = new Map<string, Uint8Array>([[weights, whole]]);
    for (const name of dir === STORIES_DIR ? ["tok512.bin"] : ["config.json", "tokenizer.json", "tokenizer_config.json"]) files.set(name, await readShared(`${dir}/${name}`));
    await streamModel(sourceFromFiles(files), keep(viaWhole), { llama2c });
    assert.is(viaRanges.length, viaWhole.length);
    for (let i = 0; i < viaWhole.length; i++) {
      assert.is(viaRanges[i]!.role, viaWhole[i]!.role);
      assert.equal(viaRanges[i]!.shape, viaWhole[i]!.shape);
      assert.ok(viaRanges[i]!.bytes.every((b, j) => b === viaWhole[i]!.bytes[j]), `${viaWhole[i]!.role} bytes differ`);
    }
  }
});

t("loadModel picks the format: config.json → HF, otherwise llama2.c", async () => {
  const hfFiles: Record<string, Uint8Array> = {};
  for (const name of HF_FILES) hfFiles[name] = await readShared(`${TINY_HF_DIR}/${name}`);
  const hf = await loadModel(sourceFromFiles(hfFiles));
  assert.is(hf.format, "hf");
  assert.is(hf.architecture, "llama");
  const l2c = await loadModel(sourceFromFiles({
    "stories260K.bin": await readShared(`${STORIES_DIR}/stories260K.bin`),
    "tok512.bin": await readShared(`${STORIES_DIR}/tok512.bin`),
  }), { llama2c: { checkpoint: "stories260K.bin", tokenizer: "tok512.bin" } });
  assert.is(l2c.format, "llama2c");
  assert.is(l2c.model.config.ropeStyle, "interleaved");
});

t.run();
