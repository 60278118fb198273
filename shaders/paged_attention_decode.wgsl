// paged_attention_decode.wgsl — split-K (flash-decoding) partials of paged decode attention
// (DESIGN.md §2.1, §3; CONTRACTS.md). One query per (sequence, query head); every KV head reads
// its OWN block table and ctxLen; the r = GROUP_SIZE query heads of a group share each K/V load.
// Sources: common/pool.wgsl, common/batch.wgsl, common/kv_{f32,f16}.wgsl, this file.
// Bindings (group 0):
//   0..3 kvShard*   storage rw  (common/kv_*.wgsl)
//   4    headTables storage rw  (common/pool.wgsl)
//   6    batch      uniform     args0 = (layer, numSeqs, splitKeys, maxSplits)
//                               args1 = (metricMode, scoresOffset, mlOffset, maxCtx)
//                               seqs[k] = (seqId, batchIdx, _, _)
//   7    queries    storage r   array<vec4f> [B, NUM_KV_HEADS·GROUP_SIZE, HEAD_SIZE / 4]
//   8    scratch    storage rw  array<f32>:
//          [0, mlOffset)         partial acc  [B, numQHeads, maxSplits, HEAD_SIZE] (unnormalised)
//          [mlOffset, …)         partial (max, sum) [B, numQHeads, maxSplits, 2]
//          [scoresOffset, …)     raw scaled scores [B, numQHeads, maxCtx] (metricMode ≠ 0 only)
// Overrides: pool.wgsl's, HEAD_SIZE, BLOCKS_PER_SHARD, GROUP_SIZE, WG_SIZE (power of 2),
//   MAX_SPLIT_KEYS (≥ splitKeys), LANES_PER_KEY (divides WG_SIZE).
// Dispatch: numSeqs · NUM_KV_HEADS · maxSplits workgroups (2-D grid); workgroup = one split of
//   splitKeys consecutive logical keys of one (seq, kvHead). Scores: LANES_PER_KEY invocations
//   per key (coalesced chunks, partial dots summed in workgroup memory); values: invocation =
//   (lane, chunk), one subgroup load covers a whole value row.
// Invariants: a split past ctxLen writes (max, sum) = (−FLT_MAX, 0) and no acc; decode_reduce
//   gives splits with sum 0 weight 0. HEAD_SIZE ≤ 4·WG_SIZE (one chunk per invocation in the
//   value pass). Query heads are handled in quads (vec4 lanes = 4 query heads; a missing head of
//   the last quad has a zero query and is never written), so no private array is indexed
//   dynamically, and the value pass issues 4 independent loads before using any (keys in flight).
// Roofline: reads 2·d·(2|4) B per key once for all r query heads, writes ≤ 4·r B of raw score
//   per key; FLOPs 4·r·d per key → bandwidth-bound (docs/bench/gpu.md).

override GROUP_SIZE: u32;
override WG_SIZE: u32;
override MAX_SPLIT_KEYS: u32;
override LANES_PER_KEY: u32;

const NEG_BIG: f32 = -3.402823e38;

@group(0) @binding(7) var<storage, read> queries: array<vec4f>;
@group(0) @binding(8) var<storage, read_write> scratch: array<f32>;

// [quad·4 + g][chunk]: the scaled queries, zero for the padding heads of the last quad.
var<workgroup> qW: array<vec4f, (GROUP_SIZE + 3u) / 4u * HEAD_SIZE>;
// [quad][key]: scores, then exp(s − max), of the quad's 4 query heads.
var<workgroup> probs: array<vec4f, (GROUP_SIZE + 3u) / 4u * MAX_SPLIT_KEYS>;
var<workgroup> slotsW: array<u32, MAX_SPLIT_KEYS>;
// Partial dots of the score pass, then the tree reductions of the softmax statistics.
var<workgroup> part: array<vec4f, WG_SIZE>;
// [g][chunk]: value accumulators of one quad, summed over lanes.
var<workgroup> accW: array<vec4f, HEAD_SIZE>;
var<workgroup> ctxShared: u32;

fn quadCount() -> u32 { return (GROUP_SIZE + 3u) / 4u; }

