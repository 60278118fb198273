// embed.wgsl — out[t, :] = E[ids[t], :] for the rows this part of E holds.
// Sources: common/w_{f32,f16,bf16}.wgsl, common/step.wgsl, this file.
// Bindings (group 0): 0 ids u32[numTokens] (read), 1 W (E part [rowCount, dim]), 2 outv f32[numTokens, dim] (rw),
//   6 args uniform Args, 7 step uniform Step (numTokens).
// Dispatch: (ceil(dim / WG), numTokens), one per part; a token whose id is outside
//   [rowStart, rowStart + rowCount) is left to the part that holds it.
// Overrides: WG (threads). Bytes moved: numTokens*dim*(weight bytes + 4).
override WG: u32 = 64u;
struct Args { dim: u32, rowStart: u32, rowCount: u32, _pad0: u32 }
@group(0) @binding(0) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> outv: array<f32>;
@group(0) @binding(6) var<uniform> args: Args;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let c = g.x; let t = g.y;
  if (c >= args.dim || t >= step.numTokens) { return; }
  let id = ids[t];
  if (id < args.rowStart || id >= args.rowStart + args.rowCount) { return; }
  outv[t * args.dim + c] = w_at((id - args.rowStart) * args.dim + c);
}
