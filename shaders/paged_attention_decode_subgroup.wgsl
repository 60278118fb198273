// paged_attention_decode_subgroup.wgsl — paged_attention_decode.wgsl's split-K partials with the
// dot products summed by subgroup shuffles: no workgroup memory and no barrier in the key loop.
// The fast path where the `subgroups` feature exists and a key's lanes fit in one subgroup; same
// inputs, outputs and dispatch as paged_attention_decode.wgsl (whose header documents them).
// Sources: THIS FILE FIRST (its `enable` must open the module), then common/pool.wgsl,
//   common/batch.wgsl, common/kv_{f32,f16,q8,q4}.wgsl, common/decode_split.wgsl.
// Bindings (group 0): as paged_attention_decode.wgsl (0..3 kvShard*, 4 headTables, 6 batch,
//   7 queries, 8 scratch).
// Overrides: pool.wgsl's, HEAD_SIZE, BLOCKS_PER_SHARD, GROUP_SIZE, WG_SIZE (a multiple of
//   lanesPerKey()), MAX_SPLIT_KEYS, KV_SHARDS, SPLIT_MAJOR.
// Dispatch: as paged_attention_decode.wgsl.
// Work: a key group of lanesPerKey() = HEAD_SIZE / 8 lanes reads a row; lane u owns chunks u
//   and u + lanesPerKey() (so each load instruction of a subgroup is contiguous). An iteration
//   covers 4 keys per group, loaded (16 loads a lane) one iteration ahead. A key's partial dots
//   are summed over its lanes by a shuffle butterfly, so every lane of the group holds the 4
//   scores; each group keeps its own flash-style running (max, sum, acc) in registers, and the
//   groups meet once at the end of the split (rescaled to the common max).
// Requires: HEAD_SIZE % 8 == 0, lanesPerKey() a power of two ≤ the adapter's smallest subgroup,
//   and local_invocation_index laid out subgroup by subgroup (so a key group, lanesPerKey()
//   consecutive invocations aligned to lanesPerKey(), lies in one subgroup). The host checks the
//   first two; the third holds on every implementation we know of, and the decode tests compare
//   against a straight loop on each adapter they run on.
// Invariants: as paged_attention_decode.wgsl. A group whose first keys are all past the end keeps
//   max −FLT_MAX and sum 0 until it sees a real key, and weighs 0 at the end if it never does.
// Roofline: as paged_attention_decode.wgsl: 2·d·(2|4) B read per key and quad.

enable subgroups;

override GROUP_SIZE: u32;
override WG_SIZE: u32;

