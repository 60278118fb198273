// pass_histogram.wgsl — one round of the device pass's radix selects (docs/METHOD.md §3): for each
// pass head, a 256-bin histogram of digit `round` of the rank key (common/pass_key.wgsl) over the
// head's KVs whose higher digits equal the head's prefix so far (common/pass_state.wgsl).
// phase 0 (the global select of T, rounds 0..3) counts every head, and in round 0 also the head's
// finite keys (bin 256); phase 1 (each head's n-th key, rounds 0..3+posDigits) only heads with n > 0.
// Sources: common/pool.wgsl, common/batch.wgsl, common/pass_head.wgsl, common/pass_key.wgsl,
//   common/pass_state.wgsl, this file.
// Bindings (group 0):
//   4 headTables storage rw  (common/pool.wgsl)
//   5 slotMeta   storage rw  (common/pool.wgsl) — metrics and positions read
//   6 batch      uniform     Args (numSeqs k, phase, round, posDigits, chunksPerHead, protectedWindow,
//                            sinks, queryAvg); Seq (seqId, seqLen, budget, _)
//   7 state      storage r   array<u32> (common/pass_state.wgsl)
//   8 hist       storage rw  array<atomic<u32>> [2, NUM_LAYERS · k · NUM_KV_HEADS, 257]: region
//                            (4·phase + round) & 1 added to (common/pass_state.wgsl)
// Overrides: pool.wgsl's, WG_SIZE, ITEMS (KVs per invocation: a chunk is WG_SIZE · ITEMS KVs).
// Dispatch: NUM_LAYERS · k · NUM_KV_HEADS · chunksPerHead workgroups (2-D grid), one per chunk.
// Invariant: each invocation counts runs of equal digits before touching workgroup memory, so a
//   head of equal scores costs one atomic per invocation, not one per KV.
// Roofline: 12 B read per KV (table entry, metric, position); ≤ 257 atomics out per workgroup.

override WG_SIZE: u32;
override ITEMS: u32;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { numSeqs: u32, phase: u32, round: u32, posDigits: u32, chunksPerHead: u32, protectedWindow: u32, sinks: u32, queryAvg: u32 }
struct Seq { seqId: u32, seqLen: u32, budget: u32, _pad0: u32 }

@group(0) @binding(7) var<storage, read> state: array<u32>;
@group(0) @binding(8) var<storage, read_write> hist: array<atomic<u32>>;

var<workgroup> localHist: array<atomic<u32>, 257>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let a = batch.args;
  for (var j = lid; j < PASS_HIST_STRIDE; j += WG_SIZE) { atomicStore(&localHist[j], 0u); }
  workgroupBarrier();
  let w = linearWorkgroup(wid, nwg);
  let seg = w / a.chunksPerHead;
  let numSegs = NUM_LAYERS * a.numSeqs * NUM_KV_HEADS;
  var end = 0u;
  var begin = 0u;
  var hIdx = 0u;
  var seqLen = 0u;
  var prefixHi = 0u;
  var prefixLo = 0u;
  if (seg < numSegs && (a.phase == 0u || state[headWord(seg, 5u)] != 0u)) {
    hIdx = passHeadIdx(seg, a.numSeqs);
    seqLen = batch.seqs[(seg / NUM_KV_HEADS) % a.numSeqs].seqLen;
    begin = (w % a.chunksPerHead) * WG_SIZE * ITEMS;
    end = min(begin + WG_SIZE * ITEMS, ctxLenOf(hIdx));
    prefixHi = state[headWord(seg, 0u)];
    prefixLo = state[headWord(seg, 1u)];
  }
  let countFinite = a.phase == 0u && a.round == 0u;
  var finite = 0u;
  var runBin = 0xffffffffu;
  var run = 0u;
  for (var i = begin + lid; i < end; i += WG_SIZE) {
    let key = passKeyOf(slotOf(hIdx, i), seqLen, a.protectedWindow, a.sinks, a.queryAvg);
    if (countFinite && key.x < PASS_INF_BITS) { finite += 1u; }
    if (!keyMatches(key, prefixHi, prefixLo, a.round, a.posDigits)) { continue; }
    let bin = keyDigit(key, a.round, a.posDigits);
    if (bin == runBin) {
      run += 1u;
    } else {
      if (run != 0u) { atomicAdd(&localHist[runBin], run); }
      runBin = bin;
      run = 1u;
    }
  }
  if (run != 0u) { atomicAdd(&localHist[runBin], run); }
  if (finite != 0u) { atomicAdd(&localHist[PASS_BINS], finite); }
  workgroupBarrier();
  if (seg >= numSegs) { return; }
  for (var j = lid; j < PASS_HIST_STRIDE; j += WG_SIZE) {
    let v = atomicLoad(&localHist[j]);
    if (v != 0u) { atomicAdd(&hist[histWord((4u * a.phase + a.round) & 1u, numSegs, seg, j)], v); }
  }
}
