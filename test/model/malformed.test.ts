// A corpus of model files and SDK configs that must be refused (issue 15), each asserting the
// exact error class and the name it must carry: safetensors tensors aliasing each other's
// bytes, NaN/Inf weights in both formats, a non-own dtype key, a FIFO or a directory where a
// weight file should be, and cache configs the SDK used to accept.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createKvCache } from "../../sdk/cache";
import { ConfigError, ModelFormatError, ModelSourceError } from "../../src/errors";
import { loadHfModel, loadLlama2cModel } from "../../src/model/index";
import { sourceFromFiles, sourceFromPath } from "../../src/model/source";
import { readShared, runtime } from "../harness/env";
import { HF_FILES, STORIES_DIR, readHfFiles } from "./helpers";
import { buildSafetensors, splitSafetensors } from "./safetensorsFixtures";

const t = suite("model: malformed files and configs are refused with named errors");

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  return assert.unreachable("expected a rejection");
}

/** Rewrites one tensor's header entry in place (the data section stays as it is). */
function withHeaderEdit(bytes: Uint8Array, edit: (h: Record<string, { data_offsets: [number, number]; dtype: string }>) => void): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  edit(header);
  let json = JSON.stringify(header);
  json += " ".repeat(Math.max(0, n - json.length));
  assert.ok(json.length === n, "edited header fits the original length");
  const out = bytes.slice();
  out.set(new TextEncoder().encode(json), 8);
  return out;
}

const tensorNames = (bytes: Uint8Array) => splitSafetensors(bytes).tensors.map((x) => x.name);

t("safetensors: two tensors aliasing one byte range → ModelFormatError naming both", async () => {
  const files = await readHfFiles();
  const st = files.get("model.safetensors")!;
  // Two tensors of one byte size, so the alias passes the size check and only the overlap is wrong.
  const all = splitSafetensors(st).tensors;
  const pair = all.flatMap((x, i) => all.slice(i + 1).filter((y) => y.data.byteLength === x.data.byteLength && x.data.byteLength > 0).map((y) => [x, y] as const))[0];
  assert.ok(pair, "two tensors of one byte size exist");
  const aliased = withHeaderEdit(st, (h) => { h[pair[1].name].data_offsets = [...h[pair[0].name].data_offsets]; });
  const err = await rejection(loadHfModel(sourceFromFiles({ ...Object.fromEntries(files), "model.safetensors": aliased })));
  assert.instance(err, ModelFormatError);
  assert.match((err as Error).message, /overlap/);
  assert.ok([pair[0].name, pair[1].name].includes((err as ModelFormatError).tensorName!), (err as Error).message);
});

t("safetensors: a range that half-overlaps the next tensor → ModelFormatError", async () => {
  const files = await readHfFiles();
  const st = files.get("model.safetensors")!;
  const names = tensorNames(st);
  const shifted = withHeaderEdit(st, (h) => {
    const [b0, e0] = h[names[1]].data_offsets;
    const width = e0 - b0;
    const [, eFirst] = h[names[0]].data_offsets;
    // Move tensor 1 to start 4 bytes before tensor 0 ends, keeping its size.
    h[names[1]].data_offsets = [eFirst - 4, eFirst - 4 + width];
  });
  const err = await rejection(loadHfModel(sourceFromFiles({ ...Object.fromEntries(files), "model.safetensors": shifted })));
  assert.instance(err, ModelFormatError);
  assert.match((err as Error).message, /overlap/);
});

t("safetensors: a dtype that is an Object.prototype key → ModelFormatError, not a crash", async () => {
  const files = await readHfFiles();
  const st = files.get("model.safetensors")!;
  const bad = withHeaderEdit(st, (h) => { h[tensorNames(st)[0]].dtype = "toString"; });
  const err = await rejection(loadHfModel(sourceFromFiles({ ...Object.fromEntries(files), "model.safetensors": bad })));
  assert.instance(err, ModelFormatError);
  assert.match((err as Error).message, /dtype/);
});

