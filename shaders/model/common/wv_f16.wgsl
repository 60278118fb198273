// common/wv_f16.wgsl — weight chunk c (elements 8c..8c+7) of an f16 tensor read as one vec4<u32>.
@group(0) @binding(1) var<storage, read> W: array<vec4<u32>>;
struct W8 { lo: vec4<f32>, hi: vec4<f32> }
fn w8(c: u32) -> W8 {
  let v = W[c];
  return W8(vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y)), vec4<f32>(unpack2x16float(v.z), unpack2x16float(v.w)));
}
