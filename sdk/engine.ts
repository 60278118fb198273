// loadEngine: a model source → an Engine on WebGPU (weights on the device, in their stored
// precision, streamed tensor by tensor) or on the CPU backend.
import cpuWasm from "kvcompress:wasm/cpu";
import { createCpuDense } from "../src/cpu/dense";
import { CpuForward } from "../src/engine/cpu";
import { Engine, cpuRunner, gpuRunner } from "../src/engine/engine";
import { GpuForward } from "../src/engine/gpu";
import { streamModel } from "../src/engine/weights";
import { InvalidArgumentError, NoGpuAdapterError } from "../src/errors";
import { loadModel } from "../src/model/index";
import type { LlamaConfig } from "../src/model/llama";
import { openModel } from "../src/model/hub";
import type { ModelSource, ProgressCallback } from "../src/model/source";
import type { KvStorage } from "../src/config";
import type { PolicyInput } from "../src/policies";
import { createKvCache } from "./cache";
import { requestGpuDevice } from "./device";

/** Options of {@link loadEngine}. */
export interface LoadEngineOptions {
  /** "gpu", "cpu", or "auto" (WebGPU on a hardware adapter, else the CPU backend). @default "auto" */
  backend?: "auto" | "gpu" | "cpu";
  /** Run on this device (bring your own); it stays yours. */
  device?: GPUDevice;
  /** KV-cache policy. @default { name: "full" } */
  policy?: PolicyInput;
  /** KV storage. @default "f32" */
  storage?: KvStorage;
  /** Longest sequence (prompt + generated). @default the model's max_position_embeddings */
  maxContextTokens?: number;
  /** Sequences the pool serves at once (Engine.submit; generate() uses one). @default 1 */
  maxSeqs?: number;
  /** KVs per (layer, KV head) the pool holds across all its sequences. @default maxContextTokens */
  capacityTokens?: number;
  /** Dense kernels of a batched decode step: "matvec" (the single-sequence decode kernels over
   *  every row: a batch row is bit for bit the sequence alone), "matmul" (the tiled prefill
   *  kernel: each weight read once per 64 rows) or "auto" (matvec below 32 rows, matmul from 32:
   *  on an H200 matvec was faster at 16 rows, matmul at 128, and they crossed near 32 rows,
   *  docs/BENCHMARKS.md; a row's last bits then depend on its step's batch). @default "matvec" */
  batchRows?: "matvec" | "matmul" | "auto";
  /** Prompt tokens per prefill chunk on the GPU (memory is linear in it: activations and, for
   *  all-logits prefills, chunk × vocab f32 logits). 1 024: the smallest power of two whose 2K-token
   *  prefill reached 30% of the FMA probe at the Llama-3.2-1B shape on an H200 (512: 28.6%, 1 024:
   *  35.4%, 2 048: 43.9%; docs/BENCHMARKS.md). @default 1024 */
  prefillChunkTokens?: number;
  onProgress?: ProgressCallback;
  /** Aborts loading between tensors. */
  signal?: AbortSignal;
  /** llama2.c file names within the source. */
  llama2c?: { checkpoint?: string; tokenizer?: string };
  /** CPU backend: "wasm" (weights 16-bit in wasm memory, SIMD kernels) or "typescript" (the f32
   *  reference forward of src/model/llama.ts). @default "wasm" */
  cpuForward?: "wasm" | "typescript";
  /** GPU: request the experimental subgroup-matrix feature (requestGpuDevice's option of that
   *  name; off by default) so prefill chunks' matmuls run on matrix units in f16 with f32
   *  accumulation where the adapter offers it. Decode is unaffected. Ignored with `device`. @default false */
  experimentalSubgroupMatrix?: boolean;
}

/**
 * Loads a model for generation.
 * @param source - a ModelSource, a directory path, an http(s) URL of the model's files, or a hub id
 *   (`org/name`; `openModel` for progress, cache and revision options).
 * @example
 * ```ts
 * const engine = await loadEngine("models/SmolLM2-135M", { policy: { name: "kvcompress", ratio: 4 } });
 * for await (const id of engine.generate("Once upon a time", { maxTokens: 64 })) process.stdout.write(dec.push(id));
 * engine.destroy();
 * ```
 */
