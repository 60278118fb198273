// paged_attention_prefill.wgsl — causal paged attention of a prompt chunk against its heads'
// caches (docs/METHOD.md §2.1; CONTRACTS.md): query token t (position firstPos + t) sees a key iff
// key position ≤ query position. Tiled flash attention (online softmax, f32 accumulation) in which
// one workgroup serves ALL query heads of one KV head: each K/V tile is read once for the group.
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
// Overrides: pool.wgsl's, HEAD_SIZE (≤ 128, a multiple of 4), BLOCKS_PER_SHARD, GROUP_SIZE (≤ 64).
// Dispatch: numSeqs · NUM_KV_HEADS · maxTiles workgroups (2-D grid) of 256 = 16 × 16 lanes; a
//   workgroup = TILE_ROWS query rows (token, head of the group): the floor(64 / GROUP_SIZE) tokens
//   [tile · that, …) of one (seq, KV head), row = token · GROUP_SIZE + head. Tiles run last-first
//   (the longest causal rows start first).
// Design: keys advance TILE_KEYS at a time. S = Q·Kᵀ: the workgroup stages DIM_STEP dims of the
//   64 query rows (f32, pre-scaled) and of the 64 keys (dequantized to f32) in workgroup memory,
//   transposed, and lane (ty, tx) accumulates S[rows 4ty..4ty+3][keys 4tx..4tx+3] (16 FMAs per
//   2 vec4 loads). Causal mask by position; the row max over the tile is reduced through `red`;
//   P = exp(S − m) goes to pT; then O += P·V with V staged V_KEYS keys at a time: lane (ty, tx)
//   owns rows 4ty..4ty+3 × chunks tx, tx + 16 of d (32 FMAs per 3 vec4 loads). The lane keeps
//   the same 4 rows in both products, so m, l and the correction stay in registers; l is summed
//   over the 16 lanes of a row once, at the end. A key tile that no query of the tile can see is
//   skipped (found from the positions, so compressed caches with scrambled positions work).
// Invariants: a query that sees no key outputs 0 with lse = −FLT_MAX; keys past ctxLen are
//   masked (position 0xffffffff) and stage zeros.
// Roofline: per workgroup every visible key tile is read once for GROUP_SIZE heads:
//   2·d·(bytes per element)·keys per 64 rows; 4·d FLOPs per (query row, visible key), all f32 FMA.

override GROUP_SIZE: u32;

const TILE_ROWS: u32 = 64u;
const TILE_KEYS: u32 = 64u;
const DIM_STEP: u32 = 16u;
const V_KEYS: u32 = 16u;
const NEG_BIG: f32 = -3.402823e38;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { layer: u32, numSeqs: u32, maxTiles: u32, lseOffset: u32 }
struct Seq { seqId: u32, tokenStart: u32, numNew: u32, firstPos: u32 }

@group(0) @binding(7) var<storage, read> queries: array<vec4f>;
@group(0) @binding(8) var<storage, read_write> out: array<f32>;

