// add.wgsl — y[i] += x[i], i < count (the residual add).
// Bindings: 0 x f32 (read), 1 y f32 (rw), 2 uniform P. Dispatch: (ceil(count / WG)) linear (2-D when large).
// Overrides: WG. Bytes moved: 12*count.
override WG: u32 = 256u;
struct P { count: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = g.x + g.y * nw.x * WG;
  if (i >= p.count) { return; }
  y[i] = y[i] + x[i];
}
