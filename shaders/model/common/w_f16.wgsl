// common/w_f16.wgsl — weight element i of an f16 tensor packed two per u32 (element 2k in the low half).
@group(0) @binding(1) var<storage, read> W: array<u32>;
fn w_at(i: u32) -> f32 { return unpack2x16float(W[i >> 1u])[i & 1u]; }
