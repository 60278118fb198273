// pass_rank_global.wgsl — second half of one round of the device pass's global select (docs/METHOD.md
// §2.4, §3): the kvcompress ranking of assembly/schedule.ts without reading chunk keys back. Per
// pass sequence, T is the smallest u32 pattern with G(T) = Σ_heads chunksAtMost(cnt_h(≤ T)) ≥ take,
// take = min(E, finite chunk keys); each round fixes 8 more bits of T: the first bin whose
// G = G0 + Σ increments (pass_global_sum.wgsl) reaches take. After round 3 every head takes its
// chunk keys < T and the keys == T go to heads in flat (layer, kvHead) order — the schedule's tie
// rule — giving e, then n = (e − 1)·b + a KVs; each head's own select of its n-th key starts.
// Sources: common/pool.wgsl, common/batch.wgsl, common/pass_state.wgsl, this file.
// Bindings (group 0):
//   4 headTables storage rw  (common/pool.wgsl) — ctxLens read
//   6 batch      uniform     Args (numSeqs k, round); Seq (seqId, seqLen, budget E, _)
//   7 state      storage rw  array<u32> (common/pass_state.wgsl)
//   8 hist       storage r   array<u32> [2, NUM_LAYERS · k · NUM_KV_HEADS, 257]: the scanned histograms
//   9 gsum       storage rw  array<u32> [k, 258], read and cleared
//  10 result     storage rw  array<u32> [1 + NUM_LAYERS · k · NUM_KV_HEADS]: word 1 + seg = n (round 3)
// Overrides: pool.wgsl's, WG_SIZE (= 256, one invocation per bin).
// Dispatch: k workgroups, one per pass sequence; invocations walk the sequence's heads.
// Invariant: G is monotone in T, so the first bin whose G reaches take holds T.
// Roofline: 258 words per sequence, 3 per head per round.

override WG_SIZE: u32;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { numSeqs: u32, round: u32 }
struct Seq { seqId: u32, seqLen: u32, budget: u32, _pad0: u32 }

@group(0) @binding(7) var<storage, read_write> state: array<u32>;
@group(0) @binding(8) var<storage, read> hist: array<u32>;
@group(0) @binding(9) var<storage, read_write> gsum: array<u32>;
@group(0) @binding(10) var<storage, read_write> result: array<u32>;

var<workgroup> gscan: array<u32, 256>;
var<workgroup> pickShared: u32;
var<workgroup> takeShared: u32;
var<workgroup> lessShared: atomic<u32>;
var<workgroup> carryShared: u32;

/** Pass head of the q-th (layer, kvHead) of sequence i, in flat order q = layer · H + kvHead. */
fn segOf(i: u32, q: u32, numSeqs: u32) -> u32 {
  return ((q / NUM_KV_HEADS) * numSeqs + i) * NUM_KV_HEADS + q % NUM_KV_HEADS;
}

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let numSeqs = batch.args.numSeqs;
  let round = batch.args.round;
  let numSegs = NUM_LAYERS * numSeqs * NUM_KV_HEADS;
  let region = round & 1u;
  let i = wid.x;
  let seq = batch.seqs[i];
  let heads = NUM_LAYERS * NUM_KV_HEADS;
  let g = i * PASS_GSUM_WORDS;
  if (lid == 0u) {
    pickShared = PASS_BINS - 1u;
    atomicStore(&lessShared, 0u);
    if (round == 0u) {
      let numFinite = gsum[g + 257u];
      state[seqWord(i, 0u)] = min(seq.budget, numFinite);
      state[seqWord(i, 1u)] = numFinite;
    }
    takeShared = state[seqWord(i, 0u)];
  }
  gscan[lid] = gsum[g + lid];
  let g0 = gsum[g + 256u];
  let take = workgroupUniformLoad(&takeShared);
  for (var off = 1u; off < PASS_BINS; off <<= 1u) {
    var add = 0u;
    if (lid >= off) { add = gscan[lid - off]; }
    workgroupBarrier();
    gscan[lid] += add;
    workgroupBarrier();
  }
  let reached = g0 + gscan[lid] >= take;
  let before = lid > 0u && g0 + gscan[max(lid, 1u) - 1u] >= take;
  if (reached && !before) { pickShared = lid; }
  let pick = workgroupUniformLoad(&pickShared);
  gsum[g + lid] = 0u;
  if (lid < 2u) { gsum[g + 256u + lid] = 0u; }
  let last = round == 3u;
  for (var q = lid; q < heads; q += WG_SIZE) {
    let seg = segOf(i, q, numSeqs);
    let below = select(0u, hist[histWord(region, numSegs, seg, max(pick, 1u) - 1u)], pick > 0u);
    let eq = hist[histWord(region, numSegs, seg, pick)] - below;
    let base = select(state[headWord(seg, 2u)], 0u, round == 0u) + below;
    state[headWord(seg, 2u)] = base;
    state[headWord(seg, 0u)] = select(state[headWord(seg, 0u)], 0u, round == 0u) | (pick << (24u - 8u * round));
    state[headWord(seg, 3u)] = eq;
    if (last) {
      let c = ctxLenOf(headIdx(q / NUM_KV_HEADS, seq.seqId, q % NUM_KV_HEADS));
      atomicAdd(&lessShared, chunksAtMost(base, c));
    }
  }
  if (!last) { return; }
  // Keys == T in flat order: head q takes min(its equal keys, what is left after heads < q).
  let left = take - workgroupUniformLoad(&lessShared);
  if (lid == 0u) { carryShared = 0u; }
  for (var q0 = 0u; q0 < heads; q0 += WG_SIZE) {
    let q = q0 + lid;
    var less = 0u;
    var equal = 0u;
    var c = 0u;
    var seg = 0u;
    if (q < heads) {
      seg = segOf(i, q, numSeqs);
      c = ctxLenOf(headIdx(q / NUM_KV_HEADS, seq.seqId, q % NUM_KV_HEADS));
      let base = state[headWord(seg, 2u)];
      less = chunksAtMost(base, c);
      equal = chunksAtMost(base + state[headWord(seg, 3u)], c) - less;
    }
    workgroupBarrier();
    gscan[lid] = equal;
    workgroupBarrier();
    for (var off = 1u; off < WG_SIZE; off <<= 1u) {
      var add = 0u;
      if (lid >= off) { add = gscan[lid - off]; }
      workgroupBarrier();
      gscan[lid] += add;
      workgroupBarrier();
    }
    let carry = workgroupUniformLoad(&carryShared);
    let ahead = carry + gscan[lid] - equal; // equal keys of heads before q
    let extra = select(min(equal, left - ahead), 0u, ahead >= left);
    if (q < heads) {
      let e = less + extra;
      var n = 0u;
      if (e != 0u) {
        let nb = (c + BLOCK_SIZE - 1u) / BLOCK_SIZE;
        n = (e - 1u) * BLOCK_SIZE + c - (nb - 1u) * BLOCK_SIZE;
      }
      result[1u + seg] = n;
      state[headWord(seg, 0u)] = 0u;
      state[headWord(seg, 1u)] = 0u;
      state[headWord(seg, 2u)] = n;
      state[headWord(seg, 4u)] = n;
      state[headWord(seg, 5u)] = select(0u, 1u, n != 0u);
    }
    workgroupBarrier();
    if (lid == WG_SIZE - 1u) { carryShared = carry + gscan[lid]; }
  }
}
