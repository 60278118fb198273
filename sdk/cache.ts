// The one factory of the public API: config → a KvCache on WebGPU or on the CPU backend.
import controlWasm from "kvcompress:wasm/control";
import cpuWasm from "kvcompress:wasm/cpu";
import { KvCache } from "../src/cache";
import { blockBytes, defineConfig, type KvCacheConfig, type KvCacheConfigInput } from "../src/config";
import { ControlPlane } from "../src/control/plane";
import { createCpuBackend } from "../src/cpu/backend";
import { ConfigError, DeviceLostError, NoGpuAdapterError } from "../src/errors";
import { createGpuBackend } from "../src/gpu/backend";
import { requestGpuDevice } from "./device";
import { poolGeometry } from "../src/contract";

/** Options of {@link createKvCache}. */
export interface CreateKvCacheOptions {
  /** "gpu" (WebGPU), "cpu" (WebAssembly SIMD), or "auto": WebGPU on a hardware adapter, else
   *  the CPU backend — a software adapter (SwiftShader, lavapipe) runs the same kernels far
   *  slower than wasm SIMD does (stories260K decode, 2026-11-28: 0.8 tok/s on SwiftShader,
   *  ~1700 tok/s on the CPU backend). @default "auto" */
  backend?: "auto" | "gpu" | "cpu";
  /** Run on this device instead of finding one (bring your own device). */
  device?: GPUDevice;
}

/**
 * Creates a compressed paged KV cache. The pool is allocated once, up front.
 *
 * @param config - model shape, block size, storage, capacity, maxSeqs and policy; validated and frozen.
 * @param options - backend choice and an optional device of your own.
 * @returns a ready KvCache.
 * @throws {ConfigError} naming the first bad field, its value and its bound.
 * @throws {NoGpuAdapterError} when backend is "gpu" and no adapter exists.
 * @throws {LimitTooLowError} when the adapter cannot bind what the config needs.
 * @example
 * ```ts
 * import { createKvCache, PRESETS } from "kvcompress";
 * const cache = await createKvCache({
 *   ...PRESETS["llama-3.2-1b"], capacityTokens: 8192, maxContextTokens: 8192,
 *   policy: { name: "kvcompress", ratio: 4 },
 * });
 * const seq = cache.addSequence();
 * ```
 */
export async function createKvCache(config: KvCacheConfigInput, options: CreateKvCacheOptions = {}): Promise<KvCache> {
  const cfg = defineConfig(config);
  const requested: unknown = options.backend ?? "auto";
  if (requested !== "auto" && requested !== "gpu" && requested !== "cpu") throw new ConfigError("backend", `must be "auto", "gpu" or "cpu", got ${JSON.stringify(requested)}`);
  const want = options.device ? "gpu" : requested;
  if (want === "cpu") return createOnCpu(cfg);
  let handle;
  try {
    handle = await requestGpuDevice({ device: options.device });
  } catch (err) {
    if (want === "auto" && err instanceof NoGpuAdapterError) return createOnCpu(cfg);
    throw err;
  }
  if (want === "auto" && handle.isFallbackAdapter) {
    handle.device.destroy();
    return createOnCpu(cfg);
  }
  const control = await ControlPlane.create(controlWasm, controlConfig(cfg));
  let lost: DeviceLostError | undefined;
  handle.device.lost.then((info) => { lost = new DeviceLostError(info.reason, info.message); });
  const backend = await createGpuBackend(handle.device, handle.adapterName, cfg, control);
  // A device the SDK made is the cache's to destroy; a caller's device stays the caller's.
  const owned = options.device ? undefined : handle.device;
  return new KvCache(cfg, control, backend, () => lost, () => owned?.destroy());
}

async function createOnCpu(cfg: KvCacheConfig): Promise<KvCache> {
  const { control, backend } = await createCpuBackend(cpuWasm, cfg, controlConfig(cfg));
  return new KvCache(cfg, control, backend, () => undefined);
}

function controlConfig(cfg: KvCacheConfig) {
  return {
    ...poolGeometry(cfg), bytesPerBlock: blockBytes(cfg),
  };
}
