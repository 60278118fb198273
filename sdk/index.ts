// The public API of kvcompress: explicit named exports only (STYLE L9). src/ never imports sdk/.

// ── the cache ──
export { createKvCache } from "./cache";
export type { CreateKvCacheOptions } from "./cache";
export { KvCache } from "../src/cache";
export type { CacheStats, SequenceStats, PassReport } from "../src/cache";
export { defineConfig, blockBytes, uncompressedBytes } from "../src/config";
export type { KvCacheConfig, KvCacheConfigInput, KvStorage } from "../src/config";
export { definePolicy, POLICY_NAMES } from "../src/policies";
export type { PolicyInput, PolicyConfig, PolicyName, MetricKind, Ranking, Trigger, GroupReduce, Budget } from "../src/policies";
export { PRESETS } from "../src/presets";
export type { ModelShape, PresetName } from "../src/presets";

// ── the same settings on a vLLM KV-Compress server (docs/SCALING.md) ──
export { vllmKvcompressSettings } from "../src/vllm";
export type { VllmSettings, VllmSettingsInput, VllmSettingsOptions, VllmRequestFields, VllmSettingWarning } from "../src/vllm";

// ── devices ──
export { requestGpuDevice } from "./device";
export type { GpuDeviceHandle, RequestGpuDeviceOptions } from "./device";

// ── running models on the cache ──
export { CachedSequence } from "../src/model/cachedSequence";
export { loadModel, openModel, sourceFromHub } from "../src/model/hub";
export type { LoadModelFromOptions, LoadProgress, ModelFileCache, OpenModelOptions, HubSourceOptions } from "../src/model/hub";
export { sourceFromFiles, sourceFromPath, sourceFromUrl, sourceFromReader, LlamaModel } from "../src/model/index";
export type {
  LoadedModel, ModelSource, ModelTokenizer, ProgressCallback, AttentionCache, LlamaConfig, LlamaWeights, LlamaLayerWeights, Llama3RopeScaling,
  RopeStyle, ModelFormat, StreamDecoder, LoadModelOptions, ForwardOptions,
} from "../src/model/index";
export { generate } from "../src/model/generate";
export type { GenerateOptions, GenerateResult } from "../src/model/generate";

// ── the engine: a model on WebGPU or the CPU backend, one API ──
export { loadEngine } from "./engine";
export type { LoadEngineOptions } from "./engine";
export { Engine } from "../src/engine/engine";
export type { EngineGenerateOptions, EngineSequence, EngineTimings } from "../src/engine/engine";

// ── errors ──
export {
  KvCompressError,
  ConfigError,
  InvalidArgumentError,
  KvPoolExhaustedError,
  NoGpuAdapterError,
  LimitTooLowError,
  ShaderCompileError,
  DeviceLostError,
  WasmMemoryLimitError,
  ModelFormatError,
  TensorShapeError,
  MissingTensorError,
  UnsupportedModelError,
  ModelSourceError,
} from "../src/errors";
