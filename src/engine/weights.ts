// Weights in their stored precision: the loaders walk a checkpoint tensor by tensor and hand each
// tensor's raw bytes, dtype and shape to a sink (the GPU engine uploads it and drops the bytes).
// Nothing here widens a 16-bit tensor to f32; the sink decides what to keep.
//
// Roles are the engine's names for tensors, independent of the file format:
//   embed, classifier (absent when tied), finalNorm, layers.<l>.<LlamaLayerWeights key>.
//
// Host memory: where the source can read byte ranges (ModelSource.open: a file system), each
// tensor is read on its own and dropped after the sink, so the peak is about the largest tensor
// (llama2.c: one weight of every layer, which that format stores together). Other sources (URLs,
// bytes) read whole files, one shard at a time; the sink never gets a copy.
import { MissingTensorError, ModelFormatError, TensorShapeError } from "../errors";
import { HfTokenizer } from "../model/hfTokenizer";
import { parseHfConfig, parseJson } from "../model/hf";
import { type LlamaConfig, type LlamaLayerWeights, expectedWeightShapes } from "../model/llama";
import { HEADER_BYTES, readHeader, sizeError, tensorLayout } from "../model/llama2c";
import { Llama2cTokenizer } from "../model/llama2cTokenizer";
import { SAFETENSORS_FILE, SAFETENSORS_INDEX_FILE, type TensorEntry, parseIndex, parseSafetensorsLayout, safetensorsHeaderBytes } from "../model/safetensors";
import { ModelSourceError } from "../errors";
import { type ModelSource, type ProgressCallback, type RandomAccessFile, fileLabel, readOptional } from "../model/source";
import type { ModelFormat, ModelTokenizer } from "../model/types";
import type { WeightDtype } from "../gpu/model/sources";

