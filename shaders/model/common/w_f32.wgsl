// common/w_f32.wgsl — weight element i of an f32 tensor stored as u32 words (binding 1 of every
// weight-reading kernel). Variants per dtype are files (STYLE L1), never templates.
@group(0) @binding(1) var<storage, read> W: array<u32>;
fn w_at(i: u32) -> f32 { return bitcast<f32>(W[i]); }
