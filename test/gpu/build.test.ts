// buildKernel (src/gpu/kernels/build.ts) compiles a spec once per device: a second wrapper of the
// same spec gets the first's pipeline, any other constant or source compiles anew, and a failed
// build is not remembered as a success (the next call compiles again and throws again).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { buildKernel, type KernelSpec } from "../../src/gpu/kernels/build";
import { ShaderCompileError } from "../../src/errors";
import { testDevice } from "../harness/env";

const test = suite("gpu: kernels built once per device");

const spec = (constants: Record<string, number>, body = "b[i] = f32(i) * f32(SCALE);"): KernelSpec => ({
  file: "build-test.wgsl",
  sources: [`override SCALE: u32;
@group(0) @binding(0) var<storage, read_write> b: array<f32>;
@compute @workgroup_size(8) fn main(@builtin(global_invocation_id) g: vec3u) { let i = g.x; ${body} }`],
  io: { bindings: { b: [0, "storage"] } },
  constants,
});

test("the same spec shares one pipeline; another constant or source compiles its own", async () => {
  const device = await testDevice();
  const a = await buildKernel(device, spec({ SCALE: 3 }));
  const again = await buildKernel(device, { ...spec({ SCALE: 3 }), sources: [...spec({ SCALE: 3 }).sources] });
  assert.ok(a === again, "a second build of an equal spec returns the first kernel");
  const other = await buildKernel(device, spec({ SCALE: 4 }));
  assert.ok(other.pipeline !== a.pipeline, "another constant: another pipeline");
  const otherSource = await buildKernel(device, spec({ SCALE: 3 }, "b[i] = f32(i) + f32(SCALE);"));
  assert.ok(otherSource.pipeline !== a.pipeline, "another source: another pipeline");
});

test("a failed build throws ShaderCompileError every time it is asked for", async () => {
  const device = await testDevice();
  const bad = spec({ SCALE: 3 }, "b[i] = undefined_name;");
  for (let i = 0; i < 2; i++) {
    let err: unknown;
    try { await buildKernel(device, bad); } catch (e) { err = e; }
    assert.ok(err instanceof ShaderCompileError, `call ${i + 1}: ShaderCompileError (${err})`);
  }
});

test.run();
