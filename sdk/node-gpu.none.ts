// Stands in for node-gpu.ts in the browser, Deno and workerd bundles (scripts/build.mjs): those
// runtimes have navigator.gpu or no WebGPU at all, and must not see `import("webgpu")`.
export const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";
export async function loadNodeGpu(_hint: () => string): Promise<GPU | undefined> {
  return undefined;
}
export async function swiftShaderGpu(): Promise<GPU | undefined> {
  return undefined;
}
