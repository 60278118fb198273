// The engine's own dense-layer kernels (embedding gather, RMSNorm, matrix × rows with bias and
// residual, RoPE, SwiGLU, argmax), as WGSL strings generated per weight dtype.
//
// Why here and not shaders/model/**: the kernels helper's shaders/model kernels had not landed
// when the engine was written; these are the stop-gap the engine runs on until they do (see
// /work/notes/requests-kernels.md). They favour being obviously right over being fast.
//
// Weights of 16 bits arrive packed two per u32 word, element 2i in the low half (the byte order
// of the file on a little-endian host): bf16 widens with a 16-bit shift (exact), f16 through
// unpack2x16float (exact). f32 stays f32. Every accumulation is f32.

export type WeightDtype = "f32" | "f16" | "bf16";

/** The step uniform every kernel of a step shares: rows of this chunk and the position of row 0. */
const STEP = /* wgsl */ `
struct Step { numTokens: u32, startPos: u32, firstOut: u32, pad: u32 }
@group(0) @binding(0) var<uniform> step: Step;
`;

/** `pair(wordIndex)` → the two weights of that word as vec2<f32>; `one(elementIndex)` → one weight. */
function weightAccess(dtype: WeightDtype, binding: number): string {
  if (dtype === "f32") {
    return `@group(0) @binding(${binding}) var<storage, read> wt: array<f32>;
fn pair(i: u32) -> vec2<f32> { return vec2<f32>(wt[2u * i], wt[2u * i + 1u]); }
fn one(i: u32) -> f32 { return wt[i]; }`;
  }
  const unpack = dtype === "bf16"
    ? "vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u))"
    : "unpack2x16float(w)";
  return `@group(0) @binding(${binding}) var<storage, read> wt: array<u32>;
fn pair(i: u32) -> vec2<f32> { let w = wt[i]; return ${unpack}; }
fn one(i: u32) -> f32 { let v = pair(i >> 1u); return select(v.x, v.y, (i & 1u) == 1u); }`;
}

/**
 * out[t - firstOut, row] (+)= Σ_k W[row, k] · x[t, k] (+ bias[row]) for t in firstOut..numTokens,
 * rows rowStart..rowStart+rows of W held by this binding (a part of a tensor split across
 * bindings). One workgroup of 64 per output row: each lane sums a strided slice of k in pairs,
 * then a tree reduction. K must be even (pairs).
 */
export function matmulWgsl(dtype: WeightDtype): string {
  return `${STEP}
struct Mm { K: u32, rowStart: u32, rows: u32, outStride: u32, flags: u32, gridX: u32, p0: u32, p1: u32 }
@group(0) @binding(1) var<uniform> mm: Mm;
@group(0) @binding(2) var<storage, read> x: array<f32>;
${weightAccess(dtype, 3)}
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
var<workgroup> red: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let local = wg.x + wg.y * mm.gridX;
  if (local >= mm.rows) { return; }
  let row = mm.rowStart + local;
  let halfK = mm.K / 2u;
  let wBase = local * halfK;
  for (var t = step.firstOut; t < step.numTokens; t++) {
    let xBase = t * mm.K;
    var acc = 0.0;
    for (var j = li; j < halfK; j += 64u) {
      let w = pair(wBase + j);
      acc += w.x * x[xBase + 2u * j] + w.y * x[xBase + 2u * j + 1u];
    }
    red[li] = acc;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
      if (li < s) { red[li] += red[li + s]; }
      workgroupBarrier();
    }
    if (li == 0u) {
      var v = red[0];
      if ((mm.flags & 1u) != 0u) { v += bias[row]; }
      let o = (t - step.firstOut) * mm.outStride + row;
      if ((mm.flags & 2u) != 0u) { v += out[o]; }
      out[o] = v;
    }
    workgroupBarrier();
  }
}`;
}

/** out[t, :] = table[tokens[t], :] for the tokens whose row this binding holds. */
export function embedWgsl(dtype: WeightDtype): string {
  return `${STEP}
struct Em { dim: u32, rowStart: u32, rows: u32, p0: u32 }
@group(0) @binding(1) var<uniform> em: Em;
@group(0) @binding(2) var<storage, read> tokens: array<u32>;
${weightAccess(dtype, 3)}
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.y;
  let i = gid.x;
  if (t >= step.numTokens || i >= em.dim) { return; }
  let tok = tokens[t];
  if (tok < em.rowStart || tok >= em.rowStart + em.rows) { return; }
  out[t * em.dim + i] = one((tok - em.rowStart) * em.dim + i);
}`;
}

