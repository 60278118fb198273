// FMA-throughput probe: each invocation runs 8 independent vec4<f32> fma chains for `iters`
// rounds (no memory traffic in the loop), then writes one value so nothing is optimised away.
// FLOPs = 2 (fma) * 4 (lanes) * 8 (chains) * iters per invocation.
struct P { iters: u32, p0: u32, p1: u32, p2: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> sink: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let seed = f32(gid.x) * 1e-7;
  let m = vec4<f32>(0.9999, 1.0001, 0.99995, 1.00005);
  let a = vec4<f32>(1e-6, -1e-6, 2e-6, -2e-6);
  var c0 = vec4<f32>(seed); var c1 = c0 + 1.0; var c2 = c0 + 2.0; var c3 = c0 + 3.0;
  var c4 = c0 + 4.0; var c5 = c0 + 5.0; var c6 = c0 + 6.0; var c7 = c0 + 7.0;
  for (var i = 0u; i < p.iters; i++) {
    c0 = fma(c0, m, a); c1 = fma(c1, m, a); c2 = fma(c2, m, a); c3 = fma(c3, m, a);
    c4 = fma(c4, m, a); c5 = fma(c5, m, a); c6 = fma(c6, m, a); c7 = fma(c7, m, a);
  }
  let s = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7;
  let idx = gid.x + gid.y * nwg.x * 256u;
  if (s.x == 12345.678) { sink[idx % 1024u] = s.y + s.z + s.w; }
}