const NEG_BIG: f32 = -3.402823e38;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { layer: u32, numSeqs: u32, splitKeys: u32, maxSplits: u32, metricMode: u32, scoresOffset: u32, mlOffset: u32, scoresStride: u32 }
struct Seq { seqId: u32, qRow: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(7) var<storage, read> queries: array<vec4f>;
@group(0) @binding(8) var<storage, read_write> scratch: array<f32>;

// [group]: running max, then [G + group] running sum, at the end of the split.
var<workgroup> statsW: array<vec4f, 2u * WG_SIZE / (HEAD_SIZE / 8u)>;
// [head, half, lane]: accumulators at the end of the split (half 0: chunk u, 1: chunk u + LPK).
var<workgroup> accW: array<vec4f, 8u * WG_SIZE>;
var<workgroup> ctxShared: u32;

// Per-invocation state: the quad's scaled queries at this lane's two chunks, the running max and
// sum, and the accumulators of the 4 heads at both chunks.
var<private> qa0: vec4f;
var<private> qa1: vec4f;
var<private> qa2: vec4f;
var<private> qa3: vec4f;
var<private> qb0: vec4f;
var<private> qb1: vec4f;
var<private> qb2: vec4f;
var<private> qb3: vec4f;
var<private> m: vec4f;
var<private> l: vec4f;
var<private> a0: vec4f;
var<private> a1: vec4f;
var<private> a2: vec4f;
var<private> a3: vec4f;
var<private> b0: vec4f;
var<private> b1: vec4f;
var<private> b2: vec4f;
var<private> b3: vec4f;
// Where this split's raw scores start (f32 index; metricMode ≠ 0).
var<private> scoreBase: u32;

fn lanesPerKey() -> u32 { return HEAD_SIZE / 8u; }

/** K and V chunks u (a) and u + lanesPerKey() (b) of the 4 keys of an iteration, packed. */
struct Fetched {
  ka0: KvChunk, kb0: KvChunk, va0: KvChunk, vb0: KvChunk,
  ka1: KvChunk, kb1: KvChunk, va1: KvChunk, vb1: KvChunk,
  ka2: KvChunk, kb2: KvChunk, va2: KvChunk, vb2: KvChunk,
  ka3: KvChunk, kb3: KvChunk, va3: KvChunk, vb3: KvChunk,
}

/** Chunk u's index for key j = 0..3 of this lane's group: segment key ci0 + j·G + g. */
fn fetchIdx(sg: Seg, ci0: u32, g: u32, u: u32) -> vec4u {
  let G = WG_SIZE / lanesPerKey();
  return vec4u(chunkIdx(sg, ci0 + g, u), chunkIdx(sg, ci0 + G + g, u), chunkIdx(sg, ci0 + 2u * G + g, u), chunkIdx(sg, ci0 + 3u * G + g, u));
}

// One fetch per shard binding; the caller's switch picks one for a whole segment.
fn fetch0(x: vec4u) -> Fetched {
  let L = lanesPerKey();
  let V = BLOCK_SIZE * (HEAD_SIZE / 4u);
  return Fetched(kvRead0(x.x), kvRead0(x.x + L), kvRead0(x.x + V), kvRead0(x.x + V + L),
                 kvRead0(x.y), kvRead0(x.y + L), kvRead0(x.y + V), kvRead0(x.y + V + L),
                 kvRead0(x.z), kvRead0(x.z + L), kvRead0(x.z + V), kvRead0(x.z + V + L),
                 kvRead0(x.w), kvRead0(x.w + L), kvRead0(x.w + V), kvRead0(x.w + V + L));
}
fn fetch1(x: vec4u) -> Fetched {
  let L = lanesPerKey();
  let V = BLOCK_SIZE * (HEAD_SIZE / 4u);
  return Fetched(kvRead1(x.x), kvRead1(x.x + L), kvRead1(x.x + V), kvRead1(x.x + V + L),
                 kvRead1(x.y), kvRead1(x.y + L), kvRead1(x.y + V), kvRead1(x.y + V + L),
                 kvRead1(x.z), kvRead1(x.z + L), kvRead1(x.z + V), kvRead1(x.z + V + L),
                 kvRead1(x.w), kvRead1(x.w + L), kvRead1(x.w + V), kvRead1(x.w + V + L));
}
fn fetch2(x: vec4u) -> Fetched {
  let L = lanesPerKey();
  let V = BLOCK_SIZE * (HEAD_SIZE / 4u);
  return Fetched(kvRead2(x.x), kvRead2(x.x + L), kvRead2(x.x + V), kvRead2(x.x + V + L),
                 kvRead2(x.y), kvRead2(x.y + L), kvRead2(x.y + V), kvRead2(x.y + V + L),
                 kvRead2(x.z), kvRead2(x.z + L), kvRead2(x.z + V), kvRead2(x.z + V + L),
                 kvRead2(x.w), kvRead2(x.w + L), kvRead2(x.w + V), kvRead2(x.w + V + L));
}
fn fetch3(x: vec4u) -> Fetched {
  let L = lanesPerKey();
  let V = BLOCK_SIZE * (HEAD_SIZE / 4u);
  return Fetched(kvRead3(x.x), kvRead3(x.x + L), kvRead3(x.x + V), kvRead3(x.x + V + L),
                 kvRead3(x.y), kvRead3(x.y + L), kvRead3(x.y + V), kvRead3(x.y + V + L),
                 kvRead3(x.z), kvRead3(x.z + L), kvRead3(x.z + V), kvRead3(x.z + V + L),
                 kvRead3(x.w), kvRead3(x.w + L), kvRead3(x.w + V), kvRead3(x.w + V + L));
}

/** The 4 scores of one key: this lane's partial dots, summed over the key's lanes. */
fn keyScores(ka: KvChunk, kb: KvChunk, u: u32) -> vec4f {
  let a = kvUnpackAt(ka, u);
  let b = kvUnpackAt(kb, u + lanesPerKey());
  var d = vec4f(dot(a, qa0) + dot(b, qb0), dot(a, qa1) + dot(b, qb1), dot(a, qa2) + dot(b, qb2), dot(a, qa3) + dot(b, qb3));
  // Butterfly over lanesPerKey() lanes (constant masks; the conditions are overrides).
  if (lanesPerKey() > 1u) { d += subgroupShuffleXor(d, 1u); }
  if (lanesPerKey() > 2u) { d += subgroupShuffleXor(d, 2u); }
  if (lanesPerKey() > 4u) { d += subgroupShuffleXor(d, 4u); }
  if (lanesPerKey() > 8u) { d += subgroupShuffleXor(d, 8u); }
  if (lanesPerKey() > 16u) { d += subgroupShuffleXor(d, 16u); }
  if (lanesPerKey() > 32u) { d += subgroupShuffleXor(d, 32u); }
  return d;
}

/** The 4 raw scores of real key i for the metric pass, side by side (one lane a key: 16 B). */
fn writeScores(s: vec4f, i: u32, sg: Seg) {
  if (i >= sg.n) { return; }
  let at = scoreBase + 4u * i;
  scratch[at] = s.x;
  scratch[at + 1u] = s.y;
  scratch[at + 2u] = s.z;
  scratch[at + 3u] = s.w;
}

/** p·V of one key at this lane's two chunks. */
fn foldValue(va: KvChunk, vb: KvChunk, p: vec4f, u: u32) {
  let x = kvUnpackAt(va, u);
  let y = kvUnpackAt(vb, u + lanesPerKey());
  a0 += p.x * x;
  a1 += p.y * x;
  a2 += p.z * x;
  a3 += p.w * x;
  b0 += p.x * y;
  b1 += p.y * y;
  b2 += p.z * y;
  b3 += p.w * y;
}

/** One iteration over the 4 keys of this lane's group, already loaded in `f`. */
fn step(f: Fetched, sg: Seg, ci0: u32, g: u32, u: u32, heads: u32, qh0: u32) {
  let G = WG_SIZE / lanesPerKey();
  let i0 = logicalKey(sg, ci0 + g);
  let i1 = logicalKey(sg, ci0 + G + g);
  let i2 = logicalKey(sg, ci0 + 2u * G + g);
  let i3 = logicalKey(sg, ci0 + 3u * G + g);
  let s0 = select(vec4f(NEG_BIG), keyScores(f.ka0, f.kb0, u), i0 < sg.n);
  let s1 = select(vec4f(NEG_BIG), keyScores(f.ka1, f.kb1, u), i1 < sg.n);
  let s2 = select(vec4f(NEG_BIG), keyScores(f.ka2, f.kb2, u), i2 < sg.n);
  let s3 = select(vec4f(NEG_BIG), keyScores(f.ka3, f.kb3, u), i3 < sg.n);
  if (batch.args.metricMode != 0u) {
    // Every lane of the group holds the 4 scores; lane j (mod lanesPerKey()) writes key j's:
    // with 4 or more lanes a key, one store sequence in which lanes 0–3 write keys 0–3.
    if (lanesPerKey() >= 4u) {
      if (u < 4u) {
        let sj = select(select(select(s0, s1, u == 1u), s2, u == 2u), s3, u == 3u);
        let ij = select(select(select(i0, i1, u == 1u), i2, u == 2u), i3, u == 3u);
        writeScores(sj, ij, sg);
      }
    } else {
      if (u == 0u) { writeScores(s0, i0, sg); }
      if (u == 1u % lanesPerKey()) { writeScores(s1, i1, sg); }
      if (u == 2u % lanesPerKey()) { writeScores(s2, i2, sg); }
      if (u == 3u % lanesPerKey()) { writeScores(s3, i3, sg); }
    }
  }
  let mNew = max(max(m, max(s0, s1)), max(s2, s3));
  let alpha = exp(m - mNew);
  let p0 = select(vec4f(0.0), exp(s0 - mNew), i0 < sg.n);
  let p1 = select(vec4f(0.0), exp(s1 - mNew), i1 < sg.n);
  let p2 = select(vec4f(0.0), exp(s2 - mNew), i2 < sg.n);
  let p3 = select(vec4f(0.0), exp(s3 - mNew), i3 < sg.n);
  l = l * alpha + ((p0 + p1) + (p2 + p3));
  a0 *= alpha.x;
  a1 *= alpha.y;
  a2 *= alpha.z;
  a3 *= alpha.w;
  b0 *= alpha.x;
  b1 *= alpha.y;
  b2 *= alpha.z;
  b3 *= alpha.w;
  foldValue(f.va0, f.vb0, p0, u);
  foldValue(f.va1, f.vb1, p1, u);
  foldValue(f.va2, f.vb2, p2, u);
  foldValue(f.va3, f.vb3, p3, u);
  m = mNew;
}

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let C = HEAD_SIZE / 4u;
  let LPK = lanesPerKey();
  let G = WG_SIZE / LPK;            // key groups per workgroup
  let KI = 4u * G;                  // keys per iteration
  let quads = (GROUP_SIZE + 3u) / 4u;
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
  let hIdx = headIdx(batch.args.layer, batch.seqs[k].seqId, kvHead);
  if (lid == 0u) { ctxShared = ctxLenOf(hIdx); }
  let ctxLen = workgroupUniformLoad(&ctxShared);
  let qh0 = (batch.seqs[k].qRow * NUM_KV_HEADS + kvHead) * GROUP_SIZE + quad * 4u;
  let heads = min(4u, GROUP_SIZE - quad * 4u);
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
  let g = lid / LPK;
  let u = lid % LPK;

