// pass_tally.wgsl — per chunk of each head after its select (docs/METHOD.md §2.5, §3): how many of
// its KVs are holes (evicted, below newLen = ctxLen − n) and how many are survivors in the tail
// [newLen, ctxLen) — per head the two totals are equal: they are the head's moves.
// Evicted iff n > 0 and key ≤ (prefixHi, prefixLo), the head's n-th key (pass_rank_head.wgsl).
// Sources: common/pool.wgsl, common/batch.wgsl, common/pass_head.wgsl, common/pass_key.wgsl,
//   common/pass_state.wgsl, this file.
// Bindings (group 0):
//   4 headTables storage rw  (common/pool.wgsl)
//   5 slotMeta   storage rw  (common/pool.wgsl) — metrics and positions read
//   6 batch      uniform     Args (numSeqs k, chunksPerHead, protectedWindow, sinks, queryAvg); Seq (seqId, seqLen, budget, _)
//   7 state      storage r   array<u32> (common/pass_state.wgsl)
//   8 tally      storage rw  array<u32> [NUM_LAYERS · k · NUM_KV_HEADS, chunksPerHead, 2] (holes, tail survivors)
// Overrides: pool.wgsl's, WG_SIZE, ITEMS.
// Dispatch: NUM_LAYERS · k · NUM_KV_HEADS · chunksPerHead workgroups (2-D grid).
// Roofline: 12 B read per KV, 8 B written per chunk.

override WG_SIZE: u32;
override ITEMS: u32;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { numSeqs: u32, chunksPerHead: u32, protectedWindow: u32, sinks: u32, queryAvg: u32 }
struct Seq { seqId: u32, seqLen: u32, budget: u32, _pad0: u32 }

@group(0) @binding(7) var<storage, read> state: array<u32>;
@group(0) @binding(8) var<storage, read_write> tally: array<u32>;

var<workgroup> holes: atomic<u32>;
var<workgroup> survivors: atomic<u32>;

/** Whether a key is among its head's n evicted ones (n > 0: active). */
fn isEvicted(key: vec2u, seg: u32) -> bool {
  let hi = state[headWord(seg, 0u)];
  return state[headWord(seg, 5u)] != 0u && (key.x < hi || (key.x == hi && key.y <= state[headWord(seg, 1u)]));
}

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let a = batch.args;
  if (lid == 0u) { atomicStore(&holes, 0u); atomicStore(&survivors, 0u); }
  workgroupBarrier();
  let w = linearWorkgroup(wid, nwg);
  let seg = w / a.chunksPerHead;
  let numSegs = NUM_LAYERS * a.numSeqs * NUM_KV_HEADS;
  var begin = 0u;
  var end = 0u;
  var hIdx = 0u;
  var seqLen = 0u;
  var newLen = 0u;
  if (seg < numSegs) {
    hIdx = passHeadIdx(seg, a.numSeqs);
    seqLen = batch.seqs[(seg / NUM_KV_HEADS) % a.numSeqs].seqLen;
    begin = (w % a.chunksPerHead) * WG_SIZE * ITEMS;
    end = min(begin + WG_SIZE * ITEMS, ctxLenOf(hIdx));
    newLen = ctxLenOf(hIdx) - state[headWord(seg, 4u)];
  }
  var h = 0u;
  var s = 0u;
  for (var i = begin + lid; i < end; i += WG_SIZE) {
    let ev = isEvicted(passKeyOf(slotOf(hIdx, i), seqLen, a.protectedWindow, a.sinks, a.queryAvg), seg);
    if (ev && i < newLen) { h += 1u; }
    if (!ev && i >= newLen) { s += 1u; }
  }
  if (h != 0u) { atomicAdd(&holes, h); }
  if (s != 0u) { atomicAdd(&survivors, s); }
  workgroupBarrier();
  if (seg >= numSegs || lid != 0u) { return; }
  tally[2u * w] = atomicLoad(&holes);
  tally[2u * w + 1u] = atomicLoad(&survivors);
}