/** out[t] = x[t] / sqrt(mean(x[t]²) + eps) · weight, one workgroup per row (rows firstOut..). */
export const RMSNORM_WGSL = `${STEP}
struct Rn { dim: u32, eps: f32, p0: u32, p1: u32 }
@group(0) @binding(1) var<uniform> rn: Rn;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
var<workgroup> red: array<f32, 128>;
@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let t = wg.x + step.firstOut;
  if (t >= step.numTokens) { return; }
  let base = t * rn.dim;
  var acc = 0.0;
  for (var i = li; i < rn.dim; i += 128u) { let v = x[base + i]; acc += v * v; }
  red[li] = acc;
  workgroupBarrier();
  for (var s = 64u; s > 0u; s >>= 1u) {
    if (li < s) { red[li] += red[li + s]; }
    workgroupBarrier();
  }
  let inv = 1.0 / sqrt(red[0] / f32(rn.dim) + rn.eps);
  for (var i = li; i < rn.dim; i += 128u) { out[base + i] = x[base + i] * inv * weight[i]; }
}`;

/**
 * RoPE in place on x [numTokens, numHeads, headSize]; token t sits at startPos + t. cos/sin come
 * from a host table [maxPos, headSize/2] computed in f64 (angles of big positions lose digits in
 * f32). style 0 = interleaved pairs (2j, 2j+1), 1 = rotate-half pairs (j, j + headSize/2).
 */
export const ROPE_WGSL = `${STEP}
struct Rp { numHeads: u32, headSize: u32, style: u32, p0: u32 }
@group(0) @binding(1) var<uniform> rp: Rp;
@group(0) @binding(2) var<storage, read> table: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let half = rp.headSize / 2u;
  let j = gid.x % half;
  let h = gid.x / half;
  let t = gid.y;
  if (h >= rp.numHeads || t >= step.numTokens) { return; }
  let cs = table[(step.startPos + t) * half + j];
  let head = (t * rp.numHeads + h) * rp.headSize;
  var i0 = head + j;
  var i1 = head + j + half;
  if (rp.style == 0u) { i0 = head + 2u * j; i1 = i0 + 1u; }
  let x0 = x[i0];
  let x1 = x[i1];
  x[i0] = x0 * cs.x - x1 * cs.y;
  x[i1] = x1 * cs.x + x0 * cs.y;
}`;

/** gate = silu(gate) · up over [numTokens, hidden]. */
export const SWIGLU_WGSL = `${STEP}
struct Sw { hidden: u32, p0: u32, p1: u32, p2: u32 }
@group(0) @binding(1) var<uniform> sw: Sw;
@group(0) @binding(2) var<storage, read> up: array<f32>;
@group(0) @binding(3) var<storage, read_write> gate: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let t = gid.y;
  if (i >= sw.hidden || t >= step.numTokens) { return; }
  let o = t * sw.hidden + i;
  let g = gate[o];
  gate[o] = g / (1.0 + exp(-g)) * up[o];
}`;

/**
 * Greedy sampling of logits row 0: the largest finite logit, lowest id on ties (as argmax() on
 * the host). One workgroup of 256; writes the id to result[0].
 */
export const ARGMAX_WGSL = `
struct Am { vocab: u32, p0: u32, p1: u32, p2: u32 }
@group(0) @binding(0) var<uniform> am: Am;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> result: array<u32>;
var<workgroup> bestV: array<f32, 256>;
var<workgroup> bestI: array<u32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32) {
  var v = -3.0e38;
  var id = 0xffffffffu;
  for (var i = li; i < am.vocab; i += 256u) {
    let l = logits[i];
    if (l > v || id == 0xffffffffu) { v = l; id = i; }
  }
  bestV[li] = v;
  bestI[li] = id;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (li < s) {
      let ov = bestV[li + s];
      let oi = bestI[li + s];
      if (oi != 0xffffffffu && (ov > bestV[li] || (ov == bestV[li] && oi < bestI[li]) || bestI[li] == 0xffffffffu)) {
        bestV[li] = ov;
        bestI[li] = oi;
      }
    }
    workgroupBarrier();
  }
  if (li == 0u) { result[0] = select(bestI[0], 0u, bestI[0] == 0xffffffffu); }
}`;
