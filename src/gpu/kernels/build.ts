// src/gpu/kernels/build.ts — compile one kernel once (STYLE L3, L11): concatenate its WGSL files,
// create the module and an explicit layout inside a validation error scope, and rethrow any
// failure as ShaderCompileError(file, message).

import { BATCH_UNIFORM_BYTES, type BindingKind, type KernelIo } from "../../contract";
import { InternalError, ShaderCompileError } from "../../errors";
import { dispatchLinear } from "../dispatch";

export type { BindingKind } from "../../contract";

export interface KernelSpec {
  /** Kernel file name (the last source), for errors. */
  file: string;
  /** WGSL texts, concatenated in this order (common helpers first, the kernel last). */
  sources: string[];
  /** The kernel's bindings by name (src/contract.ts KERNEL_IO[kernel], or a bench probe's own). */
  io: Pick<KernelIo, "bindings"> | { bindings: Readonly<Record<string, readonly [number, BindingKind]>> };
  constants: Record<string, number>;
}

export interface BuiltKernel {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /** Binding name → number of the layout; bindGroup() ignores buffers of any other name. */
  bindings: ReadonlyMap<string, number>;
  /** Binding of the batch uniform, if any. */
  batchBinding: number | undefined;
  file: string;
}

/** Kernels a device has built, by file, sources, bindings and constants. A pipeline is immutable,
 *  so every wrapper on one device shares it: a second engine, cache or KvBackend of the same shapes
 *  on that device compiles nothing (software adapters spend about a second a pipeline). A failed
 *  build is dropped, so the next call compiles again and throws again. Held per device; a new
 *  device (after a loss) starts empty. */
const builtByDevice = new WeakMap<GPUDevice, Map<string, Promise<BuiltKernel>>>();

/** Builds `spec` on `device` once: later calls with the same spec share the first's pipeline. */
export function buildKernel(device: GPUDevice, spec: KernelSpec): Promise<BuiltKernel> {
  let built = builtByDevice.get(device);
  if (!built) builtByDevice.set(device, (built = new Map()));
  const constants = Object.keys(spec.constants).sort().map((k) => `${k}=${spec.constants[k]}`).join(",");
  const key = `${spec.file}\u0000${constants}\u0000${JSON.stringify(spec.io.bindings)}\u0000${spec.sources.join("\n")}`;
  let k = built.get(key);
  if (!k) {
    const cache = built;
    k = compileKernel(device, spec);
    cache.set(key, k);
    k.catch(() => { if (cache.get(key) === k) cache.delete(key); });
  }
  return k;
}

async function compileKernel(device: GPUDevice, spec: KernelSpec): Promise<BuiltKernel> {
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
      entries: Object.values(spec.io.bindings).map(([binding, kind]) => ({
        binding,
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
  const entries = Object.entries(spec.io.bindings);
  const batch = entries.find(([, [, kind]]) => kind === "batch");
  return {
    pipeline, layout, file: spec.file,
    bindings: new Map(entries.map(([name, [binding]]) => [name, binding])),
    batchBinding: batch ? batch[1][0] : undefined,
  };
}

/** A bind group over `buffers` (binding name → buffer; names the kernel does not bind are
 * ignored). The batch uniform is bound at one slot's size, its offset given at setBindGroup. */
export function bindGroup(device: GPUDevice, built: BuiltKernel, buffers: Readonly<Record<string, GPUBuffer>>): GPUBindGroup {
  return device.createBindGroup({
    label: built.file,
    layout: built.layout,
    entries: [...built.bindings].map(([name, binding]) => {
      const buffer = buffers[name];
      if (!buffer) throw new InternalError(`bindGroup(${built.file}): no buffer for binding ${name} (${binding})`);
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

const bufferIds = new WeakMap<GPUBuffer, number>();
let nextBufferId = 0;
/** A small stable id per GPUBuffer, for keying bind groups by the buffers they hold. */
export function bufferId(b: GPUBuffer): number {
  let id = bufferIds.get(b);
  if (id === undefined) bufferIds.set(b, (id = nextBufferId++));
  return id;
}

/**
 * bindGroup() memoised by the buffers bound: a wrapper whose buffers do not change between calls
 * builds its group once. Cleared past `maxEntries` groups (callers that rotate many buffers).
 */
export function bindGroupCache(device: GPUDevice, built: BuiltKernel, maxEntries = 64) {
  const groups = new Map<string, GPUBindGroup>();
  return (buffers: Readonly<Record<string, GPUBuffer>>): GPUBindGroup => {
    let key = "";
    for (const name of built.bindings.keys()) key += `${buffers[name] ? bufferId(buffers[name]) : -1},`;
    let g = groups.get(key);
    if (!g) {
      if (groups.size >= maxEntries) groups.clear();
      groups.set(key, (g = bindGroup(device, built, buffers)));
    }
    return g;
  };
}

const WGSL_TYPE_BYTES: Readonly<Record<string, number>> = {
  u32: 4, i32: 4, f32: 4, "atomic<u32>": 4, "atomic<i32>": 4, vec2u: 8, vec2f: 8, vec4u: 16, vec4f: 16, vec4i: 16,
};

/**
 * Bytes of workgroup memory a kernel's WGSL declares (`var<workgroup>`), with its array lengths
 * evaluated from the pipeline constants and the module's own `const`s: the kernel's sources are the
 * one statement of these sizes, so the host can check maxComputeWorkgroupStorageSize at creation
 * without a hand-kept mirror. Lengths may use + − * / (u32 division) and parentheses.
 */
export function workgroupStorageBytes(code: string, constants: Readonly<Record<string, number>>): number {
  const names = new Map(Object.entries(constants));
  for (const m of code.matchAll(/^\s*const\s+([A-Za-z_]\w*)\s*:\s*u32\s*=\s*([^;]+);/gm)) names.set(m[1], evalU32(m[2], names));
  let bytes = 0;
  for (const m of code.matchAll(/var<workgroup>\s+\w+\s*:\s*([^;]+);/g)) {
    const type = m[1].replace(/\s+/g, "");
    const arr = /^array<(.+),(.+)>$/.exec(type);
    const elem = arr ? arr[1] : type;
    const size = WGSL_TYPE_BYTES[elem];
    if (size === undefined) throw new InternalError(`workgroupStorageBytes: unknown type ${elem}`);
    bytes += size * (arr ? evalU32(arr[2], names) : 1);
  }
  return bytes;
}

/** Evaluates a WGSL u32 expression of integer literals and named values. */
function evalU32(expr: string, names: ReadonlyMap<string, number>): number {
  const tokens = expr.match(/\d+u?|[A-Za-z_]\w*|[-+*/()]/g) ?? [];
  let i = 0;
  const atom = (): number => {
    const t = tokens[i++];
    if (t === "(") { const v = sum(); i++; return v; }
    if (t !== undefined && /^\d/.test(t)) return Number.parseInt(t, 10);
    const v = t === undefined ? undefined : names.get(t);
    if (v === undefined) throw new InternalError(`workgroupStorageBytes: unknown value ${t} in ${expr}`);
    return v;
  };
  const product = (): number => {
    let v = atom();
    while (tokens[i] === "*" || tokens[i] === "/") v = tokens[i++] === "*" ? v * atom() : Math.floor(v / atom());
    return v;
  };
  const sum = (): number => {
    let v = product();
    while (tokens[i] === "+" || tokens[i] === "-") v = tokens[i++] === "+" ? v + product() : v - product();
    return v;
  };
  return sum();
}
