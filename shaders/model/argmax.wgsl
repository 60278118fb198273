// argmax.wgsl — out[row] = index of the largest logits[row, :]; the lowest index wins ties
// (src/model/sample.ts argmax). NaN logits never win (comparisons with NaN are false).
// Bindings (group 0): 0 logits f32[rows, vocab] (read), 1 outv u32[rows] (rw), 6 args uniform Args.
// Dispatch: (rows). One workgroup per row: strided scan per thread, then a tree reduce of
// (value, index) pairs keeping the larger value, and on equal values the lower index.
// Overrides: WG (power of two ≤ 256). Bytes moved: 4*rows*vocab.
override WG: u32 = 256u;
struct Args { vocab: u32, _pad0: u32, _pad1: u32, _pad2: u32 }
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> outv: array<u32>;
@group(0) @binding(6) var<uniform> args: Args;
var<workgroup> bv: array<f32, 256>;
var<workgroup> bi: array<u32, 256>;
fn better(v: f32, i: u32, w: f32, j: u32) -> bool { return w > v || (w == v && j < i); }
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let base = wg.x * args.vocab;
  var v = -3.4028234e38; var idx = 0xffffffffu;
  for (var i = li; i < args.vocab; i += WG) {
    let w = logits[base + i];
    if (idx == 0xffffffffu || w > v) { if (w == w) { v = w; idx = i; } }
  }
  bv[li] = v; bi[li] = idx;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (li < k) {
      let w = bv[li + k]; let j = bi[li + k];
      if (j != 0xffffffffu && (bi[li] == 0xffffffffu || better(bv[li], bi[li], w, j))) { bv[li] = w; bi[li] = j; }
    }
    workgroupBarrier();
  }
  if (li == 0u) { outv[wg.x] = select(bi[0], 0u, bi[0] == 0xffffffffu); }
}
