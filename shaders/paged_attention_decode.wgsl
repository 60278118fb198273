// paged_attention_decode.wgsl — split-K (flash-decoding) partials of paged decode attention
// (docs/METHOD.md §2.1, §3; CONTRACTS.md). One query per (sequence, query head); every KV head reads
// its OWN block table and ctxLen; the query heads of one quad of a group share each K/V load.
// The portable kernel: where the `subgroups` feature fits a key's lanes, the host runs
// paged_attention_decode_subgroup.wgsl instead (same contract; 2x faster on an H200).
// Sources: common/pool.wgsl, common/batch.wgsl, common/kv_{f32,f16,q8,q4}.wgsl, common/decode_split.wgsl,
//   this file.
// Bindings (group 0):
//   0..3 kvShard*   storage rw  (common/kv_*.wgsl)
//   4    headTables storage rw  (common/pool.wgsl)
//   6    batch      uniform     Args (layer, numSeqs, splitKeys, maxSplits)
//                               Args, continued (metricMode, scoresOffset, mlOffset, maxCtx)
//                               Seq (seqId, batchIdx, _, _)
//   7    queries    storage r   array<vec4f> [B, NUM_KV_HEADS·GROUP_SIZE, HEAD_SIZE / 4]
//   8    scratch    storage rw  array<f32>:
//          [0, mlOffset)         partial acc  [B, numQHeads, maxSplits, HEAD_SIZE] (unnormalised)
//          [mlOffset, …)         partial (max, sum) [B, numQHeads, maxSplits, 2]
//          [scoresOffset, …)     raw scaled scores [B, NUM_KV_HEADS, quads, maxCtx, 4] (metricMode ≠ 0
//                                only): a key's 4 scores of a quad side by side (16 B, one store)
// Overrides: pool.wgsl's, HEAD_SIZE, BLOCKS_PER_SHARD, GROUP_SIZE, WG_SIZE (a multiple of
//   HEAD_SIZE / 4), MAX_SPLIT_KEYS (≥ splitKeys, a multiple of BLOCK_SIZE), KV_SHARDS (shards
//   the pool uses, 1–4), SPLIT_MAJOR (grid order, common/decode_split.wgsl).
// Dispatch: numSeqs · NUM_KV_HEADS · maxSplits · quads workgroups (2-D grid, quad fastest so the
//   quads of one split run together and share its K/V through L2; then split, head, sequence, or
//   with SPLIT_MAJOR head, sequence, split); workgroup = one quad of
//   query heads × one split of splitKeys (a multiple of BLOCK_SIZE) consecutive logical keys of
//   one (seq, kvHead).
// Work: lane c of a key group owns chunk c (4 elements) of every key and value row: a key group
//   of HEAD_SIZE / 4 lanes reads whole rows, so a subgroup's loads are contiguous. An iteration
//   covers KEYS_PER_LANE keys per group; the loads of the NEXT iteration are issued before this
//   one's arithmetic (register double-buffering), so every lane always has 2·KEYS_PER_LANE loads
//   in flight. Per iteration: partial dots → workgroup memory, barrier; one lane per (key, head)
//   sums its row, barrier; the iteration max, and p = e^(s − max) once per (key, head), barrier;
//   every lane folds p·V of its keys into a flash-style running (max, sum, acc) in registers.
//   One pass over K and V, no score array; the key groups' states meet at the end of the split.
// Shards: a shard switch around a load makes the compiler wait for it at the switch's end, so
//   loads never sit under a per-key switch. common/decode_split.wgsl groups the split's blocks
//   by shard, and each shard's segment runs the whole iteration loop inside ONE case of a
//   switch on the shard, loading from that shard's binding only.
// Invariants: a split past ctxLen writes (max, sum) = (−FLT_MAX, 0) and no acc; decode_reduce
//   gives such splits weight 0. Keys past the split's end (and the prefetch past a group's end)
//   load the group's first key (never garbage: NaN · 0 is NaN) and get score −FLT_MAX and
//   probability 0. A query head past GROUP_SIZE in the last quad has a zero query and is never
//   written. The first iteration of a split always holds a real key, so the running max is
//   finite from then on.
// Roofline: reads 2·d·(2|4) B per key (q8/q4: its two records, codes and scales) once per quad
//   (once in all when GROUP_SIZE ≤ 4), writes ≤ 4·r B of raw score per key (metric on) and
//   (d + 2)·4 B per split and query head; FLOPs
//   ≈ 4·min(r, 4)·d per key and quad → bandwidth-bound (docs/bench/gpu.md).

