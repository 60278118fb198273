// tinystories-656K (Hugging Face format) against its reference.json; safetensors variants
// (sharded, BF16, F16, qwen2 biases) and broken files derived from the real bytes.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { MissingTensorError, ModelFormatError, TensorShapeError, UnsupportedModelError } from "../../src/errors";
import { SafetensorsFile } from "../../src/model/safetensors";
import { loadHfModel } from "../../src/model/index";
import {
  TINY_HF_DIR, greedyIds, hfSourceWith, loadTinyHf, meanNll, readHfFiles, readReference, valText,
} from "./helpers";
import { buildSafetensors, editJson, f32ToBf16, jsonBytes, splitSafetensors } from "./safetensorsFixtures";

const t = suite("model: HF tinystories-656K");

t("greedy decode from BOS reproduces reference ids and text", async () => {
  const ref = await readReference(TINY_HF_DIR);
  const loaded = await loadTinyHf();
  const ids = await greedyIds(loaded, ref.greedy_from_bos.prompt_ids, ref.greedy_from_bos.steps);
  assert.equal(ids, ref.greedy_from_bos.ids);
  assert.is(loaded.tokenizer.decode(ids), ref.greedy_from_bos.text);
  const stream = loaded.tokenizer.createStreamDecoder();
  assert.is(ids.map((id) => stream.push(id)).join("") + stream.flush(), ref.greedy_from_bos.text);
});

t("tokenizer first 16 ids; 512-token window NLL matches reference to 1e-3", async () => {
  const ref = await readReference(TINY_HF_DIR);
  const loaded = await loadTinyHf();
  const ids = loaded.tokenizer.encode(await valText());
  assert.equal(ids.slice(0, 16), ref.tinystories_val_window.first_16_ids);
  const nll = await meanNll(loaded, ids.slice(0, 512));
  const want = ref.tinystories_val_window.mean_nll_nats_over_511_predictions;
  assert.ok(Math.abs(nll - want) < 1e-3, `NLL ${nll}, reference ${want}`);
});

t("sharded BF16 checkpoint with an index loads to the same model", async () => {
  const ref = await readReference(TINY_HF_DIR);
  const files = await readHfFiles();
  const { tensors } = splitSafetensors(files.get("model.safetensors")!);
  const bf16 = tensors.map((x) => ({ ...x, dtype: "BF16", data: f32ToBf16(x.data) }));
  const shardOf = (name: string) => (name.includes("layers.1.") ? "model-00002-of-00002.safetensors" : "model-00001-of-00002.safetensors");
  const shards: Record<string, Uint8Array> = {};
  for (const shardName of ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]) {
    shards[shardName] = buildSafetensors(bf16.filter((x) => shardOf(x.name) === shardName));
  }
  const weightMap = Object.fromEntries(bf16.map((x) => [x.name, shardOf(x.name)]));
  files.delete("model.safetensors");
  const progressFiles = new Set<string>();
  const loaded = await loadHfModel(
    hfSourceWith(files, { ...shards, "model.safetensors.index.json": jsonBytes({ metadata: {}, weight_map: weightMap }) }),
    { onProgress: (_loaded, _total, fileName) => progressFiles.add(fileName) },
  );
  assert.ok(progressFiles.has("model-00002-of-00002.safetensors"));
  assert.equal(await greedyIds(loaded, [1], 12), ref.greedy_from_bos.ids.slice(0, 13));
});

t("F16 tensors widen exactly, subnormals and signs included", () => {
  const halfBits = [0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x8000];
  const data = new Uint8Array(halfBits.length * 2);
  halfBits.forEach((h, i) => new DataView(data.buffer).setUint16(i * 2, h, true));
  const file = SafetensorsFile.parse(buildSafetensors([{ name: "x", dtype: "F16", shape: [2, 3], data }]), "f16.safetensors");
  assert.equal(Array.from(file.readF32("x", [2, 3])), [1, -2, 0.5, 65504, 2 ** -24, -0]);
});

