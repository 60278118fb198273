// common/wv_f32.wgsl — weight chunk c (elements 8c..8c+7) of an f32 tensor: two vec4<u32> loads.
@group(0) @binding(1) var<storage, read> W: array<vec4<u32>>;
struct W8 { lo: vec4<f32>, hi: vec4<f32> }
fn w8(c: u32) -> W8 { return W8(bitcast<vec4<f32>>(W[2u * c]), bitcast<vec4<f32>>(W[2u * c + 1u])); }