for (const [label, value] of [["NaN", NaN], ["+Inf", Infinity], ["-Inf", -Infinity]] as const) {
  t(`safetensors: one ${label} weight → ModelFormatError naming the tensor`, async () => {
    const files = await readHfFiles();
    const { tensors } = splitSafetensors(files.get("model.safetensors")!);
    const victim = tensors.find((x) => x.dtype === "F32" && x.data.byteLength >= 16) ?? tensors.find((x) => x.data.byteLength >= 16)!;
    const data = victim.data.slice();
    const at = Math.floor(data.byteLength / 8) * 2; // an even element, inside the tensor
    const view = new DataView(data.buffer);
    if (victim.dtype === "F32") view.setFloat32(at * 2, value, true);
    else if (victim.dtype === "BF16") view.setUint16(at, value !== value ? 0x7fc0 : value > 0 ? 0x7f80 : 0xff80, true);
    else view.setUint16(at, value !== value ? 0x7e00 : value > 0 ? 0x7c00 : 0xfc00, true); // F16
    const rebuilt = buildSafetensors(tensors.map((x) => (x === victim ? { ...x, data } : x)));
    const err = await rejection(loadHfModel(sourceFromFiles({ ...Object.fromEntries(files), "model.safetensors": rebuilt })));
    assert.instance(err, ModelFormatError);
    assert.is((err as ModelFormatError).tensorName, victim.name);
    assert.match((err as Error).message, /finite/);
  });
}

t("llama2.c: a NaN weight → ModelFormatError naming the checkpoint and tensor", async () => {
  const bytes = (await readShared(`${STORIES_DIR}/stories260K.bin`)).slice();
  const tok = await readShared(`${STORIES_DIR}/tok512.bin`);
  new DataView(bytes.buffer).setFloat32(28 + 4 * 1001, NaN, true); // inside the embedding table
  const err = await rejection(loadLlama2cModel(sourceFromFiles({ "m.bin": bytes, "t.bin": tok }), { checkpoint: "m.bin", tokenizer: "t.bin" }));
  assert.instance(err, ModelFormatError);
  assert.is((err as ModelFormatError).fileName, "m.bin");
  assert.ok((err as ModelFormatError).tensorName !== undefined);
});

t("a missing tokenizer.json is reported naming tokenizer.json", async () => {
  const files = await readHfFiles();
  files.delete("tokenizer.json");
  const err = await rejection(loadHfModel(sourceFromFiles(files)));
  assert.instance(err, ModelSourceError);
  assert.match((err as Error).message, /^tokenizer\.json/);
});

if (runtime !== "chromium") {
  t("a FIFO or a directory as the weight file → ModelSourceError at once, never a hang", async () => {
    const fs = (await import("node:fs/promises" as string)) as typeof import("node:fs/promises");
    const os = (await import("node:os" as string)) as typeof import("node:os");
    const cp = (await import("node:child_process" as string)) as typeof import("node:child_process");
    const dir = await fs.mkdtemp(`${os.tmpdir()}/kvc-fifo-`);
    try {
      const files = await readHfFiles();
      for (const name of HF_FILES) if (name !== "model.safetensors") await fs.writeFile(`${dir}/${name}`, files.get(name)!);
      cp.execFileSync("mkfifo", [`${dir}/model.safetensors`]);
      const started = Date.now();
      const err = await rejection(loadHfModel(sourceFromPath(dir)));
      assert.instance(err, ModelSourceError);
      assert.match((err as Error).message, /model\.safetensors.*not a regular file/);
      assert.ok(Date.now() - started < 5000, "refused at once");
      await fs.rm(`${dir}/model.safetensors`);
      await fs.mkdir(`${dir}/model.safetensors`);
      const dirErr = await rejection(loadHfModel(sourceFromPath(dir)));
      assert.instance(dirErr, ModelSourceError);
      assert.match((dirErr as Error).message, /is a directory/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
}

const SHAPE = { numLayers: 3, numQHeads: 4, numKvHeads: 2, headSize: 16 } as const;

t("config: backend \"bogus\" → ConfigError naming backend", async () => {
  const err = await rejection(createKvCache({ ...SHAPE, capacityBlocks: 64 }, { backend: "bogus" as "cpu" }));
  assert.instance(err, ConfigError);
  assert.is((err as ConfigError).field, "backend");
});

t("config: a pool without one block per (layer, KV head) → ConfigError naming the bound", async () => {
  for (const capacity of [{ capacityBlocks: 1 }, { capacityBlocks: 5 }, { capacityBytes: 16 * 16 * 2 * 2 }]) {
    const err = await rejection(createKvCache({ ...SHAPE, ...capacity }, { backend: "cpu" }));
    assert.instance(err, ConfigError, JSON.stringify(capacity));
    assert.is((err as ConfigError).field, Object.keys(capacity)[0]);
    assert.match((err as Error).message, /at least 6 blocks/);
  }
  // Exactly the bound is a valid (tiny) pool.
  const cache = await createKvCache({ ...SHAPE, capacityBlocks: 6, maxContextTokens: 16 }, { backend: "cpu" });
  cache.destroy();
});

t.run();
