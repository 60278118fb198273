// prefill_metric_pool.wgsl — max-pool s_h of width poolWidth (odd; 7 by default: padding 3,
// stride 1, clipped at the ends; 1 = no pooling) along the head's logical key order, per query head; add the group sum (or max) to the metric
// (docs/METHOD.md §2.2; CONTRACTS.md "Metric accumulation").
// Sources: common/pool.wgsl, common/batch.wgsl, this file.
// Bindings (group 0):
//   4 headTables storage rw  (common/pool.wgsl)
//   5 slotMeta   storage rw  (common/pool.wgsl) — metrics updated in place
//   6 batch      uniform     Args (layer, numSeqs, poolWidth / 2, groupReduce); Args, continued (_, scoresOffset, maxCtx, _);
//                            Seq (seqId, …); groupReduce: 0 sum over the r query heads, 1 max
//   7 work       storage r   array<f32> s_h [k, numQHeads, maxCtx] at scoresOffset
// Overrides: pool.wgsl's, GROUP_SIZE, WG_SIZE.
// Dispatch: (ceil(maxCtxInBatch / WG_SIZE), numSeqs · NUM_KV_HEADS); invocation = one KV.
// Invariant: one writer per slot. Roofline: poolWidth·r·4 B read (cached), 8 B read+written per KV.

override GROUP_SIZE: u32;
override WG_SIZE: u32;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { layer: u32, numSeqs: u32, poolHalf: u32, groupMax: u32, scoresOffset: u32, scoresStride: u32 }
struct Seq { seqId: u32, tokenStart: u32, numNew: u32, firstPos: u32 }

@group(0) @binding(7) var<storage, read> work: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let k = wid.y / NUM_KV_HEADS;
  let kvHead = wid.y % NUM_KV_HEADS;
  if (k >= batch.args.numSeqs) { return; }
  let hIdx = headIdx(batch.args.layer, batch.seqs[k].seqId, kvHead);
  let ctxLen = ctxLenOf(hIdx);
  let i = wid.x * WG_SIZE + lid;
  if (i >= ctxLen) { return; }
  let numQHeads = NUM_KV_HEADS * GROUP_SIZE;
  let half = batch.args.poolHalf;
  let lo = max(i, half) - half;
  let hi = min(i + half, ctxLen - 1u);
  var add = 0.0;
  for (var g = 0u; g < GROUP_SIZE; g++) {
    let base = batch.args.scoresOffset + (k * numQHeads + kvHead * GROUP_SIZE + g) * batch.args.scoresStride;
    var m = 0.0;
    for (var w = lo; w <= hi; w++) { m = max(m, work[base + w]); }
    add = select(add + m, max(add, m), batch.args.groupMax == 1u);
  }
  let slot = slotOf(hIdx, i);
  setMetric(slot, metricOf(slot) + add);
}
