// The one place that finds a WebGPU device (STYLE L9): navigator.gpu in browsers and Deno,
// the `webgpu` npm package (Dawn) in Node, or a device the caller already has.
import { NoGpuAdapterError } from "../src/errors";

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
}

/** Optional features turned on when the adapter has them; none is required (docs/METHOD.md §4). */
const OPTIONAL_FEATURES = ["shader-f16", "subgroups", "timestamp-query"] as const;

/** Debian's chromium package ships SwiftShader's Vulkan driver here. */
const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";

const INSTALL_HINT =
  "No WebGPU adapter. On a Linux machine without a GPU install a software Vulkan driver: " +
  "`apt-get install chromium` (SwiftShader, for Node and Chromium) or `apt-get install mesa-vulkan-drivers` " +
  `(lavapipe, for Deno), then run with VK_ICD_FILENAMES=${SWIFTSHADER_ICD}. ` +
  "In a browser, use one with WebGPU enabled (Chrome 113+, or --enable-unsafe-webgpu). " +
  "With no WebGPU at all, create the cache with backend: \"cpu\".";

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
  if (options.device) return describeDevice(options.device, undefined);
  const timeoutMs = options.timeoutMs ?? 30_000;
  let gpu = await findGpu();
  if (!gpu) throw new NoGpuAdapterError(INSTALL_HINT);
  const adapterOptions = { powerPreference: options.powerPreference ?? "high-performance" } as const;
  let adapter = await withTimeout(gpu.requestAdapter(adapterOptions), timeoutMs, "requestAdapter");
  // Node on a Linux box with no usable Vulkan GPU (Mesa's hardware drivers may be installed
  // with no hardware behind them, and Dawn rejects lavapipe 22): retry on SwiftShader.
  if (!adapter && (gpu = await swiftShaderGpu())) adapter = await withTimeout(gpu.requestAdapter(adapterOptions), timeoutMs, "requestAdapter");
  if (!adapter) throw new NoGpuAdapterError(INSTALL_HINT);
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {};
  // Ask for everything the adapter offers: the defaults are the spec minimum (128 MiB per
  // storage binding, 8 storage buffers per stage), which would cap the pool needlessly.
  for (const key in adapter.limits) {
    const value = (adapter.limits as unknown as Record<string, unknown>)[key];
    if (typeof value === "number") requiredLimits[key] = value;
  }
  const device = await withTimeout(adapter.requestDevice({ requiredFeatures, requiredLimits }), timeoutMs, "requestDevice");
  return describeDevice(device, adapter.info);
}

/** `navigator.gpu` where the runtime has it; otherwise Node's Dawn addon from the `webgpu` package. */
async function findGpu(): Promise<GPU | undefined> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  const proc = (globalThis as { process?: { versions?: { node?: string }; platform?: string; env: Record<string, string | undefined> } }).process;
  if (!proc?.versions?.node) return undefined;
  const moduleName = "webgpu"; // a variable keeps bundlers from inlining the native addon
  let mod: { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
  try {
    mod = await import(/* @vite-ignore */ moduleName);
  } catch (err) {
    throw new NoGpuAdapterError(`cannot load the "webgpu" package (${(err as Error).message}); run \`npm install webgpu\`. ${INSTALL_HINT}`);
  }
  Object.assign(globalThis, mod.globals); // GPUBufferUsage, GPUMapMode, … as browsers define them
  // NOTE: Dawn's instance must outlive every device made from it. If the GPU object is
  // garbage-collected, Dawn's event pump locks a freed mutex and the process aborts at a
  // random later mapAsync (seen here 2026-11-28: ~20% of short runs crashed; 0 of 60 with
  // the instance held). So the instance is created once and kept for the process lifetime.
  nodeGpu ??= mod.create([]);
  return nodeGpu;
}

/** The process-wide Dawn instance in Node (see the note in findGpu). */
let nodeGpu: GPU | undefined;

/** A second Dawn instance on SwiftShader (Debian's chromium package), when Node runs on Linux,
 *  the user chose no Vulkan driver, and SwiftShader is installed; else undefined. Dawn reads
 *  VK_ICD_FILENAMES when an instance is created, so the variable is set before creating it. */
async function swiftShaderGpu(): Promise<GPU | undefined> {
  const proc = (globalThis as { process?: { versions?: { node?: string }; platform?: string; env: Record<string, string | undefined>; getBuiltinModule?: (n: string) => unknown } }).process;
  if (!proc?.versions?.node || proc.platform !== "linux" || !nodeGpu || swiftShaderTried) return undefined;
  swiftShaderTried = true;
  if (proc.env.VK_ICD_FILENAMES || proc.env.VK_DRIVER_FILES) return undefined;
  const fs = proc.getBuiltinModule?.("node:fs") as { existsSync(p: string): boolean } | undefined;
  if (!fs?.existsSync(SWIFTSHADER_ICD)) return undefined;
  proc.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  const moduleName = "webgpu";
  const mod = (await import(/* @vite-ignore */ moduleName)) as { create: (flags: string[]) => GPU };
  swiftShaderGpuInstance = mod.create([]); // kept for the process lifetime, like nodeGpu
  return swiftShaderGpuInstance;
}
let swiftShaderTried = false;
let swiftShaderGpuInstance: GPU | undefined;

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
    timer = setTimeout(() => reject(new NoGpuAdapterError(`${what} did not answer within ${ms} ms. ${INSTALL_HINT}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
