// rope.wgsl — rotates x [numTokens, heads, headSize] in place; token t sits at startPos + t.
// One kernel for all three loader styles: the host computes invFreq (plain or Llama-3 scaled,
// src/model/rope.ts) and the pair layout is `style`: 0 interleaved (2j, 2j+1), 1 rotate-half (j, j + headSize/2).
// Sources: common/step.wgsl, this file.
// Bindings (group 0): 0 x f32 (rw), 1 invFreq f32[headSize/2] (read), 6 args uniform Args,
//   7 step uniform Step (numTokens, startPos).
// Dispatch: (ceil(heads*headSize/2 / WG), numTokens). Overrides: WG. Bytes moved: 8*numTokens*heads*headSize.
override WG: u32 = 64u;
struct Args { heads: u32, headSize: u32, style: u32, _pad0: u32 }
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> invFreq: array<f32>;
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
  // f32 angle as the TS forward's Float32 path would see it; position * invFreq in f32.
  let a = f32(step.startPos + t) * invFreq[j];
  let c = cos(a); let s = sin(a);
  let x0 = x[i0]; let x1 = x[i1];
  x[i0] = x0 * c - x1 * s;
  x[i1] = x0 * s + x1 * c;
}