// P of the tile, [key, row quad]: P of rows 4q..4q+3 for key at pT[pIdx(key, q)] (swizzled).
var<workgroup> pT: array<vec4f, 1024>;
// S step: Qᵀ [dim, row quad] at 0..255, Kᵀ [dim, key quad] at 256..511; P·V step: V [key, chunk].
var<workgroup> stage: array<vec4f, 512>;
// Per-lane row partials [ty · 16 + tx] (tile row max, final row sum).
var<workgroup> red: array<vec4f, 256>;
var<workgroup> slotW: array<u32, 64>;
var<workgroup> posW: array<u32, 64>;
var<workgroup> flags: array<u32, 2>;
var<workgroup> ctxShared: u32;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let numQHeads = NUM_KV_HEADS * GROUP_SIZE;
  let maxTiles = batch.args.maxTiles;
  let wg = linearWorkgroup(wid, nwg);
  let tileIdx = maxTiles - 1u - wg % maxTiles;
  let kvHead = (wg / maxTiles) % NUM_KV_HEADS;
  let k = wg / maxTiles / NUM_KV_HEADS;
  if (k >= batch.args.numSeqs) { return; }
  let s = batch.seqs[k];
  let tq = TILE_ROWS / GROUP_SIZE;
  let t0 = tileIdx * tq;
  if (t0 >= s.numNew) { return; }
  let hIdx = headIdx(batch.args.layer, s.seqId, kvHead);
  if (lid == 0u) {
    ctxShared = ctxLenOf(hIdx);
    flags[0] = 0u;
    flags[1] = 0u;
  }
  let ctxLen = workgroupUniformLoad(&ctxShared);
  let C = HEAD_SIZE / 4u;
  let tx = lid % 16u;
  let ty = lid / 16u;
  let nt = min(tq, s.numNew - t0);
  let nRows = nt * GROUP_SIZE;
  let maxQPos = s.firstPos + t0 + nt - 1u;
  let rowPos = vec4u(s.firstPos + t0) + (vec4u(4u * ty) + vec4u(0u, 1u, 2u, 3u)) / GROUP_SIZE;
  let scale = inverseSqrt(f32(HEAD_SIZE));
  // Staging roles: lane → (row or key lid % 64, chunk lid / 64 of the DIM_STEP dims): the
  // transposed stores of a subgroup hit consecutive words.
  let sr = lid % 64u;
  let sc4 = lid / 64u;
  let qRowBase = ((s.tokenStart + t0 + sr / GROUP_SIZE) * numQHeads + kvHead * GROUP_SIZE + sr % GROUP_SIZE) * C;
  var m = vec4f(NEG_BIG);
  var l = vec4f(0.0);
  // acc{i}{h}: row 4ty + i, chunk tx + 16h of d.
  var a00 = vec4f(0.0); var a01 = vec4f(0.0); var a10 = vec4f(0.0); var a11 = vec4f(0.0);
  var a20 = vec4f(0.0); var a21 = vec4f(0.0); var a30 = vec4f(0.0); var a31 = vec4f(0.0);
  var it = 0u;
  for (var kt = 0u; kt < ctxLen; kt += TILE_KEYS) {
    let par = it & 1u;
    it++;
    let nk = min(TILE_KEYS, ctxLen - kt);
    if (lid < TILE_KEYS) {
      var slot = 0u;
      var pos = 0xffffffffu;
      if (lid < nk) { slot = slotOf(hIdx, kt + lid); pos = positionOf(slot); }
      slotW[lid] = slot;
      posW[lid] = pos;
      if (pos <= maxQPos) { flags[par] = 1u; }
    }
    // flags[1 − par] was last read before the previous tile's final barrier.
    if (lid == 0u) { flags[1u - par] = 0u; }
    if (workgroupUniformLoad(&flags[par]) == 0u) {
      workgroupBarrier();
      continue;
    }
    // ── S = Q·Kᵀ for rows 4ty.. × keys 4tx.. (s{kk}: key 4tx + kk, a vec4 over the 4 rows)
    var s0 = vec4f(0.0); var s1 = vec4f(0.0); var s2 = vec4f(0.0); var s3 = vec4f(0.0);
    for (var c0 = 0u; c0 < C; c0 += DIM_STEP / 4u) {
      let ch = c0 + sc4;
      var qv = vec4f(0.0);
      var kv = vec4f(0.0);
      if (ch < C) {
        if (sr < nRows) { qv = queries[qRowBase + ch] * scale; }
        if (sr < nk) { kv = kvLoad4(slotW[sr], 0u, ch); }
      }
      let qi = (4u * sc4) * 16u + sr / 4u;
      let comp = sr % 4u;
      stage[qi][comp] = qv.x;
      stage[qi + 16u][comp] = qv.y;
      stage[qi + 32u][comp] = qv.z;
      stage[qi + 48u][comp] = qv.w;
      stage[256u + qi][comp] = kv.x;
      stage[256u + qi + 16u][comp] = kv.y;
      stage[256u + qi + 32u][comp] = kv.z;
      stage[256u + qi + 48u][comp] = kv.w;
      workgroupBarrier();
      for (var e = 0u; e < DIM_STEP; e++) {
        let a = stage[e * 16u + ty];
        let b = stage[256u + e * 16u + tx];
        s0 += b.x * a; s1 += b.y * a; s2 += b.z * a; s3 += b.w * a;
      }
      workgroupBarrier();
    }
    // ── mask, tile row max, P
    let v0 = vec4u(posW[4u * tx]) <= rowPos;
    let v1 = vec4u(posW[4u * tx + 1u]) <= rowPos;
    let v2 = vec4u(posW[4u * tx + 2u]) <= rowPos;
    let v3 = vec4u(posW[4u * tx + 3u]) <= rowPos;
    let neg = vec4f(NEG_BIG);
    s0 = select(neg, s0, v0); s1 = select(neg, s1, v1); s2 = select(neg, s2, v2); s3 = select(neg, s3, v3);
    red[ty * 16u + tx] = max(max(s0, s1), max(s2, s3));
    workgroupBarrier();
    var mt = m;
    for (var j = 0u; j < 16u; j++) { mt = max(mt, red[ty * 16u + j]); }
    let corr = exp(m - mt);
    m = mt;
    let zero = vec4f(0.0);
    let p0 = select(zero, exp(s0 - mt), v0);
    let p1 = select(zero, exp(s1 - mt), v1);
    let p2 = select(zero, exp(s2 - mt), v2);
    let p3 = select(zero, exp(s3 - mt), v3);
    l = l * corr + ((p0 + p1) + (p2 + p3));
    pT[pIdx(4u * tx, ty)] = p0;
    pT[pIdx(4u * tx + 1u, ty)] = p1;
    pT[pIdx(4u * tx + 2u, ty)] = p2;
    pT[pIdx(4u * tx + 3u, ty)] = p3;
    a00 *= corr.x; a01 *= corr.x; a10 *= corr.y; a11 *= corr.y;
    a20 *= corr.z; a21 *= corr.z; a30 *= corr.w; a31 *= corr.w;
    // ── O += P·V, V_KEYS keys at a time (the barrier opening the first step also publishes pT)
    for (var j0 = 0u; j0 < nk; j0 += V_KEYS) {
      for (var e = lid; e < V_KEYS * C; e += 256u) {
        let j = j0 + e / C;
        var v = vec4f(0.0);
        if (j < nk) { v = kvLoad4(slotW[j], 1u, e % C); }
        stage[e] = v;
      }
      workgroupBarrier();
      for (var j = 0u; j < V_KEYS; j++) {
        let pr = pT[pIdx(j0 + j, ty)];
        let w0 = stage[j * C + tx];
        let w1 = stage[j * C + tx + 16u];
        a00 += pr.x * w0; a01 += pr.x * w1; a10 += pr.y * w0; a11 += pr.y * w1;
        a20 += pr.z * w0; a21 += pr.z * w1; a30 += pr.w * w0; a31 += pr.w * w1;
      }
      workgroupBarrier();
    }
  }
  // Row sums over the 16 lanes of a row quad.
  red[ty * 16u + tx] = l;
  workgroupBarrier();
  var lsum = vec4f(0.0);
  for (var j = 0u; j < 16u; j++) { lsum += red[ty * 16u + j]; }
  let inv = select(vec4f(0.0), 1.0 / lsum, lsum > vec4f(0.0));
  writeRow(s, t0, kvHead, 4u * ty, nRows, tx, inv.x, a00, a01, m.x, lsum.x);
  writeRow(s, t0, kvHead, 4u * ty + 1u, nRows, tx, inv.y, a10, a11, m.y, lsum.y);
  writeRow(s, t0, kvHead, 4u * ty + 2u, nRows, tx, inv.z, a20, a21, m.z, lsum.z);
  writeRow(s, t0, kvHead, 4u * ty + 3u, nRows, tx, inv.w, a30, a31, m.w, lsum.w);
}