  let scale = inverseSqrt(f32(HEAD_SIZE));
  qa0 = queries[qh0 * C + u] * scale;
  qb0 = queries[qh0 * C + u + LPK] * scale;
  qa1 = select(vec4f(0.0), queries[(qh0 + 1u) * C + u] * scale, heads > 1u);
  qb1 = select(vec4f(0.0), queries[(qh0 + 1u) * C + u + LPK] * scale, heads > 1u);
  qa2 = select(vec4f(0.0), queries[(qh0 + 2u) * C + u] * scale, heads > 2u);
  qb2 = select(vec4f(0.0), queries[(qh0 + 2u) * C + u + LPK] * scale, heads > 2u);
  qa3 = select(vec4f(0.0), queries[(qh0 + 3u) * C + u] * scale, heads > 3u);
  qb3 = select(vec4f(0.0), queries[(qh0 + 3u) * C + u + LPK] * scale, heads > 3u);
  m = vec4f(NEG_BIG);
  l = vec4f(0.0);
  a0 = vec4f(0.0);
  a1 = vec4f(0.0);
  a2 = vec4f(0.0);
  a3 = vec4f(0.0);
  b0 = vec4f(0.0);
  b1 = vec4f(0.0);
  b2 = vec4f(0.0);
  b3 = vec4f(0.0);

