// matmul.wgsl — prefill's matrix × matrix: y[t, rowStart + r] (=|+=) sum_i W[r, i] * x[t, i]
// (+ bias[rowStart + r]) for t < numTokens and the rows of one weight part; f32 accumulate.
// The part's rows start at row wRow0 of its buffer (0, or a view into a concatenated q/k/v weight).
// Sources: common/w_{f32,f16,bf16}.wgsl, common/step.wgsl, this file.
// Bindings (group 0): 0 x f32[numTokens, inDim] (read), 1 W (part [rowCount, inDim] in stored
//   precision), 2 bias f32[outDim] (read; unused unless flags&1), 3 y f32[numTokens, outDim] (rw),
//   6 args uniform Args, 7 step uniform Step (numTokens).
// Dispatch: (ceil(rowCount / TILE), ceil(numTokens / TILE)).
// Design: a TILE×TILE output tile per workgroup of 16×16 lanes, each lane a 4×4 register block
//   (4 tokens × 4 rows). K advances TILE_K at a time: the workgroup stages x[tokens, k..] and
//   W[rows, k..] (widened to f32) in workgroup memory, then every lane does 16 FMAs per k from
//   4 + 4 loads of it. Any shape: out-of-range rows, tokens and k stage zeros.
// Overrides: none (the tile sizes size workgroup arrays). Bytes moved: per tile pass
//   TILE*inDim*(4 + weight bytes); 2*numTokens*rowCount*inDim FLOP.
const TILE: u32 = 64u;
const TILE_K: u32 = 16u;
struct Args { inDim: u32, outDim: u32, rowStart: u32, rowCount: u32, flags: u32, wRow0: u32, _pad1: u32, _pad2: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<uniform> args: Args;
// [TILE_K, TILE] each: k-major, so a lane's 4 consecutive tokens (rows) are adjacent.
var<workgroup> xs: array<f32, 1024>;
var<workgroup> ws: array<f32, 1024>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let rTile = wid.x * TILE; let tTile = wid.y * TILE;
  let tx = li % 16u; let ty = li / 16u;
  var acc: array<vec4<f32>, 4>; // acc[i][j]: token tTile + 4ty + i, row rTile + 4tx + j
  for (var k0 = 0u; k0 < args.inDim; k0 += TILE_K) {
    for (var e = li; e < TILE * TILE_K; e += 256u) {
      let kk = e % TILE_K; let m = e / TILE_K;
      let k = k0 + kk;
      let t = tTile + m; let r = rTile + m;
      xs[kk * TILE + m] = select(0.0, x[t * args.inDim + k], t < step.numTokens && k < args.inDim);
      ws[kk * TILE + m] = select(0.0, w_at((args.wRow0 + r) * args.inDim + k), r < args.rowCount && k < args.inDim);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TILE_K; kk++) {
      let a = vec4<f32>(xs[kk * TILE + 4u * ty], xs[kk * TILE + 4u * ty + 1u], xs[kk * TILE + 4u * ty + 2u], xs[kk * TILE + 4u * ty + 3u]);
      let b = vec4<f32>(ws[kk * TILE + 4u * tx], ws[kk * TILE + 4u * tx + 1u], ws[kk * TILE + 4u * tx + 2u], ws[kk * TILE + 4u * tx + 3u]);
      acc[0] += a.x * b; acc[1] += a.y * b; acc[2] += a.z * b; acc[3] += a.w * b;
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let t = tTile + 4u * ty + i;
    if (t >= step.numTokens) { break; }
    for (var j = 0u; j < 4u; j++) {
      let r = rTile + 4u * tx + j;
      if (r >= args.rowCount) { break; }
      let o = args.rowStart + r;
      var v = acc[i][j];
      if ((args.flags & 1u) != 0u) { v += bias[o]; }
      let yi = t * args.outDim + o;
      if ((args.flags & 2u) != 0u) { v += y[yi]; }
      y[yi] = v;
    }
  }
}
