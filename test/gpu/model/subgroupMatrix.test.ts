// The prefill matmul on matrix units (shaders/model/matmul_subgroup_matrix.wgsl, picked by
// createModelKernels where subgroupMatrixUsable holds) vs straight-loop f64 references: fresh random
// inputs, NaN-poisoned outputs, awkward sizes (576/896 widths, token counts and row counts off the
// 128 x 128 tile, inDim % 32 ≠ 0, weights split into parts), f32/f16/bf16 weights, bias + accumulate.
// Runs only where the adapter offers chromium-experimental-subgroup-matrix with an f16 -> f32
// 16 x 16 x 16 config (in Node: a second Dawn instance with the opt-in toggles, tried only on a
// hardware adapter); elsewhere every test is reported SKIPPED, not passed. No software adapter
// has the feature, so these run on GPU machines only (bench/smm.bench.ts runs the same checks there).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { requestGpuDevice } from "../../../sdk/device";
import { createModelKernels, deviceHasSubgroupMatrix, type ModelKernels, type WeightDtype } from "../../../src/gpu/model";
import { runtime, testGpu } from "../../harness/env";
import { skip } from "../../harness/skip";
import { freshSeed } from "../helpers";
import { checkMatmul } from "./subgroupMatrixCheck";

const test = suite("gpu: matmul on subgroup matrices");
let setup: Promise<{ device: GPUDevice; k: ModelKernels } | string> | undefined;

async function open(): Promise<{ device: GPUDevice; k: ModelKernels } | string> {
  const shared = await testGpu();
  let device = shared.device;
  // Node's shared device comes from the default Dawn instance; the feature needs the opt-in one.
  if (runtime === "node" && !shared.isFallbackAdapter) device = (await requestGpuDevice({ experimentalSubgroupMatrix: true })).device;
  if (!deviceHasSubgroupMatrix(device)) {
    return `no chromium-experimental-subgroup-matrix with an f16 -> f32 16x16x16 config and 32-lane subgroups on ${shared.adapterName}`;
  }
  const k = await createModelKernels(device);
  assert.ok(k.subgroupMatrix, "createModelKernels picks the subgroup-matrix matmul");
  return { device, k };
}

const CASES = [[77, 576, 896, 1], [130, 904, 200, 2], [3, 8, 5, 1], [129, 896, 515, 3]] as const;
for (const dtype of ["f32", "f16", "bf16"] as WeightDtype[]) {
  for (const [n, inDim, outDim, parts] of CASES) {
    const name = `matmul (subgroup matrix) ${dtype} n=${n} ${outDim}x${inDim} parts≈${parts}, plain and bias+accumulate`;
    test(name, async () => {
      const s = await (setup ??= open());
      if (typeof s === "string") { skip(name, s); return; }
      const seed = freshSeed();
      const e = await checkMatmul(s.device, s.k, { dtype, n, inDim, outDim, parts, seed, sample: 0 });
      // f16 inputs: products of f16-rounded x and W summed in f32 (tolerance: accumulation order
      // and the units' internal rounding); against the exact product the f16 rounding shows (~2e-4).
      assert.ok(e.f16_1 < 1e-4 && e.f16_2 < 1e-4, `vs f16-rounded inputs: ${e.f16_1} / ${e.f16_2} (seed ${seed})`);
      assert.ok(e.exact1 < 3e-3 && e.exact2 < 3e-3, `vs exact: ${e.exact1} / ${e.exact2} (seed ${seed})`);
    });
  }
  // A view into a concatenated q/k/v weight (rows from TensorPart.bufferRow, 14/2 heads at width 896).
  for (const [row0, rows] of [[0, 896], [896, 128], [1024, 128]] as const) {
    const name = `matmul (subgroup matrix) ${dtype} n=37 over rows ${row0}+${rows} of a q/k/v weight`;
    test(name, async () => {
      const s = await (setup ??= open());
      if (typeof s === "string") { skip(name, s); return; }
      const seed = freshSeed();
      const e = await checkMatmul(s.device, s.k, { dtype, n: 37, inDim: 896, outDim: rows, parts: 1, seed, sample: 0, viewRow0: row0 });
      assert.ok(e.f16_1 < 1e-4 && e.f16_2 < 1e-4, `vs f16-rounded inputs: ${e.f16_1} / ${e.f16_2} (seed ${seed})`);
    });
  }
}

test.run();
