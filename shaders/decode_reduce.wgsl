// decode_reduce.wgsl — combine the split-K partials of paged_attention_decode.wgsl into the
// output, and keep the final softmax (max, sum) per query head for decode_metric.wgsl.
// Sources: common/batch.wgsl, this file.
// Bindings (group 0):
//   6 batch    uniform     Args (numSeqs, maxSplits, mlOffset, finalOffset); Seq (seqId, batchIdx, _, _)
//   7 scratch  storage rw  array<f32> (layout in paged_attention_decode.wgsl);
//                          writes final (max, sum) [B, numQHeads, 2] at finalOffset
//   8 out      storage rw  array<f32> [B, NUM_Q_HEADS, HEAD_SIZE]
// Overrides: HEAD_SIZE, NUM_Q_HEADS, WG_SIZE (power of two), MAX_SPLITS (≥ maxSplits).
// Dispatch: numSeqs · NUM_Q_HEADS workgroups (2-D grid). Output pass: invocation = (split
//   group, 4-element chunk); each walks its splits 4 at a time, loading all 4 before using any
//   (a serial walk over 512 splits cost ~0.25 ms on an H200), then the groups are summed.
// Invariants: M = max_s m_s, w_s = e^(m_s − M) (0 where l_s = 0: a split past ctxLen, whose acc
//   was never written and is discarded by select, not multiplied), L = Σ_s w_s·l_s,
//   out = Σ_s w_s·acc_s / L; an empty head gives out = 0 and (M, L) = (−FLT_MAX, 0).
//   HEAD_SIZE is a multiple of 4 and HEAD_SIZE / 4 ≤ WG_SIZE.
// Roofline: reads maxSplits·(d + 2)·4 B per query head; small next to the K/V pass.

override HEAD_SIZE: u32;
override NUM_Q_HEADS: u32;
override WG_SIZE: u32;
override MAX_SPLITS: u32;

const NEG_BIG: f32 = -3.402823e38;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { numSeqs: u32, maxSplits: u32, mlOffset: u32, finalOffset: u32 }
struct Seq { seqId: u32, qRow: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(7) var<storage, read_write> scratch: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<f32>;

var<workgroup> weights: array<f32, MAX_SPLITS>;
var<workgroup> red: array<f32, WG_SIZE>;
var<workgroup> accW: array<vec4f, WG_SIZE>;

fn treeMax(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG_SIZE / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn treeSum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG_SIZE / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

/** Chunk c of split s's partial accumulator of output row `row`. */
fn loadChunk(row: u32, s: u32, maxSplits: u32, c: u32) -> vec4f {
  let base = (row * maxSplits + s) * HEAD_SIZE + 4u * c;
  return vec4f(scratch[base], scratch[base + 1u], scratch[base + 2u], scratch[base + 3u]);
}

/** w·a, or 0 where w = 0 (that split's acc was never written and may hold anything, NaN included). */
fn weighted(a: vec4f, w: f32) -> vec4f { return select(vec4f(0.0), w * a, w > 0.0); }

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let wg = linearWorkgroup(wid, nwg);
  let k = wg / NUM_Q_HEADS;
  if (k >= batch.args.numSeqs) { return; }
  let maxSplits = batch.args.maxSplits;
  let row = batch.seqs[k].qRow * NUM_Q_HEADS + wg % NUM_Q_HEADS;
  let mlBase = batch.args.mlOffset + row * maxSplits * 2u;
  var m = NEG_BIG;
  for (var s = lid; s < maxSplits; s += WG_SIZE) {
    m = max(m, select(NEG_BIG, scratch[mlBase + 2u * s], scratch[mlBase + 2u * s + 1u] > 0.0));
  }
  let mMax = treeMax(m, lid);
  var l = 0.0;
  for (var s = lid; s < maxSplits; s += WG_SIZE) {
    let ls = scratch[mlBase + 2u * s + 1u];
    let w = select(0.0, exp(scratch[mlBase + 2u * s] - mMax), ls > 0.0);
    weights[s] = w;
    l += w * ls;
  }
  let total = treeSum(l, lid);
  let inv = select(0.0, 1.0 / total, total > 0.0);
  let C = HEAD_SIZE / 4u;
  let numGroups = WG_SIZE / C;
  let grp = lid / C;
  let c = lid % C;
  var acc = vec4f(0.0);
  if (grp < numGroups) {
    for (var s0 = grp; s0 < maxSplits; s0 += 4u * numGroups) {
      let s1 = s0 + numGroups;
      let s2 = s0 + 2u * numGroups;
      let s3 = s0 + 3u * numGroups;
      let a0 = loadChunk(row, s0, maxSplits, c);
      let a1 = loadChunk(row, min(s1, maxSplits - 1u), maxSplits, c);
      let a2 = loadChunk(row, min(s2, maxSplits - 1u), maxSplits, c);
      let a3 = loadChunk(row, min(s3, maxSplits - 1u), maxSplits, c);
      acc += weighted(a0, weights[s0]);
      acc += weighted(a1, select(0.0, weights[min(s1, maxSplits - 1u)], s1 < maxSplits));
      acc += weighted(a2, select(0.0, weights[min(s2, maxSplits - 1u)], s2 < maxSplits));
      acc += weighted(a3, select(0.0, weights[min(s3, maxSplits - 1u)], s3 < maxSplits));
    }
  }
  accW[lid] = acc;
  workgroupBarrier();
  if (lid < C) {
    var sum = vec4f(0.0);
    for (var g = 0u; g < numGroups; g++) { sum += accW[g * C + lid]; }
    let o = row * HEAD_SIZE + 4u * lid;
    out[o] = sum.x * inv;
    out[o + 1u] = sum.y * inv;
    out[o + 2u] = sum.z * inv;
    out[o + 3u] = sum.w * inv;
  }
  if (lid == 0u) {
    scratch[batch.args.finalOffset + 2u * row] = mMax;
    scratch[batch.args.finalOffset + 2u * row + 1u] = total;
  }
}
