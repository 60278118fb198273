// The one place that finds a WebGPU device (STYLE L9): navigator.gpu in browsers and Deno,
// the `webgpu` npm package (Dawn) in Node, or a device the caller already has.
import { NoGpuAdapterError } from "../src/errors";
// Node-only code lives in node-gpu.ts; the browser, Deno and workerd bundles swap it for
// node-gpu.none.ts (scripts/build.mjs) so no `webgpu`, `node:*` or `module` import is reachable there.
import { loadNodeGpu, swiftShaderGpu, SWIFTSHADER_ICD } from "./node-gpu";
import { rememberAdapterInfo } from "../src/gpu/model";

/** What {@link requestGpuDevice} found. */
export interface GpuDeviceHandle {
  /** The device, created with the adapter's real limits (not the spec minimums). */
  readonly device: GPUDevice;
  /** One line naming the adapter, e.g. `"SwiftShader Device (Subzero) [vulkan, fallback]"`. */
  readonly adapterName: string;
  /** The adapter's info as reported (empty strings where the runtime hides them). */
  readonly adapterInfo: { vendor: string; architecture: string; device: string; description: string };
  /** Optional features that were enabled on the device (`shader-f16`, `subgroups`, `timestamp-query`). */
  readonly features: readonly string[];
  /** A software adapter (SwiftShader, lavapipe): WebGPU on the CPU. */
  readonly isFallbackAdapter: boolean;
}

/** Options of {@link requestGpuDevice}. */
export interface RequestGpuDeviceOptions {
  /** Use this device instead of finding one. */
  device?: GPUDevice;
  /** Passed to `requestAdapter`. @default "high-performance" */
  powerPreference?: GPUPowerPreference;
  /** Give up after this many milliseconds instead of waiting forever. @default 30000 */
  timeoutMs?: number;
  /**
   * Also request `chromium-experimental-subgroup-matrix` (matrix units; the engine's prefill
   * matmul then runs in f16 with f32 accumulation) where the adapter offers it. In Node this makes
   * a second Dawn instance with the toggles `allow_unsafe_apis` and `vulkan_enable_f16_on_nvidia`
   * (Dawn marks the feature unsafe; the second toggle is a driver workaround), so it is off by
   * default. Browsers offer the feature only behind their own flags. Ignored with `device`.
   * @default false
   */
  experimentalSubgroupMatrix?: boolean;
}

/** Optional features turned on when the adapter has them; none is required (docs/METHOD.md §4). */
const OPTIONAL_FEATURES = ["shader-f16", "subgroups", "timestamp-query"] as const;
/** Requested on top of those only with `experimentalSubgroupMatrix`. */
const SUBGROUP_MATRIX_FEATURE = "chromium-experimental-subgroup-matrix";

/** The hint a NoGpuAdapterError carries: what to do in the runtime it was thrown in (a browser
 *  user cannot apt-get, a Deno user needs no npm package). */
export function noAdapterHint(rt: "browser" | "deno" | "node" | "worker" = currentRuntime()): string {
  const cpu = "Or create the cache with backend: \"cpu\" (WebAssembly SIMD, no GPU needed).";
  switch (rt) {
    case "browser":
      return `No WebGPU adapter in this browser. Use one with WebGPU enabled (Chrome/Edge 113+, Safari 26+, Firefox 141+ on Windows), or start Chromium with --enable-unsafe-webgpu (and --enable-features=Vulkan on Linux). ${cpu}`;
    case "deno":
      return `No WebGPU adapter in Deno. Deno's WebGPU needs a Vulkan driver on Linux: install your GPU's driver, or a software one with \`apt-get install mesa-vulkan-drivers\` (lavapipe). ${cpu}`;
    case "node":
      return `No WebGPU adapter in Node. The optional "webgpu" package (Dawn) needs a Vulkan driver on Linux: install your GPU's driver, or a software one with \`apt-get install chromium\` (SwiftShader at ${SWIFTSHADER_ICD}, found automatically) or \`apt-get install mesa-vulkan-drivers\`. ${cpu}`;
    default:
      return `No WebGPU in this runtime (edge workers have none). ${cpu}`;
  }
}

