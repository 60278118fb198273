// When createModelKernels runs prefill matmuls on matrix units (src/gpu/model subgroupMatrixUsable):
// every feature, an f16 -> f32 16x16x16 config and 32-lane subgroups, or the tiled f32 kernel.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { SUBGROUP_MATRIX_FEATURE, subgroupMatrixUsable } from "../../src/gpu/model";

const test = suite("subgroup-matrix selection");
const ALL = [SUBGROUP_MATRIX_FEATURE, "shader-f16", "subgroups"];
const H200 = [
  { M: 16, N: 16, K: 16, componentType: "f16", resultComponentType: "f32" },
  { M: 16, N: 8, K: 16, componentType: "f16", resultComponentType: "f32" },
  { M: 16, N: 16, K: 16, componentType: "f16", resultComponentType: "f16" },
  { M: 16, N: 8, K: 32, componentType: "u8", resultComponentType: "u32" },
];
const probe = (features: string[], configs = H200, min = 32, max = 32) =>
  ({ features: new Set(features), info: { subgroupMinSize: min, subgroupMaxSize: max, subgroupMatrixConfigs: configs } });

test("the H200's offer (Dawn with the opt-in toggles) selects it", () => {
  assert.ok(subgroupMatrixUsable(probe(ALL)));
});

test("each missing feature falls back", () => {
  for (const f of ALL) assert.not.ok(subgroupMatrixUsable(probe(ALL.filter((g) => g !== f))), `without ${f}`);
  assert.not.ok(subgroupMatrixUsable({ features: new Set(ALL) }), "no adapter info");
});

test("only an f16 x f16 -> f32 16x16x16 config counts", () => {
  assert.not.ok(subgroupMatrixUsable(probe(ALL, [])), "no configs");
  assert.not.ok(subgroupMatrixUsable(probe(ALL, H200.slice(1))), "16x8x16, f16 result and u8 only");
  assert.not.ok(subgroupMatrixUsable(probe(ALL, [{ M: 8, N: 8, K: 8, componentType: "f32", resultComponentType: "f32" }])), "Apple's f32 8x8x8");
  assert.not.ok(subgroupMatrixUsable(probe(ALL, H200.filter((c) => c.componentType === "u8"))), "without toggles: u8/i8 only");
});

test("subgroups of other than exactly 32 lanes fall back", () => {
  assert.not.ok(subgroupMatrixUsable(probe(ALL, H200, 16, 32)));
  assert.not.ok(subgroupMatrixUsable(probe(ALL, H200, 64, 64)));
  assert.not.ok(subgroupMatrixUsable(probe(ALL, H200, 4, 4)));
});

test.run();
