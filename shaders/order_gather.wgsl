// order_gather.wgsl — first step of the score ordering (docs/METHOD.md §2.4; CONTRACTS.md
// "Ordering and tie-breaks"): lay out every (layer, seq-of-pass, kvHead) head as one segment of
// segLen (a power of two) sort elements, key = (score bits, position), payload = logical index.
// Protected KVs (position ≥ seqLen − protectedWindow or < sinks) score +inf; padding sorts last.
// queryAvg = 1: score = metric / (seqLen − position), the number of queries that could see the KV.
// valueNorm = 1: score ×= ‖v‖₂ of the KV's stored value (value-aware ranking; lane j sums
// v[4c + j]² over c, then (s0 + s1) + (s2 + s3), then sqrt — the CPU backend's order).
// Sources: common/pool.wgsl, common/batch.wgsl, common/kv_<dtype>.wgsl, common/pass_head.wgsl, common/pass_key.wgsl, this file.
// Bindings (group 0):
//   0..3 kvShard0..3 storage rw (common/kv_<dtype>.wgsl) — values read only with valueNorm = 1
//   4 headTables storage rw  (common/pool.wgsl)
//   5 slotMeta   storage rw  (common/pool.wgsl) — metrics and positions read
//   6 batch      uniform     Args (numSeqs k, segLen, protectedWindow, sinks, queryAvg, valueNorm); Seq (seqId, seqLen, _, _)
//   7 sortBuf    storage rw  array<vec4u> [numLayers, k, NUM_KV_HEADS, segLen] of
//                            (f32 bits of score, position, logicalIdx, 0); padding = (~0, ~0, ~0, 0)
// Overrides: pool.wgsl's, the kv include's, WG_SIZE.
// Dispatch: ceil(NUM_LAYERS · k · NUM_KV_HEADS · segLen / WG_SIZE) workgroups (2-D grid).
// Invariant: scores are ≥ 0, so u32 order of the f32 bits is the f32 order (+inf = 0x7f800000).
// Roofline: 12 B read (table, metric, position), 16 B written per element; valueNorm adds one
// stored value row (4·d B in f32, 2·d in f16, a q8/q4 record).

override WG_SIZE: u32;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { numSeqs: u32, segLen: u32, protectedWindow: u32, sinks: u32, queryAvg: u32, valueNorm: u32 }
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
  // (score bits, position): common/pass_key.wgsl, the one key every pass path ranks by; the value
  // norm (sorted path only: the device pass runs without it, src/cache.ts) scales unprotected scores.
  let slot = slotOf(hIdx, i);
  var key = passKeyOf(slot, seq.seqLen, batch.args.protectedWindow, batch.args.sinks, batch.args.queryAvg);
  if (batch.args.valueNorm == 1u && key.x != 0x7f800000u) { key.x = bitcast<u32>(bitcast<f32>(key.x) * valueNormOf(slot)); }
  sortBuf[e] = vec4u(key.x, key.y, i, 0u);
}

/** ‖v‖₂ of the value at `slot`, summed in the CPU backend's order (header). */
fn valueNormOf(slot: u32) -> f32 {
  var acc = vec4f(0.0);
  for (var c = 0u; c < HEAD_SIZE / 4u; c++) {
    let x = kvLoad4(slot, 1u, c);
    acc = acc + x * x;
  }
  return sqrt((acc.x + acc.y) + (acc.z + acc.w));
}
