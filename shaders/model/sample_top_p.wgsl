// sample_top_p.wgsl — one token id per row from logits at temperature T > 0 with nucleus topP,
// given one uniform random number r in [0, 1) from the host (createRng(seed), src/model/sample.ts).
// Sources: common/step.wgsl, common/sample_step.wgsl, this file (sampleTopP); or common/sample_rows.wgsl,
// this file (sampleRows: settings per row, rows at temperature 0 skipped).
// Bindings (group 0): 0 logits f32[rows, vocab] (read), 1 outv u32[rows] (rw), 6 args uniform Args,
//   7 step uniform Step (temperature, topP, r as f32 bits: they change per step, the vocab does not);
//   sampleRows: 2 rowParams (temperature, topP, r bits, pad) per row (read) instead of Step.
// Dispatch: (rows); one workgroup of WG threads per row. Overrides: WG (power of two ≤ 256).
// Bytes moved: ≈ 4*vocab*(2 + 2*31 + 2*18) per row (every bisection step re-reads the row).
//
// Algorithm (no sort; same token as sampleToken's sort-based nucleus, up to f32-vs-f64 rounding):
// order = probability descending, then id ascending. p_i = exp((l_i - max)/T) / sum.
//  1. nucleus: pL = largest probability value v with sum(p >= v) > topP (bisection over the f32
//     bit patterns of v, monotone for v ≥ 0); A = sum(p > pL); the first m = floor((topP-A)/pL)+1
//     ties of pL by id are in (cutId found by bisection over ids). topP ≥ 1: no nucleus, and as
//     sampleFrom the walk is in id order: the smallest c with sum(p_i, i < c) > r, minus one.
//  2. goal = r * mass(nucleus). pS = largest value v with sum(in, p >= v) > goal; A2 =
//     sum(in, p > pS); the chosen token is the k-th (k = floor((goal-A2)/pS)+1, clamped to the
//     tie count) included tie of pS by id — the first token of the order whose cumulative mass
//     exceeds goal, exactly as the straight loop walks it.
override WG: u32 = 256u;
struct Args { vocab: u32, _pad0: u32, _pad1: u32, _pad2: u32 }
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> outv: array<u32>;
@group(0) @binding(6) var<uniform> args: Args;
var<workgroup> red: array<f32, 256>;
// The reduced value, read back through workgroupUniformLoad so the bisection branches count as uniform.
var<workgroup> bcast: f32;
var<private> li: u32;
var<private> base: u32;
var<private> mx: f32;
var<private> total: f32;

fn wreduce(v: f32, isMax: bool) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (li < k) { red[li] = select(red[li] + red[li + k], max(red[li], red[li + k]), isMax); }
    workgroupBarrier();
  }
  if (li == 0u) { bcast = red[0]; }
  return workgroupUniformLoad(&bcast);
}
fn prob(i: u32) -> f32 { return exp((logits[base + i] - mx) / bitcast<f32>(step.temperatureBits)) / total; }
// Included in the nucleus: above pL, or a tie of pL with id below cutId.
fn included(i: u32, q: f32, pL: f32, cutId: u32) -> bool { return q > pL || (q == pL && i < cutId); }

// sum over i of q_i where q_i >= v (mode 0), q_i > v (mode 1), or count of q_i == v && i < c (mode 2),
// restricted to included tokens when inc.
fn stat(mode: u32, v: f32, c: u32, inc: bool, pL: f32, cutId: u32) -> f32 {
  var s = 0.0;
  for (var i = li; i < args.vocab; i += WG) {
    let q = prob(i);
    if (inc && !included(i, q, pL, cutId)) { continue; }
    if (mode == 0u && q >= v) { s += q; }
    if (mode == 1u && q > v) { s += q; }
    if (mode == 2u && q == v && i < c) { s += 1.0; }
    if (mode == 3u && i < c) { s += q; }
  }
  return wreduce(s, false);
}
// Largest v (≥ 0) with sum(q >= v) > bound.
fn valueSearch(bound: f32, inc: bool, pL: f32, cutId: u32) -> f32 {
  var lo = 0u; var hi = 0x3f800001u;
  loop {
    if (hi - lo <= 1u) { break; }
    let mid = lo + (hi - lo) / 2u;
    if (stat(0u, bitcast<f32>(mid), 0u, inc, pL, cutId) > bound) { lo = mid; } else { hi = mid; }
  }
  return bitcast<f32>(lo);
}
// Smallest c with count(q == v, id < c) >= k (k ≥ 1 and ≤ the tie count).
fn idSearch(v: f32, k: f32, inc: bool, pL: f32, cutId: u32) -> u32 {
  var lo = 0u; var hi = args.vocab;
  loop {
    if (hi - lo <= 1u) { break; }
    let mid = lo + (hi - lo) / 2u;
    if (stat(2u, v, mid, inc, pL, cutId) >= k) { hi = mid; } else { lo = mid; }
  }
  return hi;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  if (!row_setup(wg.x)) { return; }
  // Branches below depend on these: read through functions whose results are uniform.
  let topP = bitcast<f32>(row_top_p_bits());
  let rDraw = bitcast<f32>(row_r_bits());
  li = lid;
  base = wg.x * args.vocab;
  var m = -3.4028234e38;
  for (var i = li; i < args.vocab; i += WG) { m = max(m, logits[base + i]); }
  mx = wreduce(m, true);
  total = 1.0;
  var s = 0.0;
  for (var i = li; i < args.vocab; i += WG) { s += prob(i); }
  total = wreduce(s, false);

  if (topP >= 1.0) {
    // No nucleus: sampleFrom walks ids in order; the token is the smallest c with
    // sum(p_i, i < c) > r, minus one (the last id when rounding leaves r above the total).
    var lo = 0u; var hi = args.vocab;
    loop {
      if (hi - lo <= 1u) { break; }
      let mid = lo + (hi - lo) / 2u;
      if (stat(3u, 0.0, mid, false, 0.0, 0u) > rDraw) { hi = mid; } else { lo = mid; }
    }
    if (li == 0u) { outv[wg.x] = hi - 1u; }
    return;
  }
  var pL = -1.0; var cutId = 0u;
  {
    pL = valueSearch(topP, false, 0.0, 0u);
    let A = stat(1u, pL, 0u, false, 0.0, 0u);
    let ties = stat(2u, pL, args.vocab, false, 0.0, 0u);
    let k = clamp(floor((topP - A) / pL) + 1.0, 1.0, ties);
    cutId = idSearch(pL, k, false, 0.0, 0u);
  }
  let mass = stat(0u, 0.0, 0u, true, pL, cutId);
  let goal = rDraw * mass;
  let pS = valueSearch(goal, true, pL, cutId);
  let A2 = stat(1u, pS, 0u, true, pL, cutId);
  let ties2 = stat(2u, pS, args.vocab, true, pL, cutId);
  let k2 = clamp(floor((goal - A2) / pS) + 1.0, 1.0, max(ties2, 1.0));
  let c = idSearch(pS, k2, true, pL, cutId);
  if (li == 0u) { outv[wg.x] = c - 1u; }
}
