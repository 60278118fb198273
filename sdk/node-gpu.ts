// Node-only half of device.ts: Dawn from the optional `webgpu` package, and the SwiftShader
// fallback. The browser, Deno and workerd bundles replace this file with node-gpu.none.ts.
import { NoGpuAdapterError } from "../src/errors";

/** Debian's chromium package ships SwiftShader's Vulkan driver here. */
export const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";

interface NodeProcess { versions?: { node?: string }; platform?: string; env: Record<string, string | undefined>; getBuiltinModule?: (n: string) => unknown }
const nodeProcess = () => (globalThis as { Deno?: unknown; process?: NodeProcess }).Deno ? undefined : (globalThis as { process?: NodeProcess }).process;

/** Dawn toggles that expose the experimental subgroup-matrix feature with f16 configs on NVIDIA's
 *  Vulkan driver: `allow_unsafe_apis` (Dawn lists the feature as unsafe) and
 *  `vulkan_enable_f16_on_nvidia` (a workaround toggle: Dawn hides shader-f16 there by default). */
export const SUBGROUP_MATRIX_DAWN_TOGGLES = ["enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia"] as const;

/** The process-wide Dawn instance in Node (one per toggle set: `experimental` adds
 *  SUBGROUP_MATRIX_DAWN_TOGGLES), or undefined outside Node. */
export async function loadNodeGpu(hint: () => string, experimental = false): Promise<GPU | undefined> {
  if (!nodeProcess()?.versions?.node) return undefined;
  const moduleName = "webgpu"; // a variable keeps bundlers from inlining the native addon
  let mod: { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
  try {
    mod = await import(/* @vite-ignore */ moduleName);
  } catch (err) {
    throw new NoGpuAdapterError(`cannot load the optional "webgpu" package (${(err as Error).message}); run \`npm install webgpu\` for WebGPU in Node. ${hint()}`);
  }
  Object.assign(globalThis, mod.globals); // GPUBufferUsage, GPUMapMode, … as browsers define them
  // NOTE: Dawn's instance must outlive every device made from it. If the GPU object is
  // garbage-collected, Dawn's event pump locks a freed mutex and the process aborts at a
  // random later mapAsync (seen here 2026-11-28: ~20% of short runs crashed; 0 of 60 with
  // the instance held). So the instance is created once and kept for the process lifetime.
  nodeGpu ??= mod.create([]);
  // Once the default instance found no adapter and SwiftShader did, every later cache goes
  // straight to SwiftShader: asking the default instance again finds nothing again.
  if (swiftShaderInstance) return swiftShaderInstance;
  if (experimental) return (nodeGpuExperimental ??= mod.create([...SUBGROUP_MATRIX_DAWN_TOGGLES])); // kept, like nodeGpu
  return nodeGpu;
}
let nodeGpu: GPU | undefined;
let nodeGpuExperimental: GPU | undefined;

/** A second Dawn instance on SwiftShader (Debian's chromium package), when Node runs on Linux,
 *  the user chose no Vulkan driver, and SwiftShader is installed; else undefined. Dawn reads
 *  VK_ICD_FILENAMES when an instance is created, so the variable is set before creating it.
 *  Made once and remembered: a second cache in the same process reuses it. */
export async function swiftShaderGpu(): Promise<GPU | undefined> {
  if (swiftShaderInstance) return swiftShaderInstance;
  const proc = nodeProcess();
  if (!proc?.versions?.node || proc.platform !== "linux" || !nodeGpu || swiftShaderTried) return undefined;
  swiftShaderTried = true;
  if (proc.env.VK_ICD_FILENAMES || proc.env.VK_DRIVER_FILES) return undefined;
  const fs = proc.getBuiltinModule?.("node:fs") as { existsSync(p: string): boolean } | undefined;
  if (!fs?.existsSync(SWIFTSHADER_ICD)) return undefined;
  proc.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  const moduleName = "webgpu";
  const mod = (await import(/* @vite-ignore */ moduleName)) as { create: (flags: string[]) => GPU };
  swiftShaderInstance = mod.create([]); // kept for the process lifetime, like nodeGpu
  return swiftShaderInstance;
}
let swiftShaderTried = false;
let swiftShaderInstance: GPU | undefined;
