// common/wv2_bf16.wgsl — common/wv_bf16.wgsl for a second weight (binding 4, W2): chunk c of it as
// w8b(c). Concatenated after common/wv_bf16.wgsl (which declares struct W8).
@group(0) @binding(4) var<storage, read> W2: array<vec4<u32>>;
fn w8b(c: u32) -> W8 {
  let v = W2[c];
  let m = 0xffff0000u;
  return W8(vec4<f32>(bitcast<f32>(v.x << 16u), bitcast<f32>(v.x & m), bitcast<f32>(v.y << 16u), bitcast<f32>(v.y & m)),
            vec4<f32>(bitcast<f32>(v.z << 16u), bitcast<f32>(v.z & m), bitcast<f32>(v.w << 16u), bitcast<f32>(v.w & m)));
}
