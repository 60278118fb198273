// prefill_metric_scores.wgsl — per query head, s_h[i] = Σ over the last obsWindow queries of
// the chunk (all of them when obsWindow = 0) of p (L1) or p² (L2), p = exp(q·k_i·scale − lse_q), causal by position
// (docs/METHOD.md §2.2; CONTRACTS.md "Metric accumulation"). prefill_metric_pool.wgsl pools and adds.
// Sources: common/pool.wgsl, common/batch.wgsl, common/kv_{f32,f16,q8,q4}.wgsl, this file.
// Bindings (group 0):
//   0..3 kvShard*   storage rw  (common/kv_*.wgsl)
//   4    headTables storage rw  (common/pool.wgsl)
//   5    slotMeta   storage rw  (common/pool.wgsl) — positions read
//   6    batch      uniform     Args (layer, numSeqs, obsWindow, metricMode)
//                               Args, continued (lseOffset, scoresOffset, maxCtx, _); seqs[k] as in prefill
//   7    queries    storage r   array<vec4f> [numTokens, numQHeads, HEAD_SIZE / 4]
//   8    work       storage rw  array<f32>: lse [numTokens, numQHeads] at lseOffset (read),
//                               s_h [k, numQHeads, maxCtx] at scoresOffset (written)
// Overrides: pool.wgsl's, HEAD_SIZE (≤ 128), BLOCKS_PER_SHARD, GROUP_SIZE, WG_SIZE.
// Dispatch: (ceil(maxCtxInBatch / WG_SIZE), numSeqs · numQHeads); invocation = one key of one
//   query head; it keeps its key in registers and loops over the window's queries.
// Roofline: d·(2|4) B per key and 4·d·obsWindow FLOPs per (key, query head).

override GROUP_SIZE: u32;
override WG_SIZE: u32;

const MAX_CHUNKS: u32 = 32u;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { layer: u32, numSeqs: u32, obsWindow: u32, metricMode: u32, lseOffset: u32, scoresOffset: u32, scoresStride: u32 }
struct Seq { seqId: u32, tokenStart: u32, numNew: u32, firstPos: u32 }

@group(0) @binding(7) var<storage, read> queries: array<vec4f>;
@group(0) @binding(8) var<storage, read_write> work: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let numQHeads = NUM_KV_HEADS * GROUP_SIZE;
  let k = wid.y / numQHeads;
  let qh = wid.y % numQHeads;
  if (k >= batch.args.numSeqs) { return; }
  let s = batch.seqs[k];
  let hIdx = headIdx(batch.args.layer, s.seqId, qh / GROUP_SIZE);
  let i = wid.x * WG_SIZE + lid;
  if (i >= ctxLenOf(hIdx)) { return; }
  let C = HEAD_SIZE / 4u;
  let slot = slotOf(hIdx, i);
  let pos = positionOf(slot);
  var key: array<vec4f, MAX_CHUNKS>;
  for (var c = 0u; c < C; c++) { key[c] = kvLoad4(slot, 0u, c); }
  let scale = inverseSqrt(f32(HEAD_SIZE));
  let first = select(s.numNew - min(s.numNew, batch.args.obsWindow), 0u, batch.args.obsWindow == 0u);
  var acc = 0.0;
  for (var t = first; t < s.numNew; t++) {
    if (pos > s.firstPos + t) { continue; }
    let row = (s.tokenStart + t) * numQHeads + qh;
    var sc = 0.0;
    for (var c = 0u; c < C; c++) { sc += dot(key[c], queries[row * C + c]); }
    let p = exp(sc * scale - work[batch.args.lseOffset + row]);
    acc += select(p, p * p, batch.args.metricMode == 2u);
  }
  work[batch.args.scoresOffset + (k * numQHeads + qh) * batch.args.scoresStride + i] = acc;
}
