// pass_rank_head.wgsl — one round of each head's own select (docs/METHOD.md §3): the n-th smallest
// rank key (score bits, position) of a head with n > 0, 8 bits per round from the histograms of
// pass_histogram.wgsl (phase 1). Keys are distinct within a head (positions are), so after
// rounds 0..3+posDigits the prefix IS that key, and the head evicts exactly its keys ≤ it: its n
// lowest by (score, position), as the sorted order of the old pass took them. Clears the other
// hist region for the next round.
// Sources: common/pool.wgsl, common/batch.wgsl, common/pass_state.wgsl, this file.
// Bindings (group 0):
//   6 batch  uniform     Args (numSeqs k, round, posDigits); Seq unused
//   7 state  storage rw  array<u32> (common/pass_state.wgsl): prefixHi, prefixLo, rank r, active
//   8 hist   storage rw  array<u32> [2, NUM_LAYERS · k · NUM_KV_HEADS, 257]: region (4 + round) & 1 read
// Overrides: pool.wgsl's, WG_SIZE (= 256, one invocation per bin).
// Dispatch: NUM_LAYERS · k · NUM_KV_HEADS workgroups (2-D grid), one per pass head.
// Roofline: 257 words read and 257 cleared per head per round.

override WG_SIZE: u32;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { numSeqs: u32, round: u32, posDigits: u32 }
struct Seq { _pad0: u32, _pad1: u32, _pad2: u32, _pad3: u32 }

@group(0) @binding(7) var<storage, read_write> state: array<u32>;
@group(0) @binding(8) var<storage, read_write> hist: array<u32>;

var<workgroup> scan: array<u32, 256>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let a = batch.args;
  let numSegs = NUM_LAYERS * a.numSeqs * NUM_KV_HEADS;
  let w = linearWorkgroup(wid, nwg);
  let seg = min(w, numSegs - 1u);
  let region = (4u + a.round) & 1u;
  let h = hist[histWord(region, numSegs, seg, lid)];
  let isActive = state[headWord(seg, 5u)] != 0u;
  let r = state[headWord(seg, 2u)]; // 1-based rank among keys matching the prefix (read before any write)
  scan[lid] = h;
  workgroupBarrier();
  for (var off = 1u; off < PASS_BINS; off <<= 1u) {
    var add = 0u;
    if (lid >= off) { add = scan[lid - off]; }
    workgroupBarrier();
    scan[lid] += add;
    workgroupBarrier();
  }
  if (w >= numSegs) { return; }
  hist[histWord(region ^ 1u, numSegs, seg, lid)] = 0u;
  if (lid == 0u) { hist[histWord(region ^ 1u, numSegs, seg, PASS_BINS)] = 0u; }
  if (!isActive) { return; }
  let cum = scan[lid];
  if (cum < r || cum - h >= r) { return; } // the one bin that holds the r-th key
  state[headWord(seg, 2u)] = r - (cum - h);
  if (a.round < 4u) {
    state[headWord(seg, 0u)] |= lid << (24u - 8u * a.round);
  } else {
    state[headWord(seg, 1u)] |= lid << (8u * (a.posDigits - 1u - (a.round - 4u)));
  }
}
