// matmul_subgroup_matrix.wgsl — matmul.wgsl on the adapter's matrix units (Dawn's experimental
// subgroup matrices: cooperative matrices on Vulkan): y[t, rowStart + r] (=|+=) sum_i W[r, i] * x[t, i]
// (+ bias[rowStart + r]) for t < numTokens and the rows of one weight part; f16 products, f32 accumulate.
// The part's rows start at row wRow0 of its buffer (0, or a view into a concatenated q/k/v weight).
// Sources: THIS FILE FIRST (its `enable`s must open the module), then common/wv_{f32,f16,bf16}.wgsl,
//   common/step.wgsl.
// Bindings (group 0): 0 x f32[numTokens, inDim] (read, as vec4), 1 W (part [rowCount, inDim] in stored
//   precision, read as vec4<u32>), 2 bias f32[outDim] (read; unused unless flags&1), 3 y f32[numTokens,
//   outDim] (rw; read only if flags&2), 6 args uniform Args (same as matmul.wgsl), 7 step uniform Step.
// Dispatch: (ceil(rowCount / (32*SG_R)), ceil(numTokens / (64*SG_T))), workgroup 32*SG_T*SG_R lanes.
// Requires: features shader-f16 + subgroups + chromium-experimental-subgroup-matrix with an f16 x f16 ->
//   f32 config M = N = K = 16; subgroups of exactly 32 lanes laid out subgroup by subgroup over
//   local_invocation_index; inDim % 8 == 0 (x and W read in 8-element chunks). Any numTokens,
//   rowCount and inDim % 32: out-of-range tokens, rows and k chunks stage zeros, writes are masked.
// Design: a (64*SG_T tokens) x (32*SG_R rows) output tile per workgroup, one 64 x 32 block per
//   subgroup = 4 x 2 result matrices of 16 x 16 (8 named accumulators). K advances 32 at a time:
//   the workgroup stages x[tokens, k..k+32] and W[rows, k..k+32] into workgroup memory as f16 (8-element
//   chunks: one vec4<u32> of a 16-bit weight, two of f32), rows padded to 40 halves; each subgroup then
//   loads left (x, row-major) and right (W^T, i.e. W's rows column-major) matrices from it and does
//   2 x 8 multiply-accumulates. Epilogue: each accumulator is stored to a per-subgroup 16 x 16 f32
//   scratch, and the lanes add bias / y and write the in-range elements.
// Precision: x and W are rounded to f16 while staging (10-bit mantissa: ~5e-4 relative per input,
//   ~1e-3 relative on a product; a dot product of n terms errs ~1e-3 * sqrt(n) of its terms'
//   magnitude rather than of its value) and clamp to f16's range: |v| > 65504 becomes inf, |v| < 6e-8
//   becomes 0 (bf16 weights keep their 8-bit mantissa but lose bf16's exponent range). Accumulation is
//   f32. That is acceptable for prefill, whose output only fills the KV cache and the last token's
//   logits (activations of the supported models stay well inside ±65504 after RMSNorm), and is why the
//   host uses this kernel only for chunks; decode stays on the f32 matvec.
// Overrides: none (SG_T, SG_R, the subgroup grid, size workgroup arrays: see below).
// Bytes moved: per tile pass 64*SG_T*inDim*4 (x) + 32*SG_R*inDim*(weight bytes); 2*numTokens*rowCount*inDim
//   FLOP; workgroup memory (64*SG_T + 32*SG_R)*80 + SG_T*SG_R*1024 bytes (SG 2 x 4: 28 KiB).
enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
// The subgroup grid (tile and workgroup size). Consts, not overrides: Tint's subgroupMatrixLoad /
// Store reject workgroup arrays sized by an override-expression (no matching overload; H200,
// 2026-12-02). The host mirrors them (src/gpu/model SUBGROUP_MATRIX_GRID).
const SG_T: u32 = 2u;
const SG_R: u32 = 4u;
const KS: u32 = 40u; // halves per staged row: 32 k + 8 padding (80 bytes: 16-byte aligned, fewer bank conflicts)
struct Args { inDim: u32, outDim: u32, rowStart: u32, rowCount: u32, flags: u32, wRow0: u32, _pad1: u32, _pad2: u32 }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<uniform> args: Args;
var<workgroup> xs: array<f16, 64u * SG_T * KS>;   // [token][k]
var<workgroup> ws: array<f16, 32u * SG_R * KS>;   // [row][k]
var<workgroup> outs: array<f32, 256u * SG_T * SG_R>; // [subgroup][16 x 16]
alias Left = subgroup_matrix_left<f16, 16, 16>;
alias Right = subgroup_matrix_right<f16, 16, 16>;
alias Acc = subgroup_matrix_result<f32, 16, 16>;

// Writes the accumulator just stored in the subgroup's scratch (tokens t0.., rows r0.. of the part).
fn put(sg: u32, lane: u32, t0: u32, r0: u32) {
  workgroupBarrier();
  for (var e = lane; e < 256u; e += 32u) {
    let t = t0 + e / 16u; let r = r0 + e % 16u;
    if (t < step.numTokens && r < args.rowCount) {
      let o = args.rowStart + r;
      var v = outs[sg * 256u + e];
      if ((args.flags & 1u) != 0u) { v += bias[o]; }
      let yi = t * args.outDim + o;
      if ((args.flags & 2u) != 0u) { v += y[yi]; }
      y[yi] = v;
    }
  }
  workgroupBarrier();
}

