// prefill_metric_pool.wgsl — max-pool s_h of width poolWidth (odd; 7 by default: padding 3,
// stride 1, clipped at the ends; 1 = no pooling) along the head's logical key order, per query head; add the group sum (or max) to the metric
// (DESIGN.md §2.2; CONTRACTS.md "Metric accumulation").
// Sources: common/pool.wgsl, common/batch.wgsl, this file.
// Bindings (group 0):
//   4 headTables storage rw  (common/pool.wgsl)
//   5 slotMeta   storage rw  (common/pool.wgsl) — metrics updated in place
//   6 batch      uniform     args0 = (layer, numSeqs, poolWidth / 2, groupReduce); args1 = (_, scoresOffset, maxCtx, _);
//                            seqs[k] = (seqId, …); groupReduce: 0 sum over the r query heads, 1 max
//   7 work       storage r   array<f32> s_h [k, numQHeads, maxCtx] at scoresOffset
// Overrides: pool.wgsl's, GROUP_SIZE, WG_SIZE.
// Dispatch: (ceil(maxCtxInBatch / WG_SIZE), numSeqs · NUM_KV_HEADS); invocation = one KV.
// Invariant: one writer per slot. Roofline: poolWidth·r·4 B read (cached), 8 B read+written per KV.

override GROUP_SIZE: u32;
override WG_SIZE: u32;

@group(0) @binding(7) var<storage, read> work: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let k = wid.y / NUM_KV_HEADS;
  let kvHead = wid.y % NUM_KV_HEADS;
  if (k >= batch.args0.y) { return; }
  let hIdx = headIdx(batch.args0.x, batch.seqs[k].x, kvHead);
  let ctxLen = ctxLenOf(hIdx);
  let i = wid.x * WG_SIZE + lid;
  if (i >= ctxLen) { return; }
  let numQHeads = NUM_KV_HEADS * GROUP_SIZE;
  let half = batch.args0.z;
  let lo = max(i, half) - half;
  let hi = min(i + half, ctxLen - 1u);
  var add = 0.0;
  for (var g = 0u; g < GROUP_SIZE; g++) {
    let base = batch.args1.y + (k * numQHeads + kvHead * GROUP_SIZE + g) * batch.args1.z;
    var m = 0.0;
    for (var w = lo; w <= hi; w++) { m = max(m, work[base + w]); }
    add = select(add + m, max(add, m), batch.args0.w == 1u);
  }
  let slot = slotOf(hIdx, i);
  setMetric(slot, metricOf(slot) + add);
}
