// Hugging Face model directories: config.json + model.safetensors (or shards + index) +
// tokenizer.json. Supports the Llama family as transformers implements it: llama, mistral,
// qwen2 (q/k/v biases), RoPE in the rotate-half convention, Llama-3 rope_scaling.

import { ModelFormatError, UnsupportedModelError } from "../errors";
import { HfTokenizer } from "./hfTokenizer";
import { LlamaModel, expectedWeightShapes, type LlamaConfig, type LlamaLayerWeights } from "./llama";
import type { Llama3RopeScaling } from "./rope";
import { type TensorStore, loadSafetensors } from "./safetensors";
import { type ModelSource, type ProgressCallback, fileLabel, readOptional } from "./source";
import type { LoadedModel } from "./types";

export const SUPPORTED_MODEL_TYPES = ["llama", "mistral", "qwen2"] as const;
export type HfModelType = (typeof SUPPORTED_MODEL_TYPES)[number];

export interface HfModelConfig {
  modelType: HfModelType;
  llama: LlamaConfig;
  tieWordEmbeddings: boolean;
  bosId: number;
  eosId: number; // first of eos_token_id when the config lists several
}

/** Validates a parsed config.json. @throws UnsupportedModelError, ModelFormatError (naming `fileName`). */
export function parseHfConfig(json: unknown, fileName: string): HfModelConfig {
  if (typeof json !== "object" || json === null) throw new ModelFormatError(fileName, "not a JSON object");
  const cfg = json as Record<string, unknown>;
  const modelType = checkSupported(cfg, fileName);
  const int = (field: string, fallback?: number): number => {
    const value = cfg[field] ?? fallback;
    if (!Number.isSafeInteger(value) || (value as number) <= 0) {
      throw new ModelFormatError(fileName, `${field} must be a positive integer, got ${JSON.stringify(cfg[field])}`);
    }
    return value as number;
  };
  const num = (field: string, fallback: number): number => {
    const value = cfg[field] ?? fallback;
    if (typeof value !== "number" || !(value > 0)) throw new ModelFormatError(fileName, `${field} must be a positive number`);
    return value;
  };
  const dim = int("hidden_size");
  const numQHeads = int("num_attention_heads");
  const firstEos = Array.isArray(cfg.eos_token_id) ? cfg.eos_token_id[0] : cfg.eos_token_id;
  // NOTE: Mistral's sliding_window is not applied: attention is full-context (the cache decides).
  const llama: LlamaConfig = {
    dim,
    hiddenDim: int("intermediate_size"),
    numLayers: int("num_hidden_layers"),
    numQHeads,
    numKvHeads: int("num_key_value_heads", numQHeads),
    headSize: int("head_dim", dim / numQHeads),
    vocabSize: int("vocab_size"),
    maxSeqLen: int("max_position_embeddings", 2048),
    normEps: num("rms_norm_eps", 1e-6),
    ropeTheta: num("rope_theta", 10000),
    ropeStyle: "rotate-half",
    ropeScaling: parseRopeScaling(cfg.rope_scaling, fileName),
    qkvBias: modelType === "qwen2",
  };
  if (llama.numQHeads % llama.numKvHeads !== 0) {
    throw new ModelFormatError(fileName, `num_attention_heads ${numQHeads} is not a multiple of num_key_value_heads ${llama.numKvHeads}`);
  }
  return {
    modelType,
    llama: Object.freeze(llama),
    tieWordEmbeddings: cfg.tie_word_embeddings === true,
    bosId: typeof cfg.bos_token_id === "number" ? cfg.bos_token_id : 1,
    eosId: typeof firstEos === "number" ? firstEos : 2,
  };
}

/** Rejects configs whose architecture differs from what LlamaModel computes. */
function checkSupported(cfg: Record<string, unknown>, fileName: string): HfModelType {
  const modelType = cfg.model_type;
  if (!SUPPORTED_MODEL_TYPES.includes(modelType as HfModelType)) {
    throw new UnsupportedModelError(fileName, "model_type",
      `${JSON.stringify(modelType)} is not supported (supported: ${SUPPORTED_MODEL_TYPES.join(", ")})`);
  }
  if ((cfg.hidden_act ?? "silu") !== "silu") {
    throw new UnsupportedModelError(fileName, "hidden_act", `${JSON.stringify(cfg.hidden_act)} is not supported (silu is)`);
  }
  // Llama's attention_bias also puts a bias on o_proj, and mlp_bias on the MLP; neither is implemented.
  for (const field of ["attention_bias", "mlp_bias"]) {
    if (modelType !== "qwen2" && cfg[field] === true) throw new UnsupportedModelError(fileName, field, "true is not supported");
  }
  return modelType as HfModelType;
}