override GROUP_SIZE: u32;
override WG_SIZE: u32;

// Keys each lane loads per iteration: the 8 named fields of Fetched; sizes the workgroup arrays.
const KEYS_PER_LANE: u32 = 8u;

const NEG_BIG: f32 = -3.402823e38;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { layer: u32, numSeqs: u32, splitKeys: u32, maxSplits: u32, metricMode: u32, scoresOffset: u32, mlOffset: u32, scoresStride: u32 }
struct Seq { seqId: u32, qRow: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(7) var<storage, read> queries: array<vec4f>;
@group(0) @binding(8) var<storage, read_write> scratch: array<f32>;

// [key of the iteration, head] rows of partial dots, one float per lane of the key, in vec4s:
// a row is rowVec4s() = ceil(C / 4) + 1 vec4 (one of padding, so the stores of consecutive lanes
// and the vec4 reads of one row per lane are both free of bank conflicts). Components past C are
// never written and stay 0 (workgroup memory starts zeroed).
var<workgroup> part: array<vec4f, KEYS_PER_LANE * (WG_SIZE / (HEAD_SIZE / 4u)) * 4u * ((HEAD_SIZE / 4u + 3u) / 4u + 1u)>;
// [key of the iteration]: its 4 scores (−FLT_MAX for a key past the end), then its 4 p.
var<workgroup> scoresW: array<vec4f, KEYS_PER_LANE * WG_SIZE / (HEAD_SIZE / 4u)>;
var<workgroup> probsW: array<vec4f, KEYS_PER_LANE * WG_SIZE / (HEAD_SIZE / 4u)>;
// [group]: each key group's running sum at the end of the split.
var<workgroup> sumsW: array<vec4f, WG_SIZE / (HEAD_SIZE / 4u)>;
// [head, lane]: the key groups' accumulators at the end of the split.
var<workgroup> accW: array<vec4f, 4u * WG_SIZE>;
var<workgroup> ctxShared: u32;

// Per-invocation state, shared by the loop body (step) and main.
var<private> q0: vec4f;
var<private> q1: vec4f;
var<private> q2: vec4f;
var<private> q3: vec4f;
var<private> m: vec4f;
var<private> l: vec4f;
var<private> a0: vec4f;
var<private> a1: vec4f;
var<private> a2: vec4f;
var<private> a3: vec4f;
// Where this split's raw scores start (f32 index; metricMode ≠ 0).
var<private> scoreBase: u32;

// The 8 keys' packed K and V chunks of one iteration, as named fields rather than an array
// indexed by a loop variable (such an index is clamped under WebGPU's robustness rules). On an
// H200 the named fields timed the same as arrays (docs/bench/gpu.md v8): this is for
// predictability, not speed.
struct Fetched {
  k0: KvChunk, k1: KvChunk, k2: KvChunk, k3: KvChunk, k4: KvChunk, k5: KvChunk, k6: KvChunk, k7: KvChunk,
  v0: KvChunk, v1: KvChunk, v2: KvChunk, v3: KvChunk, v4: KvChunk, v5: KvChunk, v6: KvChunk, v7: KvChunk,
}
/** Chunk indices of the 8 keys of an iteration. */
struct Idx8 { a: vec4u, b: vec4u }

fn rowVec4s() -> u32 { return (HEAD_SIZE / 4u + 3u) / 4u + 1u; }

/** Key j of this lane's group is segment key ci0 + j·G + g: consecutive groups read consecutive
 *  keys, so a subgroup's loads of one j are contiguous within a block. */
fn fetchIdx(sg: Seg, ci0: u32, g: u32, c: u32) -> Idx8 {
  let G = WG_SIZE / (HEAD_SIZE / 4u);
  return Idx8(
    vec4u(chunkIdx(sg, ci0 + g, c), chunkIdx(sg, ci0 + G + g, c), chunkIdx(sg, ci0 + 2u * G + g, c), chunkIdx(sg, ci0 + 3u * G + g, c)),
    vec4u(chunkIdx(sg, ci0 + 4u * G + g, c), chunkIdx(sg, ci0 + 5u * G + g, c), chunkIdx(sg, ci0 + 6u * G + g, c), chunkIdx(sg, ci0 + 7u * G + g, c)));
}

// One fetch per shard binding (the caller's switch picks one for a whole segment); all 16 loads
// are issued here, none is used.
fn fetch0(x: Idx8) -> Fetched {
  let V = vec4u(BLOCK_SIZE * (HEAD_SIZE / 4u));
  let a = x.a + V;
  let b = x.b + V;
  return Fetched(kvRead0(x.a.x), kvRead0(x.a.y), kvRead0(x.a.z), kvRead0(x.a.w), kvRead0(x.b.x), kvRead0(x.b.y), kvRead0(x.b.z), kvRead0(x.b.w),
                 kvRead0(a.x), kvRead0(a.y), kvRead0(a.z), kvRead0(a.w), kvRead0(b.x), kvRead0(b.y), kvRead0(b.z), kvRead0(b.w));
}
fn fetch1(x: Idx8) -> Fetched {
  let V = vec4u(BLOCK_SIZE * (HEAD_SIZE / 4u));
  let a = x.a + V;
  let b = x.b + V;
  return Fetched(kvRead1(x.a.x), kvRead1(x.a.y), kvRead1(x.a.z), kvRead1(x.a.w), kvRead1(x.b.x), kvRead1(x.b.y), kvRead1(x.b.z), kvRead1(x.b.w),
                 kvRead1(a.x), kvRead1(a.y), kvRead1(a.z), kvRead1(a.w), kvRead1(b.x), kvRead1(b.y), kvRead1(b.z), kvRead1(b.w));
}
fn fetch2(x: Idx8) -> Fetched {
  let V = vec4u(BLOCK_SIZE * (HEAD_SIZE / 4u));
  let a = x.a + V;
  let b = x.b + V;
  return Fetched(kvRead2(x.a.x), kvRead2(x.a.y), kvRead2(x.a.z), kvRead2(x.a.w), kvRead2(x.b.x), kvRead2(x.b.y), kvRead2(x.b.z), kvRead2(x.b.w),
                 kvRead2(a.x), kvRead2(a.y), kvRead2(a.z), kvRead2(a.w), kvRead2(b.x), kvRead2(b.y), kvRead2(b.z), kvRead2(b.w));
}
fn fetch3(x: Idx8) -> Fetched {
  let V = vec4u(BLOCK_SIZE * (HEAD_SIZE / 4u));
  let a = x.a + V;
  let b = x.b + V;
  return Fetched(kvRead3(x.a.x), kvRead3(x.a.y), kvRead3(x.a.z), kvRead3(x.a.w), kvRead3(x.b.x), kvRead3(x.b.y), kvRead3(x.b.z), kvRead3(x.b.w),
                 kvRead3(a.x), kvRead3(a.y), kvRead3(a.z), kvRead3(a.w), kvRead3(b.x), kvRead3(b.y), kvRead3(b.z), kvRead3(b.w));
}

/** Partial dots of key j (of this lane's group) with the quad's 4 queries → its rows of part. */
fn storeDots(kc: KvChunk, j: u32, g: u32, c: u32) {
  let C = HEAD_SIZE / 4u;
  let kf = kvUnpackAt(kc, c);
  let R = rowVec4s();
  let at = (j * (WG_SIZE / C) + g) * 4u * R + c / 4u;
  let e = c % 4u;
  part[at][e] = dot(kf, q0);
  part[at + R][e] = dot(kf, q1);
  part[at + 2u * R][e] = dot(kf, q2);
  part[at + 3u * R][e] = dot(kf, q3);
}

/** p·V of key j into the running sum and accumulators. */
fn foldValue(vc: KvChunk, j: u32, g: u32, c: u32) {
  let p = probsW[j * (WG_SIZE / (HEAD_SIZE / 4u)) + g];
  let vf = kvUnpackAt(vc, c);
  l += p;
  a0 += p.x * vf;
  a1 += p.y * vf;
  a2 += p.z * vf;
  a3 += p.w * vf;
}

/** One iteration: keys ci0 + j·G + g of the segment, already loaded in `f`. */
fn step(f: Fetched, sg: Seg, ci0: u32, lid: u32, g: u32, c: u32, heads: u32, qh0: u32) {
  let C = HEAD_SIZE / 4u;
  let G = WG_SIZE / C;
  let KI = KEYS_PER_LANE * G;
  storeDots(f.k0, 0u, g, c);
  storeDots(f.k1, 1u, g, c);
  storeDots(f.k2, 2u, g, c);
  storeDots(f.k3, 3u, g, c);
  storeDots(f.k4, 4u, g, c);
  storeDots(f.k5, 5u, g, c);
  storeDots(f.k6, 6u, g, c);
  storeDots(f.k7, 7u, g, c);
  workgroupBarrier();
  // One lane per row t = (key of the iteration t / 4, head t % 4) sums it: vec4 reads into four
  // independent sums, so the reads are not one long chain of dependent loads (under WebGPU's
  // robustness rules the compiler does not batch them for us: 0.63 → 0.37 ms at 128K × 1 on an
  // H200, docs/bench/gpu.md v9).
  let R = rowVec4s();
  for (var t = lid; t < 4u * KI; t += WG_SIZE) {
    let base = t * R;
    var sA = vec4f(0.0);
    var sB = vec4f(0.0);
    var sC = vec4f(0.0);
    var sD = vec4f(0.0);
    var v = 0u;
    for (; v + 4u <= R - 1u; v += 4u) {
      sA += part[base + v];
      sB += part[base + v + 1u];
      sC += part[base + v + 2u];
      sD += part[base + v + 3u];
    }
    for (; v < R - 1u; v++) { sA += part[base + v]; }
    let s4 = (sA + sB) + (sC + sD);
    let s = (s4.x + s4.y) + (s4.z + s4.w);
    let i = logicalKey(sg, ci0 + t / 4u);
    let h = t % 4u;
    if (i < sg.n) {
      scoresW[t / 4u][h] = s;
      if (batch.args.metricMode != 0u) { scratch[scoreBase + 4u * i + h] = s; }
    } else {
      scoresW[t / 4u][h] = NEG_BIG;
    }
  }
  workgroupBarrier();
  // The iteration max (every lane alike, so the running max stays uniform), then p once per
  // (key, head).
  var mNew = m;
  for (var key = 0u; key < KI; key += 4u) {   // KI = 8·G: four independent reads a step
    mNew = max(mNew, max(max(scoresW[key], scoresW[key + 1u]), max(scoresW[key + 2u], scoresW[key + 3u])));
  }
  for (var t = lid; t < 4u * KI; t += WG_SIZE) {
    let s = scoresW[t / 4u][t % 4u];
    probsW[t / 4u][t % 4u] = select(0.0, exp(s - mNew[t % 4u]), s > NEG_BIG);
  }
  workgroupBarrier();
  let alpha = exp(m - mNew);
  l *= alpha;
  a0 *= alpha.x;
  a1 *= alpha.y;
  a2 *= alpha.z;
  a3 *= alpha.w;
  foldValue(f.v0, 0u, g, c);
  foldValue(f.v1, 1u, g, c);
  foldValue(f.v2, 2u, g, c);
  foldValue(f.v3, 3u, g, c);
  foldValue(f.v4, 4u, g, c);
  foldValue(f.v5, 5u, g, c);
  foldValue(f.v6, 6u, g, c);
  foldValue(f.v7, 7u, g, c);
  m = mNew;
}

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let C = HEAD_SIZE / 4u;           // lanes per key = chunks per row
  let G = WG_SIZE / C;              // key groups per workgroup
  let KI = KEYS_PER_LANE * G;       // keys per iteration
  let quads = (GROUP_SIZE + 3u) / 4u;
  let layer = batch.args.layer;
  let splitKeys = batch.args.splitKeys;
  let maxSplits = batch.args.maxSplits;
  let wg = linearWorkgroup(wid, nwg);
  let quad = wg % quads;
  // Grid order: quad fastest, then split, head, sequence; SPLIT_MAJOR: quad, head, sequence, then
  // split (the running workgroups are split s of every head; docs/bench/gpu.md, scatter probes).
  let split = select((wg / quads) % maxSplits, wg / quads / NUM_KV_HEADS / batch.args.numSeqs, SPLIT_MAJOR);
  let kvHead = select((wg / quads / maxSplits) % NUM_KV_HEADS, (wg / quads) % NUM_KV_HEADS, SPLIT_MAJOR);
  let k = select(wg / quads / maxSplits / NUM_KV_HEADS, (wg / quads / NUM_KV_HEADS) % batch.args.numSeqs, SPLIT_MAJOR);
  if (k >= batch.args.numSeqs || split >= maxSplits) { return; }
  let hIdx = headIdx(layer, batch.seqs[k].seqId, kvHead);
  if (lid == 0u) { ctxShared = ctxLenOf(hIdx); }
  let ctxLen = workgroupUniformLoad(&ctxShared);
  let qh0 = (batch.seqs[k].qRow * NUM_KV_HEADS + kvHead) * GROUP_SIZE + quad * 4u;
  let heads = min(4u, GROUP_SIZE - quad * 4u);   // real query heads in this quad
  let start = split * splitKeys;
  scoreBase = batch.args.scoresOffset + (((batch.seqs[k].qRow * NUM_KV_HEADS + kvHead) * quads + quad) * batch.args.scoresStride + start) * 4u;
  if (start >= ctxLen) {
    if (lid < heads) {
      let ml = batch.args.mlOffset + ((qh0 + lid) * maxSplits + split) * 2u;
      scratch[ml] = NEG_BIG;
      scratch[ml + 1u] = 0.0;
    }
    return;
  }
  let n = min(splitKeys, ctxLen - start);
  let g = lid / C;
  let c = lid % C;

