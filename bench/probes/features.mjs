// What the adapter offers, with and without Dawn's unsafe-API toggle: features (does it have
// shader-f16, subgroups, an experimental subgroup-matrix feature?), adapter info, and the
// shader-f16 / subgroup-matrix requestDevice outcome. A probe for the GPU machine:
//   source .gpu/env.sh && node bench/probes/features.mjs
import { create } from "webgpu";

const keep = [];
for (const toggles of [[], ["enable-dawn-features=allow_unsafe_apis"], ["enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia"]]) {
  const gpu = create(toggles);
  keep.push(gpu);
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) { console.log(JSON.stringify({ toggles, adapter: null })); continue; }
  const info = {};
  for (const k in adapter.info) info[k] = adapter.info[k];
  // Config objects keep their fields on the prototype: name them.
  info.subgroupMatrixConfigs = [...(adapter.info.subgroupMatrixConfigs ?? [])].map((c) =>
    ({ M: c.M, N: c.N, K: c.K, componentType: c.componentType, resultComponentType: c.resultComponentType }));
  const features = [...adapter.features].sort();
  const tries = {};
  // One device per adapter: ask for every feature of interest at once.
  const wanted = features.filter((f) => /f16|matrix|subgroup/.test(f));
  try { const d = await adapter.requestDevice({ requiredFeatures: wanted }); tries[wanted.join("+")] = "ok"; d.destroy(); }
  catch (e) { tries[wanted.join("+")] = String(e).slice(0, 200); }
  console.log(JSON.stringify({ toggles, features, info, tries }));
}
