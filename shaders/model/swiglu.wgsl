// swiglu.wgsl — gate[i] = silu(gate[i]) * up[i] in place, i < numTokens * width.
// Sources: common/step.wgsl, this file.
// Bindings (group 0): 0 gate f32 (rw), 1 up f32 (read), 6 args uniform Args, 7 step uniform Step (numTokens).
// Dispatch: ceil(numTokens*width / WG) workgroups, linear over a 2-D grid. Overrides: WG. Bytes moved: 12*count.
override WG: u32 = 256u;
struct Args { width: u32, _pad0: u32, _pad1: u32, _pad2: u32 }
@group(0) @binding(0) var<storage, read_write> gate: array<f32>;
@group(0) @binding(1) var<storage, read> up: array<f32>;
@group(0) @binding(6) var<uniform> args: Args;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = g.x + g.y * nw.x * WG;
  if (i >= step.numTokens * args.width) { return; }
  let v = gate[i];
  gate[i] = v / (1.0 + exp(-v)) * up[i];
}
