// matvec_swiglu.wgsl — decode's fused feed-forward input: y[t, rowStart + r] = silu(Wg[r] · x[t]) * (Wu[r] · x[t])
// for the rows of one part of the gate (W) and up (W2) weights: one pass over both matrices and
// no gate/up round trip through memory (the SwiGLU of swiglu.wgsl in the epilogue).
// Sources: common/wv_{f32,f16,bf16}.wgsl, common/wv2_{f32,f16,bf16}.wgsl, common/step.wgsl, this file.
// Bindings (group 0): 0 x vec4<f32>[numTokens, inDim/4] (read), 1 W (gate part [rowCount, inDim]),
//   4 W2 (up part, same rows), 3 y f32[numTokens, outDim] (rw), 5 nw f32[inDim] (read; RMSNorm weight,
//   unused unless flags&4: the fused RMSNorm prologue of matvec.wgsl), 6 args uniform Args (epsBits), 7 step uniform Step.
// Dispatch: as matvec.wgsl (ceil(rowCount / ROWS) workgroups linear over x and y, numTokens in z).
// Design and requirements: as matvec.wgsl with two partials per row (gate, up).
// Overrides: WG (power of two ≤ 256). Bytes moved: 2*rowCount*inDim*(weight bytes) + numTokens*(inDim + rowCount)*4.
override WG: u32 = 128u;
const ROWS: u32 = 2u;
struct Args { inDim: u32, outDim: u32, rowStart: u32, rowCount: u32, flags: u32, epsBits: u32, _pad0: u32, _pad1: u32 }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> nw: array<vec4<f32>>;
@group(0) @binding(6) var<uniform> args: Args;
var<workgroup> part: array<f32, 512>;
var<workgroup> ssPart: array<f32, 256>;
var<workgroup> partUp: array<f32, 512>;
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let r0 = (wid.x + wid.y * nwg.x) * ROWS;
  let numChunks = args.inDim / 8u;
  let t = wid.z;
  if (t >= step.numTokens) { return; }
  {
    var acc: array<f32, ROWS>;
    var accUp: array<f32, ROWS>;
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
          let u = w8b((r0 + r) * numChunks + c);
          accUp[r] += dot(u.lo, xa) + dot(u.hi, xc);
        }
      }
    }
    for (var r = 0u; r < ROWS; r++) { part[r * WG + li] = acc[r]; partUp[r * WG + li] = accUp[r]; }
    workgroupBarrier();
    for (var k = WG / 2u; k > 0u; k >>= 1u) {
      if (li < k) { for (var r = 0u; r < ROWS; r++) { part[r * WG + li] += part[r * WG + li + k]; partUp[r * WG + li] += partUp[r * WG + li + k]; } }
      workgroupBarrier();
    }
    if (li < ROWS && r0 + li < args.rowCount) {
      let o = args.rowStart + r0 + li;
      var v = part[li * WG];
      let vu = partUp[li * WG];
      y[t * args.outDim + o] = v / (1.0 + exp(-v)) * vu;
    }
  }
}
