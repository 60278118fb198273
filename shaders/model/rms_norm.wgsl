// rms_norm.wgsl — outv[t, :] = x[t, :] / sqrt(mean(x[t, :]^2) + eps) * w (f32 accumulate).
// Sources: common/w_{f32,f16,bf16}.wgsl, common/step.wgsl, this file.
// Bindings (group 0): 0 x f32[numTokens, dim] (read), 1 W (weight [dim]), 2 outv f32[numTokens, dim] (rw),
//   6 args uniform Args (eps as f32 bits), 7 step uniform Step (numTokens).
// Dispatch: (numTokens). One workgroup per token row: strided sum of squares, tree reduce.
// Overrides: WG (threads, power of two ≤ 256). Bytes moved: numTokens*dim*8 + dim*(weight bytes).
override WG: u32 = 256u;
struct Args { dim: u32, epsBits: u32, _pad0: u32, _pad1: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> outv: array<f32>;
@group(0) @binding(6) var<uniform> args: Args;
var<workgroup> part: array<f32, 256>;
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let base = wg.x * args.dim;
  var s = 0.0;
  for (var i = li; i < args.dim; i += WG) { let v = x[base + i]; s += v * v; }
  part[li] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (li < k) { part[li] += part[li + k]; }
    workgroupBarrier();
  }
  let r = inverseSqrt(part[0] / f32(args.dim) + bitcast<f32>(args.epsBits));
  for (var i = li; i < args.dim; i += WG) { outv[base + i] = x[base + i] * r * w_at(i); }
}
