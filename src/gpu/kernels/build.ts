// src/gpu/kernels/build.ts — compile one kernel once (STYLE L3, L11): concatenate its WGSL files,
// create the module and an explicit layout inside a validation error scope, and rethrow any
// failure as ShaderCompileError(file, message).

import { ShaderCompileError } from "../../errors";
import { BATCH_UNIFORM_BYTES } from "../layout";
import { dispatchLinear } from "../dispatch";

/** One binding of a kernel's group 0. */
export type BindingKind = "storage" | "read-only-storage" | "batch";

export interface KernelSpec {
  /** Kernel file name (the last source), for errors. */
  file: string;
  /** WGSL texts, concatenated in this order (common helpers first, the kernel last). */
  sources: string[];
  /** Binding number → kind; "batch" is the dynamic-offset Batch uniform. */
  bindings: Record<number, BindingKind>;
  constants: Record<string, number>;
}

export interface BuiltKernel {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /** Binding numbers of the layout; bindGroup() ignores buffers for any other binding. */
  bindings: number[];
  /** Binding of the batch uniform, if any. */
  batchBinding: number | undefined;
}

export async function buildKernel(device: GPUDevice, spec: KernelSpec): Promise<BuiltKernel> {
  const code = spec.sources.join("\n");
  device.pushErrorScope("validation");
  let pipeline: GPUComputePipeline | undefined;
  let layout: GPUBindGroupLayout | undefined;
  let failure = "";
  try {
    const module = device.createShaderModule({ label: spec.file, code });
    const info = await module.getCompilationInfo?.();
    const errors = info?.messages.filter((m) => m.type === "error") ?? [];
    if (errors.length) failure = errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join("; ");
    layout = device.createBindGroupLayout({
      label: spec.file,
      entries: Object.entries(spec.bindings).map(([binding, kind]) => ({
        binding: Number(binding),
        visibility: GPUShaderStage.COMPUTE,
        buffer: kind === "batch" ? { type: "uniform", hasDynamicOffset: true } : { type: kind },
      })),
    });
    if (!failure) {
      pipeline = await device.createComputePipelineAsync({
        label: spec.file,
        layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: "main", constants: spec.constants },
      });
    }
  } catch (e) {
    failure ||= e instanceof Error ? e.message : String(e);
  }
  const scoped = await device.popErrorScope();
  if (scoped && !failure) failure = scoped.message;
  if (failure || !pipeline || !layout) throw new ShaderCompileError(spec.file, failure || "pipeline not created");
  const entries = Object.entries(spec.bindings);
  const batch = entries.find(([, kind]) => kind === "batch");
  return { pipeline, layout, bindings: entries.map(([b]) => Number(b)), batchBinding: batch ? Number(batch[0]) : undefined };
}

/** A bind group over `buffers` (binding → buffer; extra bindings are ignored). The batch uniform
 * is bound at one slot's size, its offset given at setBindGroup. */
export function bindGroup(device: GPUDevice, built: BuiltKernel, buffers: Record<number, GPUBuffer>): GPUBindGroup {
  return device.createBindGroup({
    layout: built.layout,
    entries: built.bindings.map((binding) => {
      const buffer = buffers[binding];
      if (!buffer) throw new Error(`bindGroup: no buffer for binding ${binding}`);
      return binding === built.batchBinding ? { binding, resource: { buffer, size: BATCH_UNIFORM_BYTES } } : { binding, resource: { buffer } };
    }),
  });
}

/** setPipeline + setBindGroup(0, group, [batchOffset]) + a linear 2-D dispatch. */
export function encodeLinear(pass: GPUComputePassEncoder, built: BuiltKernel, group: GPUBindGroup,
  batchOffset: number, numWorkgroups: number): void {
  if (numWorkgroups <= 0) return;
  pass.setPipeline(built.pipeline);
  pass.setBindGroup(0, group, built.batchBinding === undefined ? [] : [batchOffset]);
  dispatchLinear(pass, numWorkgroups);
}
