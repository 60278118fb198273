// paged_attention_prefill.wgsl — causal paged attention of a prompt chunk against its heads'
// caches (docs/METHOD.md §2.1; CONTRACTS.md): query token t (position firstPos + t) sees a key iff
// key position ≤ query position. Flash-style online softmax: memory is linear in the prompt.
// Also writes each query's log-sum-exp for prefill_metric_scores.wgsl.
// Sources: common/pool.wgsl, common/batch.wgsl, common/kv_{f32,f16,q8,q4}.wgsl, this file.
// Bindings (group 0):
//   0..3 kvShard*   storage rw  (common/kv_*.wgsl)
//   4    headTables storage rw  (common/pool.wgsl) — ctxLens include the chunk's own rows (append first)
//   5    slotMeta   storage rw  (common/pool.wgsl) — positions read
//   6    batch      uniform     Args (layer, numSeqs, maxTiles, lseOffset)
//                               Seq (seqId, tokenStart, numNew, firstPos), tokenStart global
//   7    queries    storage r   array<vec4f> [numTokens, NUM_KV_HEADS·GROUP_SIZE, HEAD_SIZE / 4]
//   8    out        storage rw  array<f32>: [0, numTokens·numQHeads·d) attention output
//                               [numTokens, numQHeads, d]; at lseOffset, lse [numTokens, numQHeads]
// Overrides: pool.wgsl's, HEAD_SIZE (≤ 128: one query and its accumulator live in registers),
//   BLOCKS_PER_SHARD, GROUP_SIZE, WG_SIZE.
// Dispatch: numSeqs · numQHeads · maxTiles workgroups (2-D grid); a workgroup = WG_SIZE
//   consecutive query tokens of one (seq, query head); invocation = one query token.
// Invariants: keys are staged TILE_KEYS at a time in workgroup memory (K, then V in the same
//   tile); a query that sees no key outputs 0 with lse = −FLT_MAX.
// Roofline: every key of the head is read once per query tile: 2·d·(2|4)·ctxLen·numTiles B,
//   4·d FLOPs per (query, key). First version: no GQA sharing, no skipping of fully masked tiles.

override GROUP_SIZE: u32;
override WG_SIZE: u32;

const TILE_KEYS: u32 = 16u;
const MAX_CHUNKS: u32 = 32u; // HEAD_SIZE ≤ 128
const NEG_BIG: f32 = -3.402823e38;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { layer: u32, numSeqs: u32, maxTiles: u32, lseOffset: u32 }
struct Seq { seqId: u32, tokenStart: u32, numNew: u32, firstPos: u32 }

@group(0) @binding(7) var<storage, read> queries: array<vec4f>;
@group(0) @binding(8) var<storage, read_write> out: array<f32>;

var<workgroup> tile: array<vec4f, TILE_KEYS * HEAD_SIZE / 4u>;
var<workgroup> slotTile: array<u32, TILE_KEYS>;
var<workgroup> posTile: array<u32, TILE_KEYS>;
var<workgroup> ctxShared: u32;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let numQHeads = NUM_KV_HEADS * GROUP_SIZE;
  let maxTiles = batch.args.maxTiles;
  let wg = linearWorkgroup(wid, nwg);
  let tileIdx = wg % maxTiles;
  let qh = (wg / maxTiles) % numQHeads;
  let k = wg / maxTiles / numQHeads;
  if (k >= batch.args.numSeqs) { return; }
  let s = batch.seqs[k];
  if (tileIdx * WG_SIZE >= s.numNew) { return; }
  let hIdx = headIdx(batch.args.layer, s.seqId, qh / GROUP_SIZE);
  if (lid == 0u) { ctxShared = ctxLenOf(hIdx); }
  let ctxLen = workgroupUniformLoad(&ctxShared);
  let C = HEAD_SIZE / 4u;
  let t = tileIdx * WG_SIZE + lid;
  let isQuery = t < s.numNew;
  let token = s.tokenStart + min(t, s.numNew - 1u);
  let qPos = s.firstPos + t;
  let scale = inverseSqrt(f32(HEAD_SIZE));
  var q: array<vec4f, MAX_CHUNKS>;
  var acc: array<vec4f, MAX_CHUNKS>;
  for (var c = 0u; c < C; c++) { q[c] = queries[(token * numQHeads + qh) * C + c] * scale; }
  var m = NEG_BIG;
  var l = 0.0;
  var p: array<f32, TILE_KEYS>;
  for (var kt = 0u; kt < ctxLen; kt += TILE_KEYS) {
    let nk = min(TILE_KEYS, ctxLen - kt);
    if (lid < nk) {
      let slot = slotOf(hIdx, kt + lid);
      slotTile[lid] = slot;
      posTile[lid] = positionOf(slot);
    }
    workgroupBarrier();
    for (var e = lid; e < nk * C; e += WG_SIZE) { tile[e] = kvLoad4(slotTile[e / C], 0u, e % C); }
    workgroupBarrier();
    var mt = m;
    for (var j = 0u; j < nk; j++) {
      var sc = NEG_BIG;
      if (posTile[j] <= qPos) {
        sc = 0.0;
        for (var c = 0u; c < C; c++) { sc += dot(q[c], tile[j * C + c]); }
        mt = max(mt, sc);
      }
      p[j] = sc;
    }
    let corr = exp(m - mt);
    l *= corr;
    for (var c = 0u; c < C; c++) { acc[c] *= corr; }
    for (var j = 0u; j < nk; j++) {
      p[j] = select(0.0, exp(p[j] - mt), posTile[j] <= qPos);
      l += p[j];
    }
    m = mt;
    workgroupBarrier();
    for (var e = lid; e < nk * C; e += WG_SIZE) { tile[e] = kvLoad4(slotTile[e / C], 1u, e % C); }
    workgroupBarrier();
    for (var j = 0u; j < nk; j++) {
      for (var c = 0u; c < C; c++) { acc[c] += p[j] * tile[j * C + c]; }
    }
    workgroupBarrier();
  }
  if (!isQuery) { return; }
  let row = token * numQHeads + qh;
  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var c = 0u; c < C; c++) {
    let v = acc[c] * inv;
    out[row * HEAD_SIZE + 4u * c] = v.x;
    out[row * HEAD_SIZE + 4u * c + 1u] = v.y;
    out[row * HEAD_SIZE + 4u * c + 2u] = v.z;
    out[row * HEAD_SIZE + 4u * c + 3u] = v.w;
  }
  out[batch.args.lseOffset + row] = select(NEG_BIG, m + log(l), l > 0.0);
}
