// order_gather.wgsl — first step of the score ordering (docs/METHOD.md §2.4; CONTRACTS.md
// "Ordering and tie-breaks"): lay out every (layer, seq-of-pass, kvHead) head as one segment of
// segLen (a power of two) sort elements, key = (score bits, position), payload = logical index.
// Protected KVs (position ≥ seqLen − protectedWindow or < sinks) score +inf; padding sorts last.
// queryAvg = 1: score = metric / (seqLen − position), the number of queries that could see the KV.
// Sources: common/pool.wgsl, common/batch.wgsl, common/pass_head.wgsl, common/pass_key.wgsl, this file.
// Bindings (group 0):
//   4 headTables storage rw  (common/pool.wgsl)
//   5 slotMeta   storage rw  (common/pool.wgsl) — metrics and positions read
//   6 batch      uniform     Args (numSeqs k, segLen, protectedWindow, sinks, queryAvg); Seq (seqId, seqLen, _, _)
//   7 sortBuf    storage rw  array<vec4u> [numLayers, k, NUM_KV_HEADS, segLen] of
//                            (f32 bits of score, position, logicalIdx, 0); padding = (~0, ~0, ~0, 0)
// Overrides: pool.wgsl's, WG_SIZE.
// Dispatch: ceil(NUM_LAYERS · k · NUM_KV_HEADS · segLen / WG_SIZE) workgroups (2-D grid).
// Invariant: scores are ≥ 0, so u32 order of the f32 bits is the f32 order (+inf = 0x7f800000).
// Roofline: 12 B read (table, metric, position), 16 B written per element.

override WG_SIZE: u32;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { numSeqs: u32, segLen: u32, protectedWindow: u32, sinks: u32, queryAvg: u32 }
struct Seq { seqId: u32, seqLen: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(7) var<storage, read_write> sortBuf: array<vec4u>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let numSeqs = batch.args.numSeqs;
  let segLen = batch.args.segLen;
  let e = linearWorkgroup(wid, nwg) * WG_SIZE + lid;
  if (e >= NUM_LAYERS * numSeqs * NUM_KV_HEADS * segLen) { return; }
  let seg = e / segLen;
  let i = e % segLen;
  let seq = batch.seqs[(seg / NUM_KV_HEADS) % numSeqs];
  let hIdx = passHeadIdx(seg, numSeqs);
  if (i >= ctxLenOf(hIdx)) {
    sortBuf[e] = vec4u(0xffffffffu, 0xffffffffu, 0xffffffffu, 0u);
    return;
  }
  // (score bits, position): common/pass_key.wgsl, the one key every pass path ranks by.
  let key = passKeyOf(slotOf(hIdx, i), seq.seqLen, batch.args.protectedWindow, batch.args.sinks, batch.args.queryAvg);
  sortBuf[e] = vec4u(key.x, key.y, i, 0u);
}
