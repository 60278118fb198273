// Model sources: bytes passed in, and URLs fetched with streamed progress (an injected fetch,
// so the test needs no server and runs in every runtime).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ModelSourceError } from "../../src/errors";
import { readOptional, sourceFromFiles, sourceFromPath, sourceFromUrl } from "../../src/model/source";
import { loadModel } from "../../src/model/index";
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
