// embed.wgsl — out[t, :] = E[ids[t], :] for the rows this part of E holds.
// Bindings: 0 ids u32[n] (read), 1 W (common/w_*.wgsl: E part [rowCount, dim]), 2 out f32[n, dim] (rw), 3 uniform P.
// Dispatch: (ceil(dim / WG), n). One dispatch per part; a token whose id is outside
// [rowStart, rowStart + rowCount) is left to the part that holds it.
// Overrides: WG (threads). Bytes moved: n*dim*(weight bytes + 4).
override WG: u32 = 64u;
struct P { n: u32, dim: u32, rowStart: u32, rowCount: u32 }
@group(0) @binding(0) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> outv: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let c = g.x; let t = g.y;
  if (c >= p.dim || t >= p.n) { return; }
  let id = ids[t];
  if (id < p.rowStart || id >= p.rowStart + p.rowCount) { return; }
  outv[t * p.dim + c] = w_at((id - p.rowStart) * p.dim + c);
}