  // This lane's chunk of the quad's 4 scaled queries (zero for heads past GROUP_SIZE).
  let scale = inverseSqrt(f32(HEAD_SIZE));
  q0 = queries[qh0 * C + c] * scale;
  q1 = select(vec4f(0.0), queries[(qh0 + 1u) * C + c] * scale, heads > 1u);
  q2 = select(vec4f(0.0), queries[(qh0 + 2u) * C + c] * scale, heads > 2u);
  q3 = select(vec4f(0.0), queries[(qh0 + 3u) * C + c] * scale, heads > 3u);
  m = vec4f(NEG_BIG);
  l = vec4f(0.0);
  a0 = vec4f(0.0);
  a1 = vec4f(0.0);
  a2 = vec4f(0.0);
  a3 = vec4f(0.0);

  gatherSplitBlocks(hIdx, start, n, lid);

  for (var sh = 0u; sh < KV_SHARDS; sh++) {
    let sg = segmentOf(sh, n, start);
    if (sg.keys == 0u) { continue; }
    // Each case loops over the whole segment; fetch(next) is issued before step(current).
    switch sh {
      case 0u: {
        var cur = fetch0(fetchIdx(sg, 0u, g, c));
        for (var ci0 = 0u; ci0 < sg.keys; ci0 += KI) { let nxt = fetch0(fetchIdx(sg, ci0 + KI, g, c)); step(cur, sg, ci0, lid, g, c, heads, qh0); cur = nxt; }
      }
      case 1u: {
        var cur = fetch1(fetchIdx(sg, 0u, g, c));
        for (var ci0 = 0u; ci0 < sg.keys; ci0 += KI) { let nxt = fetch1(fetchIdx(sg, ci0 + KI, g, c)); step(cur, sg, ci0, lid, g, c, heads, qh0); cur = nxt; }
      }
      case 2u: {
        var cur = fetch2(fetchIdx(sg, 0u, g, c));
        for (var ci0 = 0u; ci0 < sg.keys; ci0 += KI) { let nxt = fetch2(fetchIdx(sg, ci0 + KI, g, c)); step(cur, sg, ci0, lid, g, c, heads, qh0); cur = nxt; }
      }
      default: {
        var cur = fetch3(fetchIdx(sg, 0u, g, c));
        for (var ci0 = 0u; ci0 < sg.keys; ci0 += KI) { let nxt = fetch3(fetchIdx(sg, ci0 + KI, g, c)); step(cur, sg, ci0, lid, g, c, heads, qh0); cur = nxt; }
      }
    }
  }

