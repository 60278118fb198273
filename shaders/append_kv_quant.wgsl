// append_kv_quant.wgsl — append_kv.wgsl for q8/q4 storage (docs/QUANTIZATION.md): write new keys
// (after RoPE) and values into their slots as codes with per-token group scales, set the
// position, reset the metric to 0. A group's scale needs all of its elements, so one invocation
// owns one (token, kvHead, group of 32 channels) and quantizes its key and its value group.
// Sources: common/pool.wgsl, common/batch.wgsl, common/kv_{q8,q4}.wgsl, this file.
// Bindings (group 0): as append_kv.wgsl
//   0..3 kvShard*    storage rw  (common/kv_q*.wgsl)
//   4    headTables  storage rw  array<i32>   (common/pool.wgsl) — ctxLens ALREADY include the new rows
//   5    slotMeta    storage rw  array<u32>   (common/pool.wgsl)
//   6    batch       uniform     Batch Args (layer, numSeqs, tokenBase, numTokens);
//                                Seq (seqId, tokenStart, numNew, firstPos), tokenStart global
//   7    newKeys     storage r   array<vec4f> [numTokensTotal, NUM_KV_HEADS, HEAD_SIZE / 4]
//   8    newValues   storage r   array<vec4f> [numTokensTotal, NUM_KV_HEADS, HEAD_SIZE / 4]
// Overrides: pool.wgsl's, HEAD_SIZE, BLOCKS_PER_SHARD, RECORD_WORDS, WG_SIZE.
// Dispatch: ceil(numTokens · NUM_KV_HEADS · ceil(HEAD_SIZE / 32) / WG_SIZE) workgroups (2-D grid).
// Invariant: as append_kv.wgsl (new row t → logical index ctxLen − (numNew − t)); each record
//   word has one writer, so the slot's other groups are never read or rewritten.
// Roofline: reads 2·d·4 B and writes 2·blockBytes / b + 8 B per (token, head); ≈ 10 FLOPs per
//   element (range; the code's guess and the 3–4 levels of its walk, common/kv_q*.wgsl kvCode):
//   bandwidth-bound.

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
  let groups = kvGroupsPerHead();
  let item = linearWorkgroup(wid, nwg) * WG_SIZE + lid;
  if (item >= numTokens * NUM_KV_HEADS * groups) { return; }
  let token = tokenBase + item / (NUM_KV_HEADS * groups);
  let kvHead = (item / groups) % NUM_KV_HEADS;
  let g = item % groups;
  let c0 = g * (QUANT_GROUP / 4u);
  let n = min(QUANT_GROUP / 4u, kvChunksPerHead() - c0);
  for (var k = 0u; k < numSeqs; k++) {
    let s = batch.seqs[k];
    if (token < s.tokenStart || token >= s.tokenStart + s.numNew) { continue; }
    let t = token - s.tokenStart;
    let hIdx = headIdx(layer, s.seqId, kvHead);
    let slot = slotOf(hIdx, ctxLenOf(hIdx) - (s.numNew - t));
    let src = (token * NUM_KV_HEADS + kvHead) * kvChunksPerHead() + c0;
    var keys: array<vec4f, 8>;
    var values: array<vec4f, 8>;
    for (var j = 0u; j < n; j++) {
      keys[j] = newKeys[src + j];
      values[j] = newValues[src + j];
    }
    kvStoreGroup(slot, 0u, g, keys, n);
    kvStoreGroup(slot, 1u, g, values, n);
    if (g == 0u) {
      setMetric(slot, 0.0);
      setPosition(slot, s.firstPos + t);
    }
    return;
  }
}