t("qwen2: q/k/v biases are loaded and applied", async () => {
  const ref = await readReference(TINY_HF_DIR);
  const files = await readHfFiles();
  const { tensors } = splitSafetensors(files.get("model.safetensors")!);
  const zeros = (n: number) => new Uint8Array(n * 4);
  for (const l of [0, 1]) {
    tensors.push({ name: `model.layers.${l}.self_attn.q_proj.bias`, dtype: "F32", shape: [128], data: zeros(128) });
    tensors.push({ name: `model.layers.${l}.self_attn.k_proj.bias`, dtype: "F32", shape: [64], data: zeros(64) });
    tensors.push({ name: `model.layers.${l}.self_attn.v_proj.bias`, dtype: "F32", shape: [64], data: zeros(64) });
  }
  const qwenConfig = editJson(files.get("config.json")!, (c) => { c.model_type = "qwen2"; });
  const loaded = await loadHfModel(hfSourceWith(files, { "config.json": qwenConfig, "model.safetensors": buildSafetensors(tensors) }));
  assert.ok(loaded.model.weights.layers[1]!.bk !== null);
  assert.equal(await greedyIds(loaded, [1], 8), ref.greedy_from_bos.ids.slice(0, 9)); // zero biases change nothing
  tensors.pop(); // drop layer 1's v bias
  const broken = hfSourceWith(files, { "config.json": qwenConfig, "model.safetensors": buildSafetensors(tensors) });
  const err = await rejection(loadHfModel(broken));
  assert.instance(err, MissingTensorError);
  assert.match(err.message, /model\.safetensors, tensor "model\.layers\.1\.self_attn\.v_proj\.bias"/);
});

t("corrupt safetensors header: ModelFormatError names the file", async () => {
  const files = await readHfFiles();
  const corrupt = files.get("model.safetensors")!.slice();
  corrupt.set(new TextEncoder().encode("#garbage#"), 9);
  const err = await rejection(loadHfModel(hfSourceWith(files, { "model.safetensors": corrupt })));
  assert.instance(err, ModelFormatError);
  assert.match(err.message, /^model\.safetensors: corrupt header/);
  const hugeHeader = files.get("model.safetensors")!.slice();
  new DataView(hugeHeader.buffer).setUint32(4, 7, true); // header length ≈ 30 GB
  assert.instance(await rejection(loadHfModel(hfSourceWith(files, { "model.safetensors": hugeHeader }))), ModelFormatError);
});

t("truncated safetensors: ModelFormatError names the file and first tensor past the end", async () => {
  const files = await readHfFiles();
  const truncated = files.get("model.safetensors")!.slice(0, 2_000_000);
  const err = await rejection(loadHfModel(hfSourceWith(files, { "model.safetensors": truncated })));
  assert.instance(err, ModelFormatError);
  assert.match(err.message, /^model\.safetensors, tensor "model\.layers\.\d\.[\w.]+": truncated/);
});

t("tensor of the wrong shape: TensorShapeError names file, tensor and both shapes", async () => {
  const files = await readHfFiles();
  const { tensors } = splitSafetensors(files.get("model.safetensors")!);
  const kProj = tensors.find((x) => x.name === "model.layers.0.self_attn.k_proj.weight")!;
  kProj.shape = [128, 64]; // same byte count, so only the config check can catch it
  const err = await rejection(loadHfModel(hfSourceWith(files, { "model.safetensors": buildSafetensors(tensors) })));
  assert.instance(err, TensorShapeError);
  assert.is(err.message, 'model.safetensors, tensor "model.layers.0.self_attn.k_proj.weight": shape [128, 64], expected [64, 128]');
  const inconsistent = tensors.map((x) => (x.name === "model.norm.weight" ? { ...x, shape: [129] } : x));
  const badOffsets = await rejection(loadHfModel(hfSourceWith(files, { "model.safetensors": buildSafetensors(inconsistent) })));
  assert.match(badOffsets.message, /tensor "model\.norm\.weight": corrupt header: data_offsets span 512 bytes/);
});

t("unknown model_type and unsupported rope_scaling: UnsupportedModelError names config.json", async () => {
  const files = await readHfFiles();
  const gpt2 = editJson(files.get("config.json")!, (c) => { c.model_type = "gpt2"; });
  const err = await rejection(loadHfModel(hfSourceWith(files, { "config.json": gpt2 })));
  assert.instance(err, UnsupportedModelError);
  assert.match(err.message, /^config\.json: model_type "gpt2" is not supported/);
  const yarn = editJson(files.get("config.json")!, (c) => { c.rope_scaling = { rope_type: "yarn", factor: 4 }; });
  const yarnErr = await rejection(loadHfModel(hfSourceWith(files, { "config.json": yarn })));
  assert.instance(yarnErr, UnsupportedModelError);
  assert.match(yarnErr.message, "rope_scaling");
});

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

t.run();
