// common/wv_bf16.wgsl — weight chunk c (elements 8c..8c+7) of a bf16 tensor read as one
// vec4<u32> (element 2k in the low half of word k); bf16 widens with a shift or a mask (exact).
@group(0) @binding(1) var<storage, read> W: array<vec4<u32>>;
struct W8 { lo: vec4<f32>, hi: vec4<f32> }
fn w8(c: u32) -> W8 {
  let v = W[c];
  let m = 0xffff0000u;
  return W8(vec4<f32>(bitcast<f32>(v.x << 16u), bitcast<f32>(v.x & m), bitcast<f32>(v.y << 16u), bitcast<f32>(v.y & m)),
            vec4<f32>(bitcast<f32>(v.z << 16u), bitcast<f32>(v.z & m), bitcast<f32>(v.w << 16u), bitcast<f32>(v.w & m)));
}