export async function loadEngine(source: ModelSource | string, options: LoadEngineOptions = {}): Promise<Engine> {
  // A string is what openModel takes: a hub id (not a local directory), a URL or a directory.
  const src = typeof source === "string" ? await openModel(source, { signal: options.signal }) : source;
  const chunk = options.prefillChunkTokens ?? 1024;
  if (!Number.isInteger(chunk) || chunk < 1) throw new InvalidArgumentError("prefillChunkTokens", chunk, "an integer ≥ 1");
  const policy = options.policy ?? { name: "full" };
  const want = options.device ? "gpu" : options.backend ?? "auto";
  let device: GPUDevice | undefined;
  let owned = false;
  if (want !== "cpu") {
    try {
      const h = await requestGpuDevice({ device: options.device, experimentalSubgroupMatrix: options.experimentalSubgroupMatrix });
      if (want === "auto" && h.isFallbackAdapter && !options.device) h.device.destroy();
      else { device = h.device; owned = !options.device; }
    } catch (err) {
      if (!(want === "auto" && err instanceof NoGpuAdapterError)) throw err;
    }
  }
  const cacheWith = (c: LlamaConfig) => (p: PolicyInput, maxContextTokens: number, blockSize?: number, storage?: KvStorage,
    pool?: { maxSeqs: number; capacityTokens: number }) => createKvCache({
    numLayers: c.numLayers, numQHeads: c.numQHeads, numKvHeads: c.numKvHeads, headSize: c.headSize, ...(blockSize ? { blockSize } : {}),
    storage: storage ?? options.storage ?? "f32", maxSeqs: pool?.maxSeqs ?? 1, maxContextTokens, capacityTokens: pool?.capacityTokens ?? maxContextTokens, policy: p,
  }, device ? { device } : { backend: "cpu" });
  // The engine's own cache is the serving pool: maxSeqs sequences over capacityTokens.
  const cacheFor = (c: LlamaConfig, maxContextTokens: number) => createKvCache({
    numLayers: c.numLayers, numQHeads: c.numQHeads, numKvHeads: c.numKvHeads, headSize: c.headSize,
    storage: options.storage ?? "f32", maxSeqs: options.maxSeqs ?? 1, maxContextTokens, capacityTokens: options.capacityTokens ?? maxContextTokens, policy,
  }, device ? { device } : { backend: "cpu" });

  if (!device && options.cpuForward !== "typescript") {
    const dense = await createCpuDense({ wasm: cpuWasm });
    let cpu: CpuForward | undefined;
    let maxContextTokens = 0;
    const streamed = await streamModel(src, (t) => cpu!.upload(t), {
      onProgress: options.onProgress, llama2c: options.llama2c, signal: options.signal,
      onConfig: (c) => { maxContextTokens = options.maxContextTokens ?? c.maxSeqLen; cpu = new CpuForward(dense, c); },
    });
    cpu!.finish(streamed.tied);
    const cache = await cacheFor(streamed.config, maxContextTokens);
    return new Engine(streamed.config, streamed.tokenizer, cache, cpuRunner(cache, cpu!), streamed.format, streamed.architecture, cpu!.weightBytes, cacheWith(streamed.config));
  }
  if (!device) {
    const loaded = await loadModel(src, { onProgress: options.onProgress, llama2c: options.llama2c });
    const c = loaded.model.config;
    const cache = await cacheFor(c, options.maxContextTokens ?? c.maxSeqLen);
    const w = loaded.model.weights;
    let bytes = 4 * (w.tokenEmbedding.length + w.finalNorm.length + (w.classifier === w.tokenEmbedding ? 0 : w.classifier.length));
    for (const l of w.layers) for (const a of Object.values(l)) bytes += a ? 4 * (a as Float32Array).length : 0;
    return new Engine(c, loaded.tokenizer, cache, cpuRunner(cache, loaded.model), loaded.format, loaded.architecture, bytes, cacheWith(c));
  }

  let gpu: GpuForward | undefined;
  let maxContextTokens = 0;
  try {
    const streamed = await streamModel(src, (t) => gpu!.upload(t), {
      onProgress: options.onProgress, llama2c: options.llama2c, signal: options.signal,
      onConfig: (c) => {
        maxContextTokens = options.maxContextTokens ?? c.maxSeqLen;
        const obs = (policy as { obsWindow?: number }).obsWindow ?? 0;
        gpu = new GpuForward(device!, c, Math.max(chunk, obs), maxContextTokens);
      },
    });
    await gpu!.finish(streamed.tied);
    const cache = await cacheFor(streamed.config, maxContextTokens);
    const dev = device;
    const runner = gpuRunner(cache, gpu!, gpu!.maxChunk, options.batchRows);
    const destroyRunner = runner.destroy;
    runner.destroy = () => { destroyRunner(); if (owned) dev.destroy(); };
    return new Engine(streamed.config, streamed.tokenizer, cache, runner, streamed.format, streamed.architecture, gpu!.weightBytes, cacheWith(streamed.config));
  } catch (err) {
    gpu?.destroy();
    if (owned) device.destroy();
    throw err;
  }
}
