// matmul.wgsl — prefill's matrix × matrix: y[t, rowStart + r] (=|+=) sum_i W[r, i] * x[t, i]
// (+ bias[rowStart + r]) for t < numTokens and the rows of one weight part; f32 accumulate.
// The part's rows start at row wRow0 of its buffer (0, or a view into a concatenated q/k/v weight).
// Split-K (kSplit > 0; decode batches, whose few token tiles leave most of the device idle):
// workgroup z sums k in [z * kSplit, (z + 1) * kSplit) only and writes its raw sums to
// part[z, t, r]; matmul_reduce.wgsl then adds the splits, bias and y in a fixed order.
// Sources: common/w_{f32,f16,bf16}.wgsl, common/step.wgsl, this file.
// Bindings (group 0): 0 x f32[numTokens, inDim] (read), 1 W (part [rowCount, inDim] in stored
//   precision), 2 bias f32[outDim] (read; unused unless flags&1), 3 y f32[numTokens, outDim] (rw),
//   4 part f32[splits, numTokens, rowCount] (rw; written only with kSplit > 0), 6 args uniform
//   Args, 7 step uniform Step (numTokens).
// Dispatch: (ceil(rowCount / TILE), ceil(numTokens / (64 * TOKEN_RUNS)), splits = kSplit > 0 ?
//   ceil(inDim / kSplit) : 1), 256 lanes.
// Design: a (64 * TOKEN_RUNS tokens) × (TILE = 128 rows) output tile per workgroup of 16×16 lanes,
//   each lane a (4 * TOKEN_RUNS)×8 register block: tokens 4ty..4ty+3 (and 64+4ty.. with two runs),
//   rows 4tx..4tx+3 and 64+4tx.. (split so a warp's vec4 reads of a staged k-row are 16 distinct
//   neighbours, not strided). Per k, 3 or 4 vec4 reads of workgroup memory feed 32 or 64 FMAs (the
//   4×4 block of the earlier kernel fed 16 from 8 scalar reads and was bound by them: 16 TFLOP/s
//   against a 45 TFLOP/s FMA probe, H200). Two runs are faster where the grid is large (24 against
//   22-23 TFLOP/s at 2048 tokens, 1B shapes), one run where it is small (16 against 9 TFLOP/s for a
//   512-token chunk of a 2048-row product: 64 workgroups of two runs leave half the H200 idle);
//   the host picks per dispatch (src/gpu/model MATMUL_TWO_RUNS_MIN_WORKGROUPS).
//   K advances TILE_K at a time; each lane stages one 4-long k run of one token and one row (the
//   next step's run is loaded into registers before this step's FMAs, so the loads overlap them),
//   stored k-major with a 4-float pad per k-row so the staging stores hit 32 distinct banks.
//   Any shape: out-of-range rows, tokens and k stage zeros; writes are masked.
// Overrides: TOKEN_RUNS (1 or 2; tokens per tile 64 * TOKEN_RUNS). Bytes moved: per tile pass
//   64*TOKEN_RUNS*inDim*4 + TILE*inDim*(weight bytes); 2*numTokens*rowCount*inDim FLOP. Workgroup
//   memory 8*(16*TOKEN_RUNS + 1)*16 + 8*33*16 B (two runs: 8.25 KiB).
override TOKEN_RUNS: u32 = 2u;
const TILE: u32 = 128u;
const TILE_K: u32 = 8u;
const SV: u32 = 33u; // vec4 slots per staged k-row of W: TILE / 4 + 1 of padding
override SX: u32 = 16u * TOKEN_RUNS + 1u; // the same for x (derived: never set by the host)
struct Args { inDim: u32, outDim: u32, rowStart: u32, rowCount: u32, flags: u32, wRow0: u32, kSplit: u32, _pad2: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> part: array<f32>;
@group(0) @binding(6) var<uniform> args: Args;
// [TILE_K][SX] and [TILE_K][SV]: slot v of k-row kk holds tokens (rows) 4v..4v+3 at that k.
var<workgroup> xs: array<vec4<f32>, TILE_K * SX>;
var<workgroup> ws: array<vec4<f32>, 264>;

// One 4-long k run (k0..k0+3) of token row xBase / weight row wBase, zeros from kEnd on.
fn loadX(ok: bool, base: u32, k0: u32, kEnd: u32) -> vec4<f32> {
  var v: vec4<f32>;
  for (var j = 0u; j < 4u; j++) { v[j] = select(0.0, x[base + k0 + j], ok && k0 + j < kEnd); }
  return v;
}
fn loadW(ok: bool, base: u32, k0: u32, kEnd: u32) -> vec4<f32> {
  var v: vec4<f32>;
  for (var j = 0u; j < 4u; j++) { v[j] = select(0.0, w_at(base + k0 + j), ok && k0 + j < kEnd); }
  return v;
}

// The epilogue for one token and 4 consecutive rows r0..r0+3 of the part (split z: raw sums to part).
fn put(t: u32, r0: u32, v: vec4<f32>, z: u32) {
  if (t >= step.numTokens) { return; }
  for (var j = 0u; j < 4u; j++) {
    let r = r0 + j;
    if (r >= args.rowCount) { return; }
    if (args.kSplit > 0u) { part[(z * step.numTokens + t) * args.rowCount + r] = v[j]; continue; }
    let o = args.rowStart + r;
    var s = v[j];
    if ((args.flags & 1u) != 0u) { s += bias[o]; }
    let yi = t * args.outDim + o;
    if ((args.flags & 2u) != 0u) { s += y[yi]; }
    y[yi] = s;
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let rTile = wid.x * TILE; let tTile = wid.y * 64u * TOKEN_RUNS;
  let tx = li % 16u; let ty = li / 16u;
  // Staging: lane li owns token / row m = li / 2 of the tile, k run 4 * (li % 2) .. +3 of each step.
  let m = li / 2u; let sk = 4u * (li % 2u);
  let xOk = tTile + m < step.numTokens && m < 64u * TOKEN_RUNS; // one run: lanes past 64 stage no x
  let wOk = rTile + m < args.rowCount;
  let xBase = (tTile + m) * args.inDim; let wBase = (args.wRow0 + rTile + m) * args.inDim;
  let sv = m / 4u; let sc = m % 4u;
  let z = wid.z;
  let kBegin = z * args.kSplit;
  let kEnd = select(args.inDim, min(args.inDim, kBegin + args.kSplit), args.kSplit > 0u);
  var px = loadX(xOk, xBase, kBegin + sk, kEnd);
  var pw = loadW(wOk, wBase, kBegin + sk, kEnd);
  // aHi: token i of run H (runs 4ty.. and 64 + 4ty..) x rows 4tx..+3 (H even) or 64 + 4tx..+3 (H odd):
  // a0i = tokens 4ty + i, rows 4tx..; a1i the same tokens, rows 64 + 4tx..; a2i / a3i tokens 64 + 4ty + i.
  var a00: vec4<f32>; var a01: vec4<f32>; var a02: vec4<f32>; var a03: vec4<f32>;
  var a10: vec4<f32>; var a11: vec4<f32>; var a12: vec4<f32>; var a13: vec4<f32>;
  var a20: vec4<f32>; var a21: vec4<f32>; var a22: vec4<f32>; var a23: vec4<f32>;
  var a30: vec4<f32>; var a31: vec4<f32>; var a32: vec4<f32>; var a33: vec4<f32>;
  for (var k0 = kBegin; k0 < kEnd; k0 += TILE_K) {
    for (var j = 0u; j < 4u; j++) {
      if (m < 64u * TOKEN_RUNS) { xs[(sk + j) * SX + sv][sc] = px[j]; }
      ws[(sk + j) * SV + sv][sc] = pw[j];
    }
    workgroupBarrier();
    let kn = k0 + TILE_K + sk;
    px = loadX(xOk, xBase, kn, kEnd);
    pw = loadW(wOk, wBase, kn, kEnd);
    for (var kk = 0u; kk < TILE_K; kk++) {
      let t0 = xs[kk * SX + ty];
      let r0 = ws[kk * SV + tx]; let r1 = ws[kk * SV + 16u + tx];
      a00 += t0.x * r0; a01 += t0.y * r0; a02 += t0.z * r0; a03 += t0.w * r0;
      a10 += t0.x * r1; a11 += t0.y * r1; a12 += t0.z * r1; a13 += t0.w * r1;
      if (TOKEN_RUNS == 2u) {
        let t1 = xs[kk * SX + 16u + ty];
        a20 += t1.x * r0; a21 += t1.y * r0; a22 += t1.z * r0; a23 += t1.w * r0;
        a30 += t1.x * r1; a31 += t1.y * r1; a32 += t1.z * r1; a33 += t1.w * r1;
      }
    }
    workgroupBarrier();
  }
  let tA = tTile + 4u * ty; let tB = tA + 64u;
  let rA = rTile + 4u * tx; let rB = rA + 64u;
  put(tA, rA, a00, z); put(tA + 1u, rA, a01, z); put(tA + 2u, rA, a02, z); put(tA + 3u, rA, a03, z);
  put(tA, rB, a10, z); put(tA + 1u, rB, a11, z); put(tA + 2u, rB, a12, z); put(tA + 3u, rB, a13, z);
  if (TOKEN_RUNS == 2u) {
    put(tB, rA, a20, z); put(tB + 1u, rA, a21, z); put(tB + 2u, rA, a22, z); put(tB + 3u, rA, a23, z);
    put(tB, rB, a30, z); put(tB + 1u, rB, a31, z); put(tB + 2u, rB, a32, z); put(tB + 3u, rB, a33, z);
  }
}
