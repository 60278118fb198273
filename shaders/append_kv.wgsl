// append_kv.wgsl — write new keys (after RoPE) and values into their slots, set the position,
// reset the metric to 0 (docs/METHOD.md §2.1–2.2, CONTRACTS.md "Block pool").
// Sources: common/pool.wgsl, common/batch.wgsl, common/kv_{f32,f16}.wgsl, this file.
// Bindings (group 0):
//   0..3 kvShard*    storage rw  (common/kv_*.wgsl)
//   4    headTables  storage rw  array<i32>   (common/pool.wgsl) — ctxLens ALREADY include the new rows
//   5    slotMeta    storage rw  array<u32>   (common/pool.wgsl)
//   6    batch       uniform     Batch Args (layer, numSeqs, tokenBase, numTokens);
//                                Seq (seqId, tokenStart, numNew, firstPos), tokenStart global
//   7    newKeys     storage r   array<vec4f> [numTokensTotal, NUM_KV_HEADS, HEAD_SIZE / 4]
//   8    newValues   storage r   array<vec4f> [numTokensTotal, NUM_KV_HEADS, HEAD_SIZE / 4]
// Overrides: pool.wgsl's, HEAD_SIZE, BLOCKS_PER_SHARD, WG_SIZE.
// Dispatch: ceil(numTokens · NUM_KV_HEADS · HEAD_SIZE/4 / WG_SIZE) workgroups (2-D grid);
//   one invocation per (token, kvHead, chunk of 4 elements).
// Invariant: new row t of a sequence with numNew new rows goes to logical index
//   ctxLen − (numNew − t) of every KV head; its position is firstPos + t. Each slot has one writer.
// Roofline: reads 2·d·4 B and writes 2·d·(2|4) B + 8 B per (token, head); bandwidth-bound.

override WG_SIZE: u32;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { layer: u32, numSeqs: u32, tokenBase: u32, numTokens: u32 }
struct Seq { seqId: u32, tokenStart: u32, numNew: u32, firstPos: u32 }

@group(0) @binding(7) var<storage, read> newKeys: array<vec4f>;
@group(0) @binding(8) var<storage, read> newValues: array<vec4f>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let layer = batch.args.layer;
  let numSeqs = batch.args.numSeqs;
  let tokenBase = batch.args.tokenBase;
  let numTokens = batch.args.numTokens;
  let chunks = kvChunksPerHead();
  let item = linearWorkgroup(wid, nwg) * WG_SIZE + lid;
  if (item >= numTokens * NUM_KV_HEADS * chunks) { return; }
  let token = tokenBase + item / (NUM_KV_HEADS * chunks);
  let kvHead = (item / chunks) % NUM_KV_HEADS;
  let c = item % chunks;
  for (var k = 0u; k < numSeqs; k++) {
    let s = batch.seqs[k];
    if (token < s.tokenStart || token >= s.tokenStart + s.numNew) { continue; }
    let t = token - s.tokenStart;
    let hIdx = headIdx(layer, s.seqId, kvHead);
    let slot = slotOf(hIdx, ctxLenOf(hIdx) - (s.numNew - t));
    let src = (token * NUM_KV_HEADS + kvHead) * chunks + c;
    kvStore4(slot, 0u, c, newKeys[src]);
    kvStore4(slot, 1u, c, newValues[src]);
    if (c == 0u) {
      setMetric(slot, 0.0);
      setPosition(slot, s.firstPos + t);
    }
    return;
  }
}
