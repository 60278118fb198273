// The model side of kvcompress: loaders (llama2.c .bin, Hugging Face safetensors), model
// sources (path, URL, bytes), the Llama-family decoder with pluggable attention, and sampling.

export { type AttentionCache, type AttentionShape, FullAttentionCache, causalAttention } from "./attention";
export { MissingTensorError, ModelFormatError, ModelSourceError, TensorShapeError, UnsupportedModelError } from "../errors";
export { type HfLoadOptions, type HfModelConfig, SUPPORTED_MODEL_TYPES, loadHfModel, parseHfConfig } from "./hf";
export { HfTokenizer } from "./hfTokenizer";
export { type GenerateOptions, type GenerateResult, generate } from "./generate";
export { type ForwardOptions, type LlamaConfig, type LlamaLayerWeights, type LlamaWeights, LlamaModel } from "./llama";
export { type Llama2cFiles, loadLlama2cModel, parseLlama2cCheckpoint } from "./llama2c";
export { Llama2cTokenizer } from "./llama2cTokenizer";
export { type Llama3RopeScaling, type RopeStyle } from "./rope";
export { SafetensorsFile, type TensorEntry, type TensorStore, loadSafetensors } from "./safetensors";
export { type Rng, type SamplingOptions, argmax, createRng, sampleToken } from "./sample";
export {
  type ModelSource, type ProgressCallback, readOptional, sourceFromFiles, sourceFromPath, sourceFromReader, sourceFromUrl,
} from "./source";
export type { LoadedModel, ModelFormat, ModelTokenizer, StreamDecoder } from "./types";

import { ModelSourceError } from "../errors";
import { loadHfModel } from "./hf";
import { loadLlama2cModel } from "./llama2c";
import { FullAttentionCache } from "./attention";
import type { ProgressCallback, ModelSource } from "./source";
import type { LoadedModel } from "./types";
import type { LlamaModel } from "./llama";

export interface LoadModelOptions {
  onProgress?: ProgressCallback;
  /** llama2.c file names, used when the source has no config.json. */
  llama2c?: { checkpoint?: string; tokenizer?: string };
}

/**
 * Loads whichever format `source` holds: a Hugging Face directory when it has `config.json`,
 * otherwise a llama2.c checkpoint + tokenizer.
 */
export async function loadModel(source: ModelSource, options: LoadModelOptions = {}): Promise<LoadedModel> {
  try {
    return await loadHfModel(source, { onProgress: options.onProgress });
  } catch (err) {
    if (!(err instanceof ModelSourceError && err.notFound && err.fileName.endsWith("config.json"))) throw err;
  }
  return loadLlama2cModel(source, { ...options.llama2c, onProgress: options.onProgress });
}

/** A FullAttentionCache shaped for `model`. */
export function createFullAttentionCache(model: LlamaModel): FullAttentionCache {
  const { numLayers, numQHeads, numKvHeads, headSize } = model.config;
  return new FullAttentionCache({ numLayers, numQHeads, numKvHeads, headSize });
}
