// rope.wgsl — rotates x [n, heads, headSize] in place; token t sits at position startPos + t.
// One kernel for all three loader styles: the host computes invFreq (plain or Llama-3 scaled,
// src/model/rope.ts) and the layout is the `style` field: 0 interleaved (pairs 2j, 2j+1),
// 1 rotate-half/neox (pairs j, j + headSize/2).
// Bindings: 0 x f32 (rw), 1 invFreq f32[headSize/2] (read), 2 uniform P.
// Dispatch: (ceil(heads*headSize/2 / WG), n). Overrides: WG. Bytes moved: 8*n*heads*headSize.
override WG: u32 = 64u;
struct P { n: u32, heads: u32, headSize: u32, style: u32, startPos: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> invFreq: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let half = p.headSize / 2u;
  let t = g.y;
  if (g.x >= p.heads * half || t >= p.n) { return; }
  let h = g.x / half; let j = g.x % half;
  let base = (t * p.heads + h) * p.headSize;
  var i0 = base + j; var i1 = base + j + half;
  if (p.style == 0u) { i0 = base + 2u * j; i1 = i0 + 1u; }
  // f32 angle as the TS forward's Float32 path would see it; position * invFreq in f32.
  let a = f32(p.startPos + t) * invFreq[j];
  let c = cos(a); let s = sin(a);
  let x0 = x[i0]; let x1 = x[i1];
  x[i0] = x0 * c - x1 * s;
  x[i1] = x0 * s + x1 * c;
}