/** What the sink receives for one tensor. `bytes` is valid only during the call. */
export interface RawTensor {
  readonly role: string;
  readonly dtype: WeightDtype;
  /** Row-major, e.g. [out, in] for a linear layer. */
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

export type TensorSink = (tensor: RawTensor) => void | Promise<void>;

export interface StreamedModel {
  format: ModelFormat;
  architecture: string;
  config: LlamaConfig;
  tokenizer: ModelTokenizer;
  /** The classifier is the embedding (no "classifier" tensor was sent). */
  tied: boolean;
}

export interface StreamOptions {
  onProgress?: ProgressCallback;
  /** llama2.c file names, used when the source has no config.json. */
  llama2c?: { checkpoint?: string; tokenizer?: string };
  /** Called once with the config, before the first tensor reaches the sink. */
  onConfig?: (config: LlamaConfig) => void | Promise<void>;
  /** Checked between tensors: loading stops with its reason. */
  signal?: AbortSignal;
}

const LAYER_ROLES: Record<string, keyof LlamaLayerWeights> = {
  "input_layernorm.weight": "attnNorm", "self_attn.q_proj.weight": "wq", "self_attn.k_proj.weight": "wk",
  "self_attn.v_proj.weight": "wv", "self_attn.o_proj.weight": "wo", "self_attn.q_proj.bias": "bq",
  "self_attn.k_proj.bias": "bk", "self_attn.v_proj.bias": "bv", "post_attention_layernorm.weight": "ffnNorm",
  "mlp.gate_proj.weight": "wGate", "mlp.up_proj.weight": "wUp", "mlp.down_proj.weight": "wDown",
};

/** The shape each role must have under `c`. */
export function roleShape(c: LlamaConfig, role: string): readonly number[] {
  if (role === "embed" || role === "classifier") return [c.vocabSize, c.dim];
  if (role === "finalNorm") return [c.dim];
  const key = role.split(".")[2] as keyof LlamaLayerWeights;
  return expectedWeightShapes(c)[key];
}

/** Every role a model of config `c` needs (classifier only when untied). */
export function requiredRoles(c: LlamaConfig, tied: boolean): string[] {
  const roles = ["embed", "finalNorm", ...(tied ? [] : ["classifier"])];
  for (let l = 0; l < c.numLayers; l++) {
    for (const key of Object.values(LAYER_ROLES)) {
      if (!c.qkvBias && (key === "bq" || key === "bk" || key === "bv")) continue;
      roles.push(`layers.${l}.${key}`);
    }
  }
  return roles;
}

/**
 * Walks whichever format `source` holds (HF directory when it has config.json, else llama2.c)
 * and sends every tensor to `sink`, in file order.
 */
export async function streamModel(source: ModelSource, sink: TensorSink, options: StreamOptions = {}): Promise<StreamedModel> {
  const configBytes = await readOptional(source, "config.json", options.onProgress);
  if (configBytes !== null) return streamHf(source, configBytes, sink, options);
  return streamLlama2c(source, sink, options);
}

async function streamHf(source: ModelSource, configBytes: Uint8Array, sink: TensorSink, options: StreamOptions): Promise<StreamedModel> {
  const { onProgress } = options;
  const configLabel = fileLabel(source, "config.json");
  const cfg = parseHfConfig(parseJson(configBytes, configLabel), configLabel);
  const tokenizerLabel = fileLabel(source, "tokenizer.json");
  const tokenizerJson = parseJson(await source.read("tokenizer.json", onProgress), tokenizerLabel);
  const tcBytes = await readOptional(source, "tokenizer_config.json", onProgress);
  const tokenizerConfig = tcBytes === null ? {} : parseJson(tcBytes, fileLabel(source, "tokenizer_config.json"));
  const tokenizer = HfTokenizer.create(tokenizerJson, tokenizerConfig, cfg, tokenizerLabel);
  const c = cfg.llama;
  await options.onConfig?.(c);

  // Which files hold which names: one file, or the shards of the index (read one at a time).
  let files: string[];
  let names: Set<string>;
  let indexLabel = fileLabel(source, SAFETENSORS_FILE);
  let first = await openTensors(source, SAFETENSORS_FILE, onProgress);
  if (first !== null) {
    files = [SAFETENSORS_FILE];
    names = new Set(first.tensors.keys());
  } else {
    indexLabel = fileLabel(source, SAFETENSORS_INDEX_FILE);
    const weightMap = parseIndex(await source.read(SAFETENSORS_INDEX_FILE, onProgress), indexLabel);
    files = [...new Set(weightMap.values())];
    names = new Set(weightMap.keys());
  }
  const embedName = "model.embed_tokens.weight", headName = "lm_head.weight";
  // Tied checkpoints may store either name (tinystories-656K stores only lm_head), as buildHfWeights.
  const embedFrom = names.has(embedName) || !names.has(headName) ? embedName : headName;
  const tied = cfg.tieWordEmbeddings || !names.has(headName);
  const roleOf = (name: string): string | null => {
    if (name === embedFrom) return "embed";
    if (name === headName) return tied ? null : "classifier";
    if (name === "model.norm.weight") return "finalNorm";
    const m = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
    if (m && Number(m[1]) < c.numLayers && LAYER_ROLES[m[2]!]) {
      const key = LAYER_ROLES[m[2]!]!;
      if (!c.qkvBias && (key === "bq" || key === "bk" || key === "bv")) return null;
      return `layers.${m[1]}.${key}`;
    }
    return null; // e.g. rotary_emb.inv_freq of old exports: recomputed
  };
  const seen = new Set<string>();
  for (const name of files) {
    const label = fileLabel(source, name);
    const file = first ?? await openTensors(source, name, onProgress);
    first = null;
    if (file === null) throw new ModelSourceError(label, "listed in the index but not found", true);
    try {
      // File order, so a file-system source reads front to back.
      for (const entry of [...file.tensors.values()].sort((a, b) => a.beginByte - b.beginByte)) {
        const role = roleOf(entry.name);
        if (role === null) continue;
        const want = roleShape(c, role);
        if (entry.shape.length !== want.length || entry.shape.some((d, i) => d !== want[i])) throw new TensorShapeError(label, entry.name, want, entry.shape);
        const dtype = ({ F32: "f32", F16: "f16", BF16: "bf16" } as const)[entry.dtype as "F32"];
        if (dtype === undefined) throw new ModelFormatError(label, `dtype ${entry.dtype} is not supported (F32, F16, BF16 are)`, entry.name);
        options.signal?.throwIfAborted();
        await sink({ role, dtype, shape: entry.shape, bytes: await file.bytesOf(entry) });
        seen.add(role);
      }
    } finally {
      await file.close(); // let the shard go before the next one is read
    }
  }
  for (const role of requiredRoles(c, tied)) if (!seen.has(role)) throw new MissingTensorError(indexLabel, hfNameOf(role, embedFrom));
  return { format: "hf", architecture: cfg.modelType, config: c, tokenizer, tied };
}

function hfNameOf(role: string, embedFrom: string): string {
  if (role === "embed") return embedFrom;
  if (role === "classifier") return "lm_head.weight";
  if (role === "finalNorm") return "model.norm.weight";
  const [, l, key] = role.split(".");
  const hf = Object.entries(LAYER_ROLES).find(([, k]) => k === key)![0];
  return `model.layers.${l}.${hf}`;
}

const LLAMA2C_ROLES: Record<string, keyof LlamaLayerWeights> = {
  rms_att: "attnNorm", wq: "wq", wk: "wk", wv: "wv", wo: "wo", rms_ffn: "ffnNorm", w1: "wGate", w2: "wDown", w3: "wUp",
};

async function streamLlama2c(source: ModelSource, sink: TensorSink, options: StreamOptions): Promise<StreamedModel> {
  const checkpointName = options.llama2c?.checkpoint ?? "model.bin";
  const tokenizerName = options.llama2c?.tokenizer ?? "tokenizer.bin";
  const label = fileLabel(source, checkpointName);
  const file = await openRanges(source, checkpointName, options.onProgress);
  try {
    return await walkLlama2c(file, label, source, tokenizerName, sink, options);
  } finally {
    await file.close();
  }
}

async function walkLlama2c(
  file: RandomAccessFile, label: string, source: ModelSource, tokenizerName: string, sink: TensorSink, options: StreamOptions,
): Promise<StreamedModel> {
  const h = readHeader(await file.read(0, Math.min(HEADER_BYTES, file.byteLength)), label);
  const layout = tensorLayout(h);
  const expectedBytes = HEADER_BYTES + 4 * layout.reduce((a, [, n]) => a + n, 0);
  if (file.byteLength !== expectedBytes) throw sizeError(label, file.byteLength, expectedBytes, layout);
  const config: LlamaConfig = Object.freeze({
    dim: h.dim, hiddenDim: h.hiddenDim, numLayers: h.numLayers, numQHeads: h.numQHeads, numKvHeads: h.numKvHeads,
    headSize: h.dim / h.numQHeads, vocabSize: h.vocabSize, maxSeqLen: h.maxSeqLen,
    normEps: 1e-5, ropeTheta: 10000, ropeStyle: "interleaved" as const, ropeScaling: null, qkvBias: false,
  });
  await options.onConfig?.(config);
  let offset = HEADER_BYTES;
  for (const [name, numFloats] of layout) {
    // One weight of every layer at a time: llama2.c stores them together.
    const all = await file.read(offset, 4 * numFloats);
    offset += 4 * numFloats;
    options.signal?.throwIfAborted();
    if (name === "token_embedding") await sink({ role: "embed", dtype: "f32", shape: [h.vocabSize, h.dim], bytes: all });
    else if (name === "wcls") await sink({ role: "classifier", dtype: "f32", shape: [h.vocabSize, h.dim], bytes: all });
    else if (name === "rms_final") await sink({ role: "finalNorm", dtype: "f32", shape: [h.dim], bytes: all });
    else if (LLAMA2C_ROLES[name]) {
      const per = all.byteLength / h.numLayers;
      for (let l = 0; l < h.numLayers; l++) {
        const role = `layers.${l}.${LLAMA2C_ROLES[name]}`;
        await sink({ role, dtype: "f32", shape: roleShape(config, role), bytes: all.subarray(l * per, (l + 1) * per) });
      }
    }
  }
  const tokenizer = Llama2cTokenizer.parse(await source.read(tokenizerName, options.onProgress), h.vocabSize, fileLabel(source, tokenizerName));
  return { format: "llama2c", architecture: "llama2c", config, tokenizer, tied: h.sharedClassifier };
}

/** A safetensors file's tensor table, and its tensors' bytes one range at a time. */
interface TensorFile {
  readonly tensors: ReadonlyMap<string, TensorEntry>;
  bytesOf(entry: TensorEntry): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** `null` when the file does not exist. Reads byte ranges where the source can. */
async function openTensors(source: ModelSource, fileName: string, onProgress?: ProgressCallback): Promise<TensorFile | null> {
  let file: RandomAccessFile;
  try {
    file = await openRanges(source, fileName, onProgress);
  } catch (err) {
    if (err instanceof ModelSourceError && err.notFound) return null;
    throw err;
  }
  try {
    const label = fileLabel(source, fileName);
    const headerBytes = safetensorsHeaderBytes(await file.read(0, Math.min(8, file.byteLength)), file.byteLength, label);
    const { tensors } = parseSafetensorsLayout(await file.read(0, headerBytes), file.byteLength, label);
    return { tensors, bytesOf: (e) => file.read(e.beginByte, e.endByte - e.beginByte), close: () => file.close() };
  } catch (err) {
    await file.close();
    throw err;
  }
}

/**
 * The source's range reads, with progress as the bytes read so far of the file; a source
 * without them (URL, bytes) is read whole once and served from memory.
 */
async function openRanges(source: ModelSource, fileName: string, onProgress?: ProgressCallback): Promise<RandomAccessFile> {
  if (!source.open) {
    const bytes = await source.read(fileName, onProgress);
    return { byteLength: bytes.byteLength, read: async (offset, length) => bytes.subarray(offset, offset + length), close: async () => {} };
  }
  const file = await source.open(fileName);
  let readBytes = 0;
  onProgress?.(0, file.byteLength, fileName);
  return {
    byteLength: file.byteLength,
    async read(offset, length) {
      const bytes = await file.read(offset, length);
      readBytes = Math.min(file.byteLength, readBytes + length);
      onProgress?.(readBytes, file.byteLength, fileName);
      return bytes;
    },
    close: () => file.close(),
  };
}