  gatherSplitBlocks(hIdx, start, n, lid);

  for (var sh = 0u; sh < KV_SHARDS; sh++) {
    let sg = segmentOf(sh, n, start);
    if (sg.keys == 0u) { continue; }
    // Each case loops over the whole segment; fetch(next) is issued before step(current).
    switch sh {
      case 0u: {
        var cur = fetch0(fetchIdx(sg, 0u, g, u));
        for (var ci0 = 0u; ci0 < sg.keys; ci0 += KI) { let nxt = fetch0(fetchIdx(sg, ci0 + KI, g, u)); step(cur, sg, ci0, g, u, heads, qh0); cur = nxt; }
      }
      case 1u: {
        var cur = fetch1(fetchIdx(sg, 0u, g, u));
        for (var ci0 = 0u; ci0 < sg.keys; ci0 += KI) { let nxt = fetch1(fetchIdx(sg, ci0 + KI, g, u)); step(cur, sg, ci0, g, u, heads, qh0); cur = nxt; }
      }
      case 2u: {
        var cur = fetch2(fetchIdx(sg, 0u, g, u));
        for (var ci0 = 0u; ci0 < sg.keys; ci0 += KI) { let nxt = fetch2(fetchIdx(sg, ci0 + KI, g, u)); step(cur, sg, ci0, g, u, heads, qh0); cur = nxt; }
      }
      default: {
        var cur = fetch3(fetchIdx(sg, 0u, g, u));
        for (var ci0 = 0u; ci0 < sg.keys; ci0 += KI) { let nxt = fetch3(fetchIdx(sg, ci0 + KI, g, u)); step(cur, sg, ci0, g, u, heads, qh0); cur = nxt; }
      }
    }
  }

  // The G groups' states → one (max, sum, acc) for the split, rescaled to the common max.
  if (u == 0u) {
    statsW[g] = m;
    statsW[G + g] = l;
  }
  accW[lid] = a0;
  accW[WG_SIZE + lid] = b0;
  accW[2u * WG_SIZE + lid] = a1;
  accW[3u * WG_SIZE + lid] = b1;
  accW[4u * WG_SIZE + lid] = a2;
  accW[5u * WG_SIZE + lid] = b2;
  accW[6u * WG_SIZE + lid] = a3;
  accW[7u * WG_SIZE + lid] = b3;
  workgroupBarrier();
  var mAll = vec4f(NEG_BIG);
  for (var gg = 0u; gg < G; gg++) { mAll = max(mAll, statsW[gg]); }
  for (var e = lid; e < heads * C; e += WG_SIZE) {
    let h = e / C;
    let cc = e % C;
    let row = (2u * h + cc / LPK) * WG_SIZE + cc % LPK;
    var acc = vec4f(0.0);
    for (var gg = 0u; gg < G; gg++) { acc += exp(statsW[gg][h] - mAll[h]) * accW[row + gg * LPK]; }
    let out = ((qh0 + h) * maxSplits + split) * HEAD_SIZE + cc * 4u;
    scratch[out] = acc.x;
    scratch[out + 1u] = acc.y;
    scratch[out + 2u] = acc.z;
    scratch[out + 3u] = acc.w;
  }
  if (lid < heads) {
    var lAll = 0.0;
    for (var gg = 0u; gg < G; gg++) { lAll += exp(statsW[gg][lid] - mAll[lid]) * statsW[G + gg][lid]; }
    let ml = batch.args.mlOffset + ((qh0 + lid) * maxSplits + split) * 2u;
    scratch[ml] = mAll[lid];
    scratch[ml + 1u] = lAll;
  }
}
