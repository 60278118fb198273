// matmul.wgsl — y[t, rowStart + r] (=|+=) sum_i W[r, i] * x[t, i] (+ bias[rowStart + r]) for the
// rows of one weight part; W [rowCount, in] row-major in stored precision, f32 accumulate.
// Bindings: 0 x f32[n, in] (read), 1 W (common/w_*.wgsl), 2 bias f32[out] (read; unused unless
// flags&1), 3 y f32[n, out] (rw), 4 uniform P.
// Dispatch: (ceil(rowCount / ROWS), n). Design: ROWS rows per workgroup, LANES threads per row
// streaming the row contiguously (coalesced), tree reduce in shared memory; the epilogue adds the
// bias (flags&1) and accumulates into y (flags&2, the fused residual). This is the correctness
// baseline used for both decode (n = 1) and prefill chunks; a tiled prefill variant and a
// subgroup-reduce decode variant are to follow (see src/gpu/model/index.ts).
// Overrides: LANES (power of two), ROWS; LANES*ROWS ≤ 256. Bytes moved: rowCount*in*(weight bytes)*n + n*(in+out)*4.
override LANES: u32 = 64u;
override ROWS: u32 = 4u;
struct P { n: u32, inDim: u32, outDim: u32, rowStart: u32, rowCount: u32, flags: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
var<workgroup> part: array<f32, 256>;
@compute @workgroup_size(LANES * ROWS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let lane = li % LANES;
  let rr = li / LANES;
  let r = wg.x * ROWS + rr;
  let t = wg.y;
  var s = 0.0;
  if (r < p.rowCount) {
    let wb = r * p.inDim;
    let xb = t * p.inDim;
    for (var i = lane; i < p.inDim; i += LANES) { s += w_at(wb + i) * x[xb + i]; }
  }
  part[li] = s;
  workgroupBarrier();
  for (var k = LANES / 2u; k > 0u; k >>= 1u) {
    if (lane < k) { part[li] += part[li + k]; }
    workgroupBarrier();
  }
  if (lane == 0u && r < p.rowCount) {
    let o = p.rowStart + r;
    var v = part[li];
    if ((p.flags & 1u) != 0u) { v += bias[o]; }
    let yi = t * p.outDim + o;
    if ((p.flags & 2u) != 0u) { v += y[yi]; }
    y[yi] = v;
  }
}
