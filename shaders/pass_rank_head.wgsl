// pass_rank_head.wgsl — one round of each head's own select (docs/METHOD.md §3): the n-th smallest
// rank key (score bits, position) of a head with n > 0, 8 bits per round from the histograms of
// pass_histogram.wgsl (phase 1). Keys are distinct within a head (positions are), so after
// rounds 0..3+posDigits the prefix IS that key, and the head evicts exactly its keys ≤ it: its n
// lowest by (score, position), as the sorted order of the old pass took them.
// Sources: common/pool.wgsl, common/batch.wgsl, common/pass_state.wgsl, this file.
// Bindings (group 0):
//   6 batch  uniform     Args (numSeqs k, round, posDigits); Seq unused
//   7 state  storage rw  array<u32> (common/pass_state.wgsl): prefixHi, prefixLo, rank r, active
//   8 hist   storage rw  array<u32> [NUM_LAYERS · k · NUM_KV_HEADS, 257], read and zeroed
// Overrides: pool.wgsl's, WG_SIZE.
// Dispatch: ceil(NUM_LAYERS · k · NUM_KV_HEADS / WG_SIZE) workgroups, one invocation per head.
// Roofline: ≤ 2 · 256 words per active head per round.

override WG_SIZE: u32;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { numSeqs: u32, round: u32, posDigits: u32 }
struct Seq { _pad0: u32, _pad1: u32, _pad2: u32, _pad3: u32 }

@group(0) @binding(7) var<storage, read_write> state: array<u32>;
@group(0) @binding(8) var<storage, read_write> hist: array<u32>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let a = batch.args;
  let seg = gid.x;
  if (seg >= NUM_LAYERS * a.numSeqs * NUM_KV_HEADS || state[headWord(seg, 5u)] == 0u) { return; }
  let r = state[headWord(seg, 2u)]; // 1-based rank among keys matching the prefix
  var cum = 0u;
  var pick = PASS_BINS - 1u;
  for (var d = 0u; d < PASS_BINS; d++) {
    let h = hist[seg * PASS_HIST_STRIDE + d];
    if (cum + h >= r) { pick = d; break; }
    cum += h;
  }
  for (var d = 0u; d < PASS_BINS; d++) { hist[seg * PASS_HIST_STRIDE + d] = 0u; }
  state[headWord(seg, 2u)] = r - cum;
  if (a.round < 4u) {
    state[headWord(seg, 0u)] |= pick << (24u - 8u * a.round);
  } else {
    state[headWord(seg, 1u)] |= pick << (8u * (a.posDigits - 1u - (a.round - 4u)));
  }
}
