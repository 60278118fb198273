// decode_metric.wgsl — add each KV's decode metric: the group sum (or max) of p (L1) or p² (L2), with p
// from the FINAL softmax max and sum (docs/METHOD.md §2.2; CONTRACTS.md "Metric accumulation").
// Runs after decode_reduce.wgsl; skipped entirely when metricMode = 0.
// Sources: common/pool.wgsl, common/batch.wgsl, this file.
// Bindings (group 0):
//   4 headTables storage rw  (common/pool.wgsl)
//   5 slotMeta   storage rw  (common/pool.wgsl) — metrics updated in place
//   6 batch      uniform     Args (layer, numSeqs, metricMode, maxCtx)
//                            Args, continued (scoresOffset, finalOffset, groupReduce, _); Seq (seqId, batchIdx, _, _)
//                            groupReduce: 0 sum over the r query heads, 1 max (an ablation)
//   7 scratch    storage r   array<f32> raw scores [B, NUM_KV_HEADS, quads, maxCtx, 4] and final (max, sum)
//                            (paged_attention_decode.wgsl)
// Overrides: pool.wgsl's, GROUP_SIZE, WG_SIZE.
// Dispatch: (ceil(maxCtxInBatch / WG_SIZE), numSeqs · NUM_KV_HEADS); one invocation per KV.
// Invariant: one writer per slot (slots of a head are distinct); p = e^(s − M) / L.
// Roofline: reads 16·quads + 8 B, writes 4 B per KV.

override GROUP_SIZE: u32;
override WG_SIZE: u32;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { layer: u32, numSeqs: u32, metricMode: u32, scoresStride: u32, scoresOffset: u32, finalOffset: u32, groupMax: u32 }
struct Seq { seqId: u32, qRow: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(7) var<storage, read> scratch: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let k = wid.y / NUM_KV_HEADS;
  let kvHead = wid.y % NUM_KV_HEADS;
  if (k >= batch.args.numSeqs) { return; }
  let i = wid.x * WG_SIZE + lid;
  let hIdx = headIdx(batch.args.layer, batch.seqs[k].seqId, kvHead);
  if (i >= ctxLenOf(hIdx)) { return; }
  let numQHeads = NUM_KV_HEADS * GROUP_SIZE;
  let qh0 = batch.seqs[k].qRow * numQHeads + kvHead * GROUP_SIZE;
  let quads = (GROUP_SIZE + 3u) / 4u;
  let scores = batch.args.scoresOffset + (batch.seqs[k].qRow * NUM_KV_HEADS + kvHead) * quads * batch.args.scoresStride * 4u + 4u * i;
  var add = 0.0;
  for (var g = 0u; g < GROUP_SIZE; g++) {
    let fin = batch.args.finalOffset + 2u * (qh0 + g);
    let p = exp(scratch[scores + (g / 4u) * batch.args.scoresStride * 4u + g % 4u] - scratch[fin]) / scratch[fin + 1u];
    let term = select(p, p * p, batch.args.metricMode == 2u);
    add = select(add + term, max(add, term), batch.args.groupMax == 1u);
  }
  let slot = slotOf(hIdx, i);
  setMetric(slot, metricOf(slot) + add);
}
