// matmul_reduce.wgsl — the second half of a split-K matmul.wgsl: y[t, rowStart + r] (=|+=)
// sum_z part[z, t, r] (+ bias[rowStart + r]) for t < numTokens, r < rowCount. The splits are added
// in order z = 0, 1, ..., then bias, then y: the same order for every token, so a row's result
// does not depend on which other rows share the batch.
// Sources: common/step.wgsl, this file.
// Bindings (group 0): 0 part f32[numSplits, numTokens, rowCount] (read), 2 bias f32[outDim] (read;
//   unused unless flags&1), 3 y f32[numTokens, outDim] (rw; read only if flags&2), 6 args uniform
//   Args, 7 step uniform Step (numTokens).
// Dispatch: ceil(numTokens * rowCount / 256) workgroups of 256 (one output a lane), as (x, y) with
//   x ≤ maxComputeWorkgroupsPerDimension; output e = (y * num_workgroups.x + x) * 256 + lane.
// Overrides: none. Bytes moved: 4 * numTokens * rowCount * (numSplits + 1 (+1 with flags&2)).
struct Args { outDim: u32, rowStart: u32, rowCount: u32, flags: u32, numSplits: u32, _pad0: u32, _pad1: u32, _pad2: u32 }
@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<uniform> args: Args;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let e = (wid.y * nwg.x + wid.x) * 256u + li;
  let n = step.numTokens * args.rowCount;
  if (e >= n) { return; }
  var s = 0.0;
  for (var z = 0u; z < args.numSplits; z++) { s += part[z * n + e]; }
  let t = e / args.rowCount; let r = e % args.rowCount;
  let o = args.rowStart + r;
  if ((args.flags & 1u) != 0u) { s += bias[o]; }
  let yi = t * args.outDim + o;
  if ((args.flags & 2u) != 0u) { s += y[yi]; }
  y[yi] = s;
}
