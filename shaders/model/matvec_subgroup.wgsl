// matvec_subgroup.wgsl — matvec.wgsl with the per-row partials summed by subgroupAdd: one
// workgroup barrier per token instead of log2(WG). The fast path where the adapter has the
// `subgroups` feature; same inputs, outputs, dispatch and requirements as matvec.wgsl (whose
// header documents them).
// Sources: THIS FILE FIRST (its `enable` must open the module), then common/wv_{f32,f16,bf16}.wgsl,
//   common/step.wgsl.
// Bindings (group 0): as matvec.wgsl (0 x, 1 W, 2 bias, 3 y, 5 nw, 8 y2, 9 y3, 10 invFreq, 6 args, 7 step); the
//   same flags (bias, accumulate, fused RMSNorm, split output, RoPE), the norm's sum of squares by subgroupAdd.
// Dispatch: as matvec.wgsl (ceil(rowCount / ROWS) workgroups linear over x and y, numTokens in z).
// Requires: as matvec.wgsl, and local_invocation_index laid out subgroup by subgroup (subgroup s
//   holds invocations s*sgSize..), as shaders/paged_attention_decode_subgroup.wgsl assumes; the
//   model kernel tests compare both variants with a straight loop on each adapter they run on.
// Overrides: WG (power of two ≤ 256). Bytes moved: as matvec.wgsl.
enable subgroups;
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
// [ROWS, subgroup]: at most 256 subgroups of a 256-lane workgroup (subgroup size ≥ 1).
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
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_size) sgSize: u32, @builtin(subgroup_invocation_id) sgLane: u32) {
  let r0 = (wid.x + wid.y * nwg.x) * ROWS;
  let numChunks = args.inDim / 8u;
  let numSg = (WG + sgSize - 1u) / sgSize;
  let sg = li / sgSize;
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
      let sgs = subgroupAdd(ss);
      if (sgLane == 0u) { ssPart[sg] = sgs; }
      workgroupBarrier();
      var tot = 0.0;
      for (var k = 0u; k < numSg; k++) { tot += ssPart[k]; }
      rs = inverseSqrt(tot / f32(args.inDim) + bitcast<f32>(args.epsBits));
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
    for (var r = 0u; r < ROWS; r++) {
      let s = subgroupAdd(acc[r]);
      if (sgLane == 0u) { part[r * 256u + sg] = s; }
    }
    workgroupBarrier();
    if (li < ROWS && r0 + li < args.rowCount) {
      var v = 0.0;
      for (var k = 0u; k < numSg; k++) { v += part[li * 256u + k]; }
      let o = args.rowStart + r0 + li;
      if ((args.flags & 1u) != 0u) { v += bias[o]; }
      if ((args.flags & 16u) != 0u && o < args.split2) {
        var w = 0.0;
        for (var k = 0u; k < numSg; k++) { w += part[(li ^ 1u) * 256u + k]; }
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
