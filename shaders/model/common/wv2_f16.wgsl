// common/wv2_f16.wgsl — common/wv_f16.wgsl for a second weight (binding 4, W2): chunk c of it as
// w8b(c). Concatenated after common/wv_f16.wgsl (which declares struct W8).
@group(0) @binding(4) var<storage, read> W2: array<vec4<u32>>;
fn w8b(c: u32) -> W8 {
  let v = W2[c];
  return W8(vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y)), vec4<f32>(unpack2x16float(v.z), unpack2x16float(v.w)));
}