fn treeMax(v: vec4f, lid: u32) -> vec4f {
  part[lid] = v;
  workgroupBarrier();
  for (var s = WG_SIZE / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { part[lid] = max(part[lid], part[lid + s]); }
    workgroupBarrier();
  }
  let r = part[0];
  workgroupBarrier();
  return r;
}

fn treeSum(v: vec4f, lid: u32) -> vec4f {
  part[lid] = v;
  workgroupBarrier();
  for (var s = WG_SIZE / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { part[lid] = part[lid] + part[lid + s]; }
    workgroupBarrier();
  }
  let r = part[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let layer = batch.args0.x;
  let splitKeys = batch.args0.z;
  let maxSplits = batch.args0.w;
  let metricMode = batch.args1.x;
  let maxCtx = batch.args1.w;
  let wg = linearWorkgroup(wid, nwg);
  let split = wg % maxSplits;
  let kvHead = (wg / maxSplits) % NUM_KV_HEADS;
  let k = wg / maxSplits / NUM_KV_HEADS;
  if (k >= batch.args0.y) { return; }
  let bIdx = batch.seqs[k].y;
  let hIdx = headIdx(layer, batch.seqs[k].x, kvHead);
  if (lid == 0u) { ctxShared = ctxLenOf(hIdx); }
  let ctxLen = workgroupUniformLoad(&ctxShared);
  let numQHeads = NUM_KV_HEADS * GROUP_SIZE;
  let qh0 = bIdx * numQHeads + kvHead * GROUP_SIZE;
  let start = split * splitKeys;
  if (start >= ctxLen) {
    if (lid < GROUP_SIZE) {
      let ml = batch.args1.z + ((qh0 + lid) * maxSplits + split) * 2u;
      scratch[ml] = NEG_BIG;
      scratch[ml + 1u] = 0.0;
    }
    return;
  }
  let n = min(splitKeys, ctxLen - start);
  let C = HEAD_SIZE / 4u;
  let scale = inverseSqrt(f32(HEAD_SIZE));
  for (var e = lid; e < quadCount() * 4u * C; e += WG_SIZE) {
    qW[e] = select(vec4f(0.0), queries[qh0 * C + e] * scale, e / C < GROUP_SIZE);
  }
  workgroupBarrier();

  // Scores: LANES_PER_KEY invocations per key, each over chunks sub, sub + LANES_PER_KEY, …, so
  // one subgroup load reads LANES_PER_KEY·8 (f16) or ·16 (f32) contiguous bytes per key.
  // Slots first, so the score loop has no table lookup in its dependency chain.
  for (var i = lid; i < n; i += WG_SIZE) { slotsW[i] = slotOf(hIdx, start + i); }
  workgroupBarrier();
  let keysPerIter = WG_SIZE / LANES_PER_KEY;
  let sub = lid % LANES_PER_KEY;
  for (var quad = 0u; quad < quadCount(); quad++) {
    for (var i0 = 0u; i0 < n; i0 += keysPerIter) {
      let i = i0 + lid / LANES_PER_KEY;
      var acc = vec4f(0.0);
      if (i < n) {
        let slot = slotsW[i];
        let q = quad * 4u * C;
        for (var c = sub; c < C; c += LANES_PER_KEY) {
          let kv = kvLoad4(slot, 0u, c);
          acc += vec4f(dot(kv, qW[q + c]), dot(kv, qW[q + C + c]), dot(kv, qW[q + 2u * C + c]), dot(kv, qW[q + 3u * C + c]));
        }
      }
      part[lid] = acc;
      workgroupBarrier();
      if (lid < keysPerIter && i0 + lid < n) {
        var sc = vec4f(0.0);
        for (var u = 0u; u < LANES_PER_KEY; u++) { sc += part[lid * LANES_PER_KEY + u]; }
        probs[quad * MAX_SPLIT_KEYS + i0 + lid] = sc;
        if (metricMode != 0u) {
          for (var g = 0u; g < 4u && quad * 4u + g < GROUP_SIZE; g++) {
            scratch[batch.args1.y + (qh0 + quad * 4u + g) * maxCtx + start + i0 + lid] = sc[g];
          }
        }
      }
      workgroupBarrier();
    }
  }

  // Split-local softmax statistics of the quad's 4 heads at once; probs become exp(s − max).
  for (var quad = 0u; quad < quadCount(); quad++) {
    var m = vec4f(NEG_BIG);
    for (var i = lid; i < n; i += WG_SIZE) { m = max(m, probs[quad * MAX_SPLIT_KEYS + i]); }
    let mAll = treeMax(m, lid);
    var l = vec4f(0.0);
    for (var i = lid; i < n; i += WG_SIZE) {
      let p = exp(probs[quad * MAX_SPLIT_KEYS + i] - mAll);
      probs[quad * MAX_SPLIT_KEYS + i] = p;
      l += p;
    }
    let lAll = treeSum(l, lid);
    if (lid < 4u && quad * 4u + lid < GROUP_SIZE) {
      let ml = batch.args1.z + ((qh0 + quad * 4u + lid) * maxSplits + split) * 2u;
      scratch[ml] = mAll[lid];
      scratch[ml + 1u] = lAll[lid];
    }
  }
  workgroupBarrier();

  // Values: invocation = (lane, chunk); a subgroup load covers a contiguous run of one value
  // row; 4 keys are loaded before any is used (clamped indices, weight 0 past the end).
  let lanes = max(1u, WG_SIZE / C);
  let lane = lid / C;
  let c = lid % C;
  let isLane = lane < lanes;
  for (var quad = 0u; quad < quadCount(); quad++) {
    var a0 = vec4f(0.0);
    var a1 = vec4f(0.0);
    var a2 = vec4f(0.0);
    var a3 = vec4f(0.0);
    if (isLane) {
      let pb = quad * MAX_SPLIT_KEYS;
      for (var i = lane; i < n; i += 4u * lanes) {
        let i1 = min(i + lanes, n - 1u);
        let i2 = min(i + 2u * lanes, n - 1u);
        let i3 = min(i + 3u * lanes, n - 1u);
        let v0 = kvLoad4(slotsW[i], 1u, c);
        let v1 = kvLoad4(slotsW[i1], 1u, c);
        let v2 = kvLoad4(slotsW[i2], 1u, c);
        let v3 = kvLoad4(slotsW[i3], 1u, c);
        let p0 = probs[pb + i];
        let p1 = select(vec4f(0.0), probs[pb + i1], i + lanes < n);
        let p2 = select(vec4f(0.0), probs[pb + i2], i + 2u * lanes < n);
        let p3 = select(vec4f(0.0), probs[pb + i3], i + 3u * lanes < n);
        a0 += p0.x * v0 + p1.x * v1 + p2.x * v2 + p3.x * v3;
        a1 += p0.y * v0 + p1.y * v1 + p2.y * v2 + p3.y * v3;
        a2 += p0.z * v0 + p1.z * v1 + p2.z * v2 + p3.z * v3;
        a3 += p0.w * v0 + p1.w * v1 + p2.w * v2 + p3.w * v3;
      }
    }
    for (var ln = 0u; ln < lanes; ln++) {
      if (isLane && lane == ln) {
        let first = ln == 0u;
        accW[c] = select(accW[c], vec4f(0.0), first) + a0;
        accW[C + c] = select(accW[C + c], vec4f(0.0), first) + a1;
        accW[2u * C + c] = select(accW[2u * C + c], vec4f(0.0), first) + a2;
        accW[3u * C + c] = select(accW[3u * C + c], vec4f(0.0), first) + a3;
      }
      workgroupBarrier();
    }
    for (var e = lid; e < 4u * C; e += WG_SIZE) {
      let g = quad * 4u + e / C;
      if (g < GROUP_SIZE) {
        let out = ((qh0 + g) * maxSplits + split) * HEAD_SIZE + (e % C) * 4u;
        let a = accW[e];
        scratch[out] = a.x;
        scratch[out + 1u] = a.y;
        scratch[out + 2u] = a.z;
        scratch[out + 3u] = a.w;
      }
    }
    workgroupBarrier();
  }
}
