// matvec.wgsl — decode's matrix × vector: y[t, rowStart + r] (=|+=) sum_i W[r, i] * x[t, i]
// (+ bias[rowStart + r]) for the rows of one weight part, t < numTokens (1 in decode: every
// weight byte is read once per step, so this kernel is bound by weight bandwidth; each token of
// a larger n re-reads the weights, which is why chunks go to matmul.wgsl).
// Sources: common/wv_{f32,f16,bf16}.wgsl, common/step.wgsl, this file.
// Bindings (group 0): 0 x vec4<f32>[numTokens, inDim/4] (read), 1 W (part [rowCount, inDim], read
//   as vec4<u32> chunks of 8 elements), 2 bias f32[outDim] (read; unused unless flags&1),
//   3 y f32[numTokens, outDim] (rw), 5 nw f32[inDim] (read; the RMSNorm weight, unused unless
//   flags&4), 8 y2 / 9 y3 f32 (rw; the split output's 2nd and 3rd parts, unused unless flags&8),
//   10 invFreq f32[headSize/2] (read; unused unless flags&16), 6 args uniform Args (epsBits: f32 bits;
//   split1, split2; headSize), 7 step uniform Step (numTokens, startPos).
// Dispatch: (ceil(rowCount / ROWS) workgroups linear over x and y, numTokens in z).
// Design: ROWS rows per workgroup; the WG lanes stride over a row's 16-byte chunks (a subgroup's
//   loads are contiguous) and each lane keeps one partial per row, so x is loaded once per chunk
//   for all ROWS rows. Partials meet in a workgroup tree (matvec_subgroup.wgsl: subgroupAdd).
//   Prologue (flags&4, fused RMSNorm): the workgroup sums x's squares itself (x is read twice, from
//   cache; no norm dispatch and no normed copy) and uses x * rs * nw, as rms_norm.wgsl writes it.
//   Epilogue: bias (flags&1), accumulate into y (flags&2, the fused residual add), or split rows
//   (flags&8: [0, split1) → y [n, split1], [split1, split2) → y2, [split2, outDim) → y3; q/k/v in
//   one pass over the concatenated weight; no accumulate then), with RoPE of the q and k rows
//   (flags&16: interleaved pairs, as rope.wgsl computes the angle; rowStart 0, even split1/split2).
// Requires: inDim % 8 == 0 (the host falls back to matmul.wgsl otherwise).
// Overrides: WG (power of two ≤ 256). ROWS is a const (it sizes a register array).
// Bytes moved: rowCount*inDim*(weight bytes) + numTokens*(inDim + rowCount)*4 (+ inDim*4 for the norm weight
//   and x once more per workgroup from cache with flags&4); 2 FLOP per weight.
override WG: u32 = 128u;
const ROWS: u32 = 2u;
struct Args { inDim: u32, outDim: u32, rowStart: u32, rowCount: u32, flags: u32, epsBits: u32, split1: u32, split2: u32,
               headSize: u32, _pad0: u32, _pad1: u32, _pad2: u32 }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> nw: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> y2: array<f32>;
@group(0) @binding(9) var<storage, read_write> y3: array<f32>;
@group(0) @binding(10) var<storage, read> invFreq: array<f32>;
@group(0) @binding(6) var<uniform> args: Args;
var<workgroup> part: array<f32, 512>;
var<workgroup> ssPart: array<f32, 256>;
// RoPE of q and k rows in the epilogue (flags&16, with the split): rows 2j, 2j + 1 of a head are
// a pair (interleaved; the host permutes rotate-half weights to it) and sit in one workgroup
// (ROWS = 2, even r0). v is this row's value, w its partner's; token t at startPos + t.
fn ropePair(v: f32, w: f32, o: u32, t: u32) -> f32 {
  let local = select(o - args.split1, o, o < args.split1) % args.headSize;
  let a = f32(step.startPos + t) * invFreq[local / 2u];
  let c = cos(a); let s = sin(a);
  // even row: x0 c − x1 s; odd row: x0 s + x1 c (x0 the even row's value).
  return select(v * c - w * s, w * s + v * c, (o & 1u) == 1u);
}
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let r0 = (wid.x + wid.y * nwg.x) * ROWS;
  let numChunks = args.inDim / 8u;
  let t = wid.z;
  if (t >= step.numTokens) { return; }
  {
    var acc: array<f32, ROWS>;
    let xb = t * (args.inDim / 4u);
    var rs = 1.0;
    if ((args.flags & 4u) != 0u) {
      // Fused RMSNorm of x (flags&4): this workgroup's own sum of squares of the row.
      var ss = 0.0;
      for (var c = li; c < numChunks; c += WG) { let a = x[xb + 2u * c]; let b = x[xb + 2u * c + 1u]; ss += dot(a, a) + dot(b, b); }
      ssPart[li] = ss;
      workgroupBarrier();
      for (var k = WG / 2u; k > 0u; k >>= 1u) {
        if (li < k) { ssPart[li] += ssPart[li + k]; }
        workgroupBarrier();
      }
      rs = inverseSqrt(ssPart[0] / f32(args.inDim) + bitcast<f32>(args.epsBits));
    }
    let norm = (args.flags & 4u) != 0u;
    for (var c = li; c < numChunks; c += WG) {
      var xa = x[xb + 2u * c]; var xc = x[xb + 2u * c + 1u];
      if (norm) { xa = xa * rs * nw[2u * c]; xc = xc * rs * nw[2u * c + 1u]; }
      for (var r = 0u; r < ROWS; r++) {
        if (r0 + r < args.rowCount) {
          let w = w8((r0 + r) * numChunks + c);
          acc[r] += dot(w.lo, xa) + dot(w.hi, xc);
        }
      }
    }
    for (var r = 0u; r < ROWS; r++) { part[r * WG + li] = acc[r]; }
    workgroupBarrier();
    for (var k = WG / 2u; k > 0u; k >>= 1u) {
      if (li < k) { for (var r = 0u; r < ROWS; r++) { part[r * WG + li] += part[r * WG + li + k]; } }
      workgroupBarrier();
    }
    if (li < ROWS && r0 + li < args.rowCount) {
      let o = args.rowStart + r0 + li;
      var v = part[li * WG];
      if ((args.flags & 1u) != 0u) { v += bias[o]; }
      if ((args.flags & 16u) != 0u && o < args.split2) {
        var w = part[(li ^ 1u) * WG];
        if ((args.flags & 1u) != 0u) { w += bias[o ^ 1u]; }
        v = ropePair(v, w, o, t);
      }
      if ((args.flags & 8u) != 0u) {
        // Split output (flags&8): rows [0, split1) → y, [split1, split2) → y2, the rest → y3.
        if (o < args.split1) { y[t * args.split1 + o] = v; }
        else if (o < args.split2) { y2[t * (args.split2 - args.split1) + o - args.split1] = v; }
        else { y3[t * (args.outDim - args.split2) + o - args.split2] = v; }
      } else {
        let yi = t * args.outDim + o;
        if ((args.flags & 2u) != 0u) { v += y[yi]; }
        y[yi] = v;
      }
    }
  }
}