function currentRuntime(): "browser" | "deno" | "node" | "worker" {
  const g = globalThis as { Deno?: unknown; process?: { versions?: { node?: string } }; document?: unknown; navigator?: { userAgent?: string } };
  if (g.Deno) return "deno"; // before Node: Deno defines `process` too
  if (g.process?.versions?.node) return "node";
  if (g.document || g.navigator?.userAgent?.includes("Mozilla")) return "browser";
  return "worker";
}

/**
 * Finds a GPU and creates a device with the adapter's real limits.
 *
 * @param options - `device` to wrap an existing device; `powerPreference`; `timeoutMs`.
 * @returns The device and a description of the adapter it came from.
 * @throws {NoGpuAdapterError} When no adapter exists; the message says what to install.
 * @example
 * ```ts
 * const { device, adapterName } = await requestGpuDevice();
 * console.log(`running on ${adapterName}`);
 * ```
 */
export async function requestGpuDevice(options: RequestGpuDeviceOptions = {}): Promise<GpuDeviceHandle> {
  // GPUDevice.adapterInfo (newer WebGPU) names a caller's device too, e.g. a device that
  // loadEngine made and passed on to createKvCache.
  if (options.device) return describeDevice(options.device, (options.device as { adapterInfo?: GPUAdapterInfo }).adapterInfo);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const experimental = options.experimentalSubgroupMatrix === true;
  let gpu = await findGpu(experimental);
  if (!gpu) throw new NoGpuAdapterError(noAdapterHint());
  const adapterOptions = { powerPreference: options.powerPreference ?? "high-performance" } as const;
  let adapter = await withTimeout(gpu.requestAdapter(adapterOptions), timeoutMs, "requestAdapter");
  // Node on a Linux box with no usable Vulkan GPU (Mesa's hardware drivers may be installed
  // with no hardware behind them, and Dawn rejects lavapipe 22): retry on SwiftShader.
  if (!adapter && (gpu = await swiftShaderGpu())) adapter = await withTimeout(gpu.requestAdapter(adapterOptions), timeoutMs, "requestAdapter");
  if (!adapter) throw new NoGpuAdapterError(noAdapterHint());
  const wanted: string[] = experimental ? [...OPTIONAL_FEATURES, SUBGROUP_MATRIX_FEATURE] : [...OPTIONAL_FEATURES];
  const requiredFeatures = wanted.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {};
  // Ask for everything the adapter offers: the defaults are the spec minimum (128 MiB per
  // storage binding, 8 storage buffers per stage), which would cap the pool needlessly.
  for (const key in adapter.limits) {
    const value = (adapter.limits as unknown as Record<string, unknown>)[key];
    if (typeof value === "number") requiredLimits[key] = value;
  }
  const device = await withTimeout(adapter.requestDevice({ requiredFeatures, requiredLimits }), timeoutMs, "requestDevice");
  rememberAdapterInfo(device, adapter.info); // the subgroup-matrix choice reads its matrix configs
  return describeDevice(device, adapter.info);
}

/** `navigator.gpu` where the runtime has it; otherwise Node's Dawn addon from the `webgpu` package. */
async function findGpu(experimental: boolean): Promise<GPU | undefined> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  return loadNodeGpu(noAdapterHint, experimental);
}

function describeDevice(device: GPUDevice, info: GPUAdapterInfo | undefined): GpuDeviceHandle {
  const adapterInfo = {
    vendor: info?.vendor ?? "",
    architecture: info?.architecture ?? "",
    device: info?.device ?? "",
    description: info?.description ?? "",
  };
  const parts = [adapterInfo.description || adapterInfo.device || adapterInfo.vendor || "caller's device"];
  if (adapterInfo.architecture) parts.push(`(${adapterInfo.architecture})`);
  if ((info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter) parts.push("[fallback]");
  const isFallbackAdapter = (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter === true;
  return { device, adapterName: parts.join(" "), adapterInfo, features: [...device.features].map(String), isFallbackAdapter };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new NoGpuAdapterError(`${what} did not answer within ${ms} ms. ${noAdapterHint()}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
