// pass_moves.wgsl — the compaction moves of the device pass (docs/METHOD.md §2.5), exactly the list
// assembly/plan_moves.ts writes from the evicted indices: per head, survivors of the tail
// [newLen, ctxLen) walked from the top go to the holes (evicted KVs below newLen) smallest first,
// so the m-th hole (ascending) and the m-th tail survivor counted from the top form move
// moveOff + m, as (dstSlot, srcSlot). Hole ranks and survivor ranks come from a workgroup scan
// over the chunk plus the chunk counts before it (pass_tally.wgsl).
// Sources: common/pool.wgsl, common/batch.wgsl, common/pass_head.wgsl, common/pass_key.wgsl,
//   common/pass_state.wgsl, this file.
// Bindings (group 0):
//   4 headTables storage rw  (common/pool.wgsl)
//   5 slotMeta   storage rw  (common/pool.wgsl) — metrics and positions read
//   6 batch      uniform     Args (numSeqs k, chunksPerHead, protectedWindow, sinks, queryAvg); Seq (seqId, seqLen, budget, _)
//   7 state      storage r   array<u32> (common/pass_state.wgsl)
//   8 tally      storage r   array<u32> [NUM_LAYERS · k · NUM_KV_HEADS, chunksPerHead, 2]
//   9 moves      storage rw  array<u32> [numMoves, 2] (dstSlot, srcSlot), written
// Overrides: pool.wgsl's, WG_SIZE (power of two), ITEMS (≤ 32: consecutive KVs per invocation).
// Dispatch: NUM_LAYERS · k · NUM_KV_HEADS · chunksPerHead workgroups (2-D grid).
// Roofline: 12 B read per KV, 4 B written per hole and per tail survivor.

override WG_SIZE: u32;
override ITEMS: u32;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { numSeqs: u32, chunksPerHead: u32, protectedWindow: u32, sinks: u32, queryAvg: u32 }
struct Seq { seqId: u32, seqLen: u32, budget: u32, _pad0: u32 }

@group(0) @binding(7) var<storage, read> state: array<u32>;
@group(0) @binding(8) var<storage, read> tally: array<u32>;
@group(0) @binding(9) var<storage, read_write> moves: array<u32>;

// Per invocation (holes << 16) | tail survivors; a chunk holds < 2^16 KVs.
var<workgroup> scan: array<u32, WG_SIZE>;
var<workgroup> beforeShared: vec2u;

fn isEvicted(key: vec2u, seg: u32) -> bool {
  let hi = state[headWord(seg, 0u)];
  return state[headWord(seg, 5u)] != 0u && (key.x < hi || (key.x == hi && key.y <= state[headWord(seg, 1u)]));
}

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let a = batch.args;
  let w = linearWorkgroup(wid, nwg);
  let seg = w / a.chunksPerHead;
  let chunk = w % a.chunksPerHead;
  let numSegs = NUM_LAYERS * a.numSeqs * NUM_KV_HEADS;
  var begin = 0u;
  var end = 0u;
  var hIdx = 0u;
  var seqLen = 0u;
  var newLen = 0u;
  if (seg < numSegs && state[headWord(seg, 7u)] != 0u) {
    hIdx = passHeadIdx(seg, a.numSeqs);
    seqLen = batch.seqs[(seg / NUM_KV_HEADS) % a.numSeqs].seqLen;
    begin = chunk * WG_SIZE * ITEMS + lid * ITEMS;
    end = min(begin + ITEMS, ctxLenOf(hIdx));
    newLen = ctxLenOf(hIdx) - state[headWord(seg, 4u)];
  }
  if (lid == 0u) {
    var before = vec2u(0u);
    if (seg < numSegs) {
      for (var c = 0u; c < chunk; c++) {
        before += vec2u(tally[2u * (seg * a.chunksPerHead + c)], tally[2u * (seg * a.chunksPerHead + c) + 1u]);
      }
    }
    beforeShared = before;
  }
  var holeBits = 0u;
  var survBits = 0u;
  var mine = 0u;
  for (var i = begin; i < end; i++) {
    let ev = isEvicted(passKeyOf(slotOf(hIdx, i), seqLen, a.protectedWindow, a.sinks, a.queryAvg), seg);
    let bit = 1u << (i - begin);
    if (ev && i < newLen) { holeBits |= bit; mine += 1u << 16u; }
    if (!ev && i >= newLen) { survBits |= bit; mine += 1u; }
  }
  scan[lid] = mine;
  workgroupBarrier();
  for (var off = 1u; off < WG_SIZE; off <<= 1u) {
    var add = 0u;
    if (lid >= off) { add = scan[lid - off]; }
    workgroupBarrier();
    scan[lid] += add;
    workgroupBarrier();
  }
  if (holeBits == 0u && survBits == 0u) { return; }
  let before = beforeShared;
  let excl = scan[lid] - mine;
  let off = state[headWord(seg, 6u)];
  let count = state[headWord(seg, 7u)];
  var hole = before.x + (excl >> 16u);
  var surv = before.y + (excl & 0xffffu);
  for (var i = begin; i < end; i++) {
    let bit = 1u << (i - begin);
    if ((holeBits & bit) != 0u) {
      moves[2u * (off + hole)] = slotOf(hIdx, i);
      hole += 1u;
    }
    if ((survBits & bit) != 0u) {
      moves[2u * (off + count - 1u - surv) + 1u] = slotOf(hIdx, i);
      surv += 1u;
    }
  }
}