function parseRopeScaling(raw: unknown, fileName: string): Llama3RopeScaling | null {
  if (raw === null || raw === undefined) return null;
  const s = raw as Record<string, unknown>;
  const ropeType = s.rope_type ?? s.type;
  if (ropeType === "default") return null;
  if (ropeType !== "llama3") {
    throw new UnsupportedModelError(fileName, "rope_scaling", `type ${JSON.stringify(ropeType)} is not supported (llama3 is)`);
  }
  const field = (name: string): number => {
    const value = s[name];
    if (typeof value !== "number" || !(value > 0)) throw new ModelFormatError(fileName, `rope_scaling.${name} must be a positive number`);
    return value;
  };
  return {
    factor: field("factor"),
    lowFreqFactor: field("low_freq_factor"),
    highFreqFactor: field("high_freq_factor"),
    originalMaxPositionEmbeddings: field("original_max_position_embeddings"),
  };
}

/** Reads every weight with its expected shape. @throws MissingTensorError, TensorShapeError. */
export function buildHfWeights(store: TensorStore, cfg: HfModelConfig): LlamaModel {
  const c = cfg.llama;
  const shapes = expectedWeightShapes(c);
  const embedName = "model.embed_tokens.weight";
  const headName = "lm_head.weight";
  const vocabShape = [c.vocabSize, c.dim];
  // Tied checkpoints may store either name (this repo's tinystories-656K stores only lm_head).
  const tokenEmbedding = store.readF32(store.has(embedName) || !store.has(headName) ? embedName : headName, vocabShape);
  const tied = cfg.tieWordEmbeddings || !store.has(headName);
  const classifier = tied ? tokenEmbedding : store.readF32(headName, vocabShape);
  const layers: LlamaLayerWeights[] = [];
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}.`;
    const read = (name: string, shapeKey: keyof LlamaLayerWeights) => store.readF32(p + name, shapes[shapeKey]);
    layers.push({
      attnNorm: read("input_layernorm.weight", "attnNorm"),
      wq: read("self_attn.q_proj.weight", "wq"),
      wk: read("self_attn.k_proj.weight", "wk"),
      wv: read("self_attn.v_proj.weight", "wv"),
      wo: read("self_attn.o_proj.weight", "wo"),
      bq: c.qkvBias ? read("self_attn.q_proj.bias", "bq") : null,
      bk: c.qkvBias ? read("self_attn.k_proj.bias", "bk") : null,
      bv: c.qkvBias ? read("self_attn.v_proj.bias", "bv") : null,
      ffnNorm: read("post_attention_layernorm.weight", "ffnNorm"),
      wGate: read("mlp.gate_proj.weight", "wGate"),
      wUp: read("mlp.up_proj.weight", "wUp"),
      wDown: read("mlp.down_proj.weight", "wDown"),
    });
  }
  const finalNorm = store.readF32("model.norm.weight", [c.dim]);
  return new LlamaModel(c, { tokenEmbedding, layers, finalNorm, classifier });
}

export interface HfLoadOptions {
  onProgress?: ProgressCallback;
}

/** Loads config, weights and tokenizer of a Hugging Face model directory. */
export async function loadHfModel(source: ModelSource, options: HfLoadOptions = {}): Promise<LoadedModel> {
  const { onProgress } = options;
  const configLabel = fileLabel(source, "config.json");
  const cfg = parseHfConfig(parseJson(await source.read("config.json", onProgress), configLabel), configLabel);
  const tokenizerLabel = fileLabel(source, "tokenizer.json");
  const tokenizerJson = parseJson(await source.read("tokenizer.json", onProgress), tokenizerLabel);
  const tokenizerConfigBytes = await readOptional(source, "tokenizer_config.json", onProgress);
  const tokenizerConfig = tokenizerConfigBytes === null ? {}
    : parseJson(tokenizerConfigBytes, fileLabel(source, "tokenizer_config.json"));
  const tokenizer = HfTokenizer.create(tokenizerJson, tokenizerConfig, cfg, tokenizerLabel);
  // Weights last: they are the big download, and config/tokenizer errors should come first.
  const store = await loadSafetensors(source, onProgress);
  const model = buildHfWeights(store, cfg);
  return { format: "hf", architecture: cfg.modelType, model, tokenizer };
}

export function parseJson(bytes: Uint8Array, fileLabelText: string): object {
  try {
    const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof value === "object" && value !== null) return value;
  } catch (err) {
    throw new ModelFormatError(fileLabelText, `not valid JSON (${(err as Error).message})`);
  }
  throw new ModelFormatError(fileLabelText, "not a JSON object");
}
