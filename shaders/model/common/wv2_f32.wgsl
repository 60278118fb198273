// common/wv2_f32.wgsl — common/wv_f32.wgsl for a second weight (binding 4, W2): chunk c of it as
// w8b(c). Concatenated after common/wv_f32.wgsl (which declares struct W8).
@group(0) @binding(4) var<storage, read> W2: array<vec4<u32>>;
fn w8b(c: u32) -> W8 { return W8(bitcast<vec4<f32>>(W2[2u * c]), bitcast<vec4<f32>>(W2[2u * c + 1u])); }
