// rope_rows.wgsl — rope.wgsl with a position per row: rotates x [numTokens, heads, headSize] in
// place, row t at positions[t] (a batched decode step: one row per sequence, each at its own length).
// The angle is f32(positions[t]) * invFreq[j], bit for bit rope.wgsl's f32(startPos + t) * invFreq[j]
// when positions[t] = startPos + t, so a batch row equals the same token stepped alone.
// Sources: common/step.wgsl, this file.
// Bindings (group 0): 0 x f32 (rw), 1 invFreq f32[headSize/2] (read), 2 positions u32[numTokens] (read),
//   6 args uniform Args, 7 step uniform Step (numTokens).
// Dispatch: (ceil(heads*headSize/2 / WG), numTokens). Overrides: WG. Bytes moved: 8*numTokens*heads*headSize + 4*numTokens.
override WG: u32 = 64u;
struct Args { heads: u32, headSize: u32, style: u32, _pad0: u32 }
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> invFreq: array<f32>;
@group(0) @binding(2) var<storage, read> positions: array<u32>;
@group(0) @binding(6) var<uniform> args: Args;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let half = args.headSize / 2u;
  let t = g.y;
  if (g.x >= args.heads * half || t >= step.numTokens) { return; }
  let h = g.x / half; let j = g.x % half;
  let base = (t * args.heads + h) * args.headSize;
  var i0 = base + j; var i1 = base + j + half;
  if (args.style == 0u) { i0 = base + 2u * j; i1 = i0 + 1u; }
  let a = f32(positions[t]) * invFreq[j];
  let c = cos(a); let s = sin(a);
  let x0 = x[i0]; let x1 = x[i1];
  x[i0] = x0 * c - x1 * s;
  x[i1] = x0 * s + x1 * c;
}
