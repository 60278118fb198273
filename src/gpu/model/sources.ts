// src/gpu/model/sources.ts — the model kernels' WGSL files as text, and which files each kernel
// concatenates per weight dtype (STYLE L1/L2: variants are files, never templates).
import wF32 from "../../../shaders/model/common/w_f32.wgsl";
import wF16 from "../../../shaders/model/common/w_f16.wgsl";
import wBf16 from "../../../shaders/model/common/w_bf16.wgsl";
import wvF32 from "../../../shaders/model/common/wv_f32.wgsl";
import wvF16 from "../../../shaders/model/common/wv_f16.wgsl";
import wvBf16 from "../../../shaders/model/common/wv_bf16.wgsl";
import wv2F32 from "../../../shaders/model/common/wv2_f32.wgsl";
import wv2F16 from "../../../shaders/model/common/wv2_f16.wgsl";
import wv2Bf16 from "../../../shaders/model/common/wv2_bf16.wgsl";
import matvecSwigluWgsl from "../../../shaders/model/matvec_swiglu.wgsl";
import matvecSwigluSubgroupWgsl from "../../../shaders/model/matvec_swiglu_subgroup.wgsl";
import stepWgsl from "../../../shaders/model/common/step.wgsl";
import embedWgsl from "../../../shaders/model/embed.wgsl";
import rmsNormWgsl from "../../../shaders/model/rms_norm.wgsl";
import matvecWgsl from "../../../shaders/model/matvec.wgsl";
import matvecSubgroupWgsl from "../../../shaders/model/matvec_subgroup.wgsl";
import matmulWgsl from "../../../shaders/model/matmul.wgsl";
import matmulSubgroupMatrixWgsl from "../../../shaders/model/matmul_subgroup_matrix.wgsl";
import matmulReduceWgsl from "../../../shaders/model/matmul_reduce.wgsl";
import ropeWgsl from "../../../shaders/model/rope.wgsl";
import swigluWgsl from "../../../shaders/model/swiglu.wgsl";
import addWgsl from "../../../shaders/model/add.wgsl";
import argmaxWgsl from "../../../shaders/model/argmax.wgsl";
import sampleTopPWgsl from "../../../shaders/model/sample_top_p.wgsl";
import ropeRowsWgsl from "../../../shaders/model/rope_rows.wgsl";
import sampleStepWgsl from "../../../shaders/model/common/sample_step.wgsl";
import sampleRowsWgsl from "../../../shaders/model/common/sample_rows.wgsl";
import type { ModelKernelName } from "../../contract";

export type WeightDtype = "f32" | "f16" | "bf16";

export const MODEL_WGSL: Readonly<Record<string, string>> = {
  "common/w_f32.wgsl": wF32, "common/w_f16.wgsl": wF16, "common/w_bf16.wgsl": wBf16,
  "common/wv_f32.wgsl": wvF32, "common/wv_f16.wgsl": wvF16, "common/wv_bf16.wgsl": wvBf16,
  "common/wv2_f32.wgsl": wv2F32, "common/wv2_f16.wgsl": wv2F16, "common/wv2_bf16.wgsl": wv2Bf16,
  "common/step.wgsl": stepWgsl,
  "matvec_swiglu.wgsl": matvecSwigluWgsl, "matvec_swiglu_subgroup.wgsl": matvecSwigluSubgroupWgsl,
  "embed.wgsl": embedWgsl, "rms_norm.wgsl": rmsNormWgsl, "matvec.wgsl": matvecWgsl,
  "matvec_subgroup.wgsl": matvecSubgroupWgsl, "matmul.wgsl": matmulWgsl,
  "matmul_subgroup_matrix.wgsl": matmulSubgroupMatrixWgsl, "matmul_reduce.wgsl": matmulReduceWgsl, "rope.wgsl": ropeWgsl,
  "swiglu.wgsl": swigluWgsl, "add.wgsl": addWgsl, "argmax.wgsl": argmaxWgsl, "sample_top_p.wgsl": sampleTopPWgsl,
  "rope_rows.wgsl": ropeRowsWgsl, "common/sample_step.wgsl": sampleStepWgsl, "common/sample_rows.wgsl": sampleRowsWgsl,
};

const w = (d: WeightDtype) => `common/w_${d}.wgsl`;
const wv = (d: WeightDtype) => `common/wv_${d}.wgsl`;
const wv2 = (d: WeightDtype) => `common/wv2_${d}.wgsl`;
const STEP = "common/step.wgsl";

/** File lists per model kernel and weight dtype (kernels without weights ignore it), in concatenation order. */
export const MODEL_KERNEL_FILES: Record<ModelKernelName, (dtype: WeightDtype) => string[]> = {
  embed: (d) => [w(d), STEP, "embed.wgsl"],
  rmsNorm: (d) => [w(d), STEP, "rms_norm.wgsl"],
  matvec: (d) => [wv(d), STEP, "matvec.wgsl"],
  // The kernel first: its `enable subgroups;` must open the module.
  matvecSubgroup: (d) => ["matvec_subgroup.wgsl", wv(d), STEP],
  matvecSwiglu: (d) => [wv(d), wv2(d), STEP, "matvec_swiglu.wgsl"],
  matvecSwigluSubgroup: (d) => ["matvec_swiglu_subgroup.wgsl", wv(d), wv2(d), STEP],
  matmul: (d) => [w(d), STEP, "matmul.wgsl"],
  matmulReduce: () => [STEP, "matmul_reduce.wgsl"],
  // Prefill on matrix units (chromium-experimental-subgroup-matrix); its enables open the module.
  matmulSubgroupMatrix: (d) => ["matmul_subgroup_matrix.wgsl", wv(d), STEP],
  rope: () => [STEP, "rope.wgsl"],
  swiglu: () => [STEP, "swiglu.wgsl"],
  add: () => [STEP, "add.wgsl"],
  argmax: () => ["argmax.wgsl"],
  sampleTopP: () => [STEP, "common/sample_step.wgsl", "sample_top_p.wgsl"],
  ropeRows: () => [STEP, "rope_rows.wgsl"],
  sampleRows: () => ["common/sample_rows.wgsl", "sample_top_p.wgsl"],
};

export const modelSourcesOf = (files: string[]) => files.map((f) => MODEL_WGSL[f]!);