@compute @workgroup_size(32u * SG_T * SG_R)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_invocation_id) lane: u32) {
  let BT = 64u * SG_T; let BR = 32u * SG_R; let WGN = 32u * SG_T * SG_R;
  let rTile = wid.x * BR; let tTile = wid.y * BT;
  let sg = li / 32u;
  let sgT = sg / SG_R; let sgR = sg % SG_R;
  let numChunks = args.inDim / 8u;
  var c00 = Acc(); var c01 = Acc(); var c10 = Acc(); var c11 = Acc();
  var c20 = Acc(); var c21 = Acc(); var c30 = Acc(); var c31 = Acc();
  let aBase = sgT * 64u * KS; let bBase = sgR * 32u * KS;
  for (var k0 = 0u; k0 < numChunks; k0 += 4u) {
    for (var c = li; c < BT * 4u; c += WGN) {
      let m = c / 4u; let kc = k0 + c % 4u; let t = tTile + m;
      var lo = vec4<f32>(); var hi = vec4<f32>();
      if (t < step.numTokens && kc < numChunks) { let xi = (t * numChunks + kc) * 2u; lo = x[xi]; hi = x[xi + 1u]; }
      let s = m * KS + (c % 4u) * 8u;
      xs[s] = f16(lo.x); xs[s + 1u] = f16(lo.y); xs[s + 2u] = f16(lo.z); xs[s + 3u] = f16(lo.w);
      xs[s + 4u] = f16(hi.x); xs[s + 5u] = f16(hi.y); xs[s + 6u] = f16(hi.z); xs[s + 7u] = f16(hi.w);
    }
    for (var c = li; c < BR * 4u; c += WGN) {
      let m = c / 4u; let kc = k0 + c % 4u; let r = rTile + m;
      var w = W8(vec4<f32>(), vec4<f32>());
      if (r < args.rowCount && kc < numChunks) { w = w8((args.wRow0 + r) * numChunks + kc); }
      let s = m * KS + (c % 4u) * 8u;
      ws[s] = f16(w.lo.x); ws[s + 1u] = f16(w.lo.y); ws[s + 2u] = f16(w.lo.z); ws[s + 3u] = f16(w.lo.w);
      ws[s + 4u] = f16(w.hi.x); ws[s + 5u] = f16(w.hi.y); ws[s + 6u] = f16(w.hi.z); ws[s + 7u] = f16(w.hi.w);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 32u; kk += 16u) {
      let a0 = subgroupMatrixLoad<Left>(&xs, aBase + kk, false, KS);
      let a1 = subgroupMatrixLoad<Left>(&xs, aBase + 16u * KS + kk, false, KS);
      let a2 = subgroupMatrixLoad<Left>(&xs, aBase + 32u * KS + kk, false, KS);
      let a3 = subgroupMatrixLoad<Left>(&xs, aBase + 48u * KS + kk, false, KS);
      // Right = W^T: element [k, n] is ws[(row n) * KS + k], i.e. column-major with stride KS.
      let b0 = subgroupMatrixLoad<Right>(&ws, bBase + kk, true, KS);
      let b1 = subgroupMatrixLoad<Right>(&ws, bBase + 16u * KS + kk, true, KS);
      c00 = subgroupMatrixMultiplyAccumulate(a0, b0, c00); c01 = subgroupMatrixMultiplyAccumulate(a0, b1, c01);
      c10 = subgroupMatrixMultiplyAccumulate(a1, b0, c10); c11 = subgroupMatrixMultiplyAccumulate(a1, b1, c11);
      c20 = subgroupMatrixMultiplyAccumulate(a2, b0, c20); c21 = subgroupMatrixMultiplyAccumulate(a2, b1, c21);
      c30 = subgroupMatrixMultiplyAccumulate(a3, b0, c30); c31 = subgroupMatrixMultiplyAccumulate(a3, b1, c31);
    }
    workgroupBarrier();
  }
  let t0 = tTile + sgT * 64u; let r0 = rTile + sgR * 32u;
  subgroupMatrixStore(&outs, sg * 256u, c00, false, 16u); put(sg, lane, t0, r0);
  subgroupMatrixStore(&outs, sg * 256u, c01, false, 16u); put(sg, lane, t0, r0 + 16u);
  subgroupMatrixStore(&outs, sg * 256u, c10, false, 16u); put(sg, lane, t0 + 16u, r0);
  subgroupMatrixStore(&outs, sg * 256u, c11, false, 16u); put(sg, lane, t0 + 16u, r0 + 16u);
  subgroupMatrixStore(&outs, sg * 256u, c20, false, 16u); put(sg, lane, t0 + 32u, r0);
  subgroupMatrixStore(&outs, sg * 256u, c21, false, 16u); put(sg, lane, t0 + 32u, r0 + 16u);
  subgroupMatrixStore(&outs, sg * 256u, c30, false, 16u); put(sg, lane, t0 + 48u, r0);
  subgroupMatrixStore(&outs, sg * 256u, c31, false, 16u); put(sg, lane, t0 + 48u, r0 + 16u);
}
