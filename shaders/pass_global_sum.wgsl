// pass_global_sum.wgsl — first half of one round of the device pass's global select (docs/METHOD.md
// §2.4, §3; the threshold T of assembly/schedule.ts): per head, the inclusive scan of its
// histogram (pass_histogram.wgsl, phase 0), so that base + scan[d] KVs are ≤ the end of bin d, and
// the increments of G(d) = Σ_heads chunksAtMost(base + scan[d]) it adds, summed per sequence in
// gsum. Writes the scan back over the histogram (pass_rank_global.wgsl reads it) and clears the
// other hist region for the next round.
// Sources: common/pool.wgsl, common/batch.wgsl, common/pass_state.wgsl, this file.
// Bindings (group 0):
//   4 headTables storage rw  (common/pool.wgsl) — ctxLens read
//   6 batch      uniform     Args (numSeqs k, round); Seq (seqId, seqLen, budget, _)
//   7 state      storage r   array<u32> (common/pass_state.wgsl): base per head
//   8 hist       storage rw  array<u32> [2, NUM_LAYERS · k · NUM_KV_HEADS, 257]
//   9 gsum       storage rw  array<atomic<u32>> [k, 258]: increments per bin, G0, finite chunk keys
// Overrides: pool.wgsl's, WG_SIZE (= 256, one invocation per bin).
// Dispatch: NUM_LAYERS · k · NUM_KV_HEADS workgroups (2-D grid), one per pass head.
// Roofline: 257 words read, 514 written per head; atomics only where a head's chunk count changes.

override WG_SIZE: u32;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { numSeqs: u32, round: u32 }
struct Seq { seqId: u32, seqLen: u32, budget: u32, _pad0: u32 }

@group(0) @binding(7) var<storage, read> state: array<u32>;
@group(0) @binding(8) var<storage, read_write> hist: array<u32>;
@group(0) @binding(9) var<storage, read_write> gsum: array<atomic<u32>>;

var<workgroup> scan: array<u32, 256>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let numSeqs = batch.args.numSeqs;
  let round = batch.args.round;
  let numSegs = NUM_LAYERS * numSeqs * NUM_KV_HEADS;
  let seg = min(linearWorkgroup(wid, nwg), numSegs - 1u); // extra workgroups of the 2-D grid redo the last head's scan
  let valid = linearWorkgroup(wid, nwg) < numSegs;
  let region = round & 1u;
  let i = (seg / NUM_KV_HEADS) % numSeqs;
  let c = ctxLenOf(headIdx(seg / NUM_KV_HEADS / numSeqs, batch.seqs[i].seqId, seg % NUM_KV_HEADS));
  let h = hist[histWord(region, numSegs, seg, lid)];
  scan[lid] = h;
  workgroupBarrier();
  for (var off = 1u; off < PASS_BINS; off <<= 1u) {
    var add = 0u;
    if (lid >= off) { add = scan[lid - off]; }
    workgroupBarrier();
    scan[lid] += add;
    workgroupBarrier();
  }
  if (!valid) { return; }
  let base = select(state[headWord(seg, 2u)], 0u, round == 0u);
  let cum = scan[lid];
  let fNow = chunksAtMost(base + cum, c);
  let fBefore = chunksAtMost(base + cum - h, c);
  if (fNow != fBefore) { atomicAdd(&gsum[i * PASS_GSUM_WORDS + lid], fNow - fBefore); }
  hist[histWord(region, numSegs, seg, lid)] = cum;
  hist[histWord(region ^ 1u, numSegs, seg, lid)] = 0u;
  if (lid == 0u) {
    atomicAdd(&gsum[i * PASS_GSUM_WORDS + 256u], chunksAtMost(base, c));
    hist[histWord(region ^ 1u, numSegs, seg, PASS_BINS)] = 0u;
    if (round == 0u) {
      atomicAdd(&gsum[i * PASS_GSUM_WORDS + 257u], chunksAtMost(hist[histWord(region, numSegs, seg, PASS_BINS)], c));
      hist[histWord(region, numSegs, seg, PASS_BINS)] = 0u;
    }
  }
}
