// Stands in for node-gpu.ts in the browser, Deno and workerd bundles (scripts/build.mjs): those
// runtimes have navigator.gpu or no WebGPU at all, and must not see `import("webgpu")`.
export const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";
export const SUBGROUP_MATRIX_DAWN_TOGGLES = ["enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia"] as const;
export async function loadNodeGpu(_hint: () => string, _experimental = false): Promise<GPU | undefined> {
  return undefined;
}
export async function swiftShaderGpu(): Promise<GPU | undefined> {
  return undefined;
}
