// rms_norm.wgsl — out[t, :] = x[t, :] / sqrt(mean(x[t, :]^2) + eps) * w (f32 accumulate).
// Bindings: 0 x f32[n, dim] (read), 1 W (common/w_*.wgsl: weight [dim]), 2 out f32[n, dim] (rw), 3 uniform P.
// Dispatch: (n). One workgroup per token row: strided sum of squares, tree reduce in shared memory.
// Overrides: WG (threads, power of two ≤ 256). Bytes moved: n*dim*8 + dim*(weight bytes).
override WG: u32 = 256u;
struct P { n: u32, dim: u32, eps: f32, pad: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> outv: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
var<workgroup> part: array<f32, 256>;
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let t = wg.x;
  let base = t * p.dim;
  var s = 0.0;
  for (var i = li; i < p.dim; i += WG) { let v = x[base + i]; s += v * v; }
  part[li] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (li < k) { part[li] += part[li + k]; }
    workgroupBarrier();
  }
  let r = inverseSqrt(part[0] / f32(p.dim) + p.eps);
  for (var i = li; i < p.dim; i += WG) { outv[base + i] = x[base + i] * r * w_at(i); }
}
