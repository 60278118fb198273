// common/w_bf16.wgsl — weight element i of a bf16 tensor packed two per u32 (element 2k in the low
// half); bf16 is the top 16 bits of an f32, so unpacking is a shift or a mask.
@group(0) @binding(1) var<storage, read> W: array<u32>;
fn w_at(i: u32) -> f32 {
  let w = W[i >> 1u];
  return select(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u), (i & 1u) == 1u);
}