  // The G key groups' states → one (max, sum, acc) for the split. Every lane holds the same
  // running max, so the groups differ only in their sums and accumulators.
  if (c == 0u) { sumsW[g] = l; }
  accW[lid] = a0;
  accW[WG_SIZE + lid] = a1;
  accW[2u * WG_SIZE + lid] = a2;
  accW[3u * WG_SIZE + lid] = a3;
  workgroupBarrier();
  for (var e = lid; e < heads * C; e += WG_SIZE) {
    let h = e / C;
    let cc = e % C;
    var acc = vec4f(0.0);
    for (var gg = 0u; gg < G; gg++) { acc += accW[h * WG_SIZE + gg * C + cc]; }
    let out = ((qh0 + h) * maxSplits + split) * HEAD_SIZE + cc * 4u;
    scratch[out] = acc.x;
    scratch[out + 1u] = acc.y;
    scratch[out + 2u] = acc.z;
    scratch[out + 3u] = acc.w;
  }
  if (lid < heads) {
    var lAll = 0.0;
    for (var gg = 0u; gg < G; gg++) { lAll += sumsW[gg][lid]; }
    let ml = batch.args.mlOffset + ((qh0 + lid) * maxSplits + split) * 2u;
    scratch[ml] = m[lid];
    scratch[ml + 1u] = lAll;
  }
}