/** Slot of (key, row quad q) in pT: the quad index is xor-swizzled by key / 4, so the 16 lanes of a
 *  row quad, which write keys 4tx..4tx+3, spread over the banks; P·V reads broadcast. */
fn pIdx(key: u32, q: u32) -> u32 { return key * 16u + (q ^ ((key / 4u) % 16u)); }

/** Output chunks tx and tx + 16 of tile row `row` (and its lse, from lane tx = 0). */
fn writeRow(s: Seq, t0: u32, kvHead: u32, row: u32, nRows: u32, tx: u32, inv: f32, w0: vec4f, w1: vec4f,
            m: f32, lsum: f32) {
  if (row >= nRows) { return; }
  let numQHeads = NUM_KV_HEADS * GROUP_SIZE;
  let orow = (s.tokenStart + t0 + row / GROUP_SIZE) * numQHeads + kvHead * GROUP_SIZE + row % GROUP_SIZE;
  let C = HEAD_SIZE / 4u;
  if (tx < C) { store4(orow * HEAD_SIZE + 4u * tx, w0 * inv); }
  if (tx + 16u < C) { store4(orow * HEAD_SIZE + 4u * (tx + 16u), w1 * inv); }
  if (tx == 0u) { out[batch.args.lseOffset + orow] = select(NEG_BIG, m + log(lsum), lsum > 0.0); }
}

fn store4(i: u32, v: vec4f) {
  out[i] = v.x;
  out[i + 1u] = v.y;
  out[i + 2u] = v.z;
  out[i + 3u] = v.w;
}
