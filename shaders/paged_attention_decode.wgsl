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
// Overrides: pool.wgsl's, HEAD_SIZE, BLOCKS_PER_SHARD, GROUP_SIZE, WG_SIZE (power of 2, ≥ 16),
//   MAX_SPLIT_KEYS (≥ splitKeys), LANES_PER_KEY (divides WG_SIZE), SINGLE_SHARD (1 when the
//   pool has one shard: every load reads kvShard0 directly, no per-load shard switch),
//   HOIST_SHARD (1: with several shards, choose the shard once per key in the score pass and
//   loop inside each case; off by default: not timed together with the multi-shard pipeline's
//   tree reductions, docs/bench/gpu.md v5).
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
override SINGLE_SHARD: u32;
override HOIST_SHARD: u32;

const NEG_BIG: f32 = -3.402823e38;

@group(0) @binding(7) var<storage, read> queries: array<vec4f>;
@group(0) @binding(8) var<storage, read_write> scratch: array<f32>;

// [quad·4 + g][chunk]: the scaled queries, zero for the padding heads of the last quad.
var<workgroup> qW: array<vec4f, (GROUP_SIZE + 3u) / 4u * HEAD_SIZE>;
// [quad][key]: scores, then exp(s − max), of the quad's 4 query heads.
var<workgroup> probs: array<vec4f, (GROUP_SIZE + 3u) / 4u * MAX_SPLIT_KEYS>;
var<workgroup> slotsW: array<u32, MAX_SPLIT_KEYS>;
// Scratch shared by the phases: partial dots of the score pass ([0, WG_SIZE)); the reductions of
// the softmax statistics (tree: [0, WG_SIZE); two-level: then [WG_SIZE, WG_SIZE + 16)); with one
// shard, the value accumulators of one quad per (g, lane, chunk) ([0, 4·lanes·C) ≤ 4·WG_SIZE).
// The one-shard pipeline uses the two-level / flat reductions, the multi-shard one the tree /
// per-lane ones: each pairing is the one measured on an H200 (docs/bench/gpu.md, v5).
var<workgroup> part: array<vec4f, select(WG_SIZE, 4u * WG_SIZE, SINGLE_SHARD == 1u)>;
// [g][chunk]: value accumulators of one quad, summed over lanes (multi-shard pipeline).
var<workgroup> accW: array<vec4f, HEAD_SIZE>;
var<workgroup> ctxShared: u32;

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

fn quadCount() -> u32 { return (GROUP_SIZE + 3u) / 4u; }

// Two barriers instead of log2(WG_SIZE) + 2: 16 invocations fold WG_SIZE / 16 values each into
// [WG_SIZE, WG_SIZE + 16), then every invocation folds those 16. A following call may start at
// once: its first writes go to [0, WG_SIZE), which nobody reads after this call's 2nd barrier.
fn wgMax(v: vec4f, lid: u32) -> vec4f {
  part[lid] = v;
  workgroupBarrier();
  if (lid < 16u) {
    var m = part[lid];
    for (var j = lid + 16u; j < WG_SIZE; j += 16u) { m = max(m, part[j]); }
    part[WG_SIZE + lid] = m;
  }
  workgroupBarrier();
  var r = vec4f(NEG_BIG);
  for (var j = 0u; j < 16u; j++) { r = max(r, part[WG_SIZE + j]); }
  return r;
}

fn wgSum(v: vec4f, lid: u32) -> vec4f {
  part[lid] = v;
  workgroupBarrier();
  if (lid < 16u) {
    var m = part[lid];
    for (var j = lid + 16u; j < WG_SIZE; j += 16u) { m += part[j]; }
    part[WG_SIZE + lid] = m;
  }
  workgroupBarrier();
  var r = vec4f(0.0);
  for (var j = 0u; j < 16u; j++) { r += part[WG_SIZE + j]; }
  return r;
}

// Partial dots of one key with the quad's 4 scaled queries (qW offset q), over chunks sub,
// sub + LANES_PER_KEY, …  One shard: plain loads the compiler can keep several of in flight.
// Several: kvLoad4's switch per load, or (HOIST_SHARD) one switch per key around the loop.
fn keyDots(slot: u32, sub: u32, q: u32) -> vec4f {
  let C = HEAD_SIZE / 4u;
  var acc = vec4f(0.0);
  if (SINGLE_SHARD == 0u && HOIST_SHARD == 0u) {
    for (var c = sub; c < C; c += LANES_PER_KEY) {
      let kv = kvLoad4(slot, 0u, c);
      acc += vec4f(dot(kv, qW[q + c]), dot(kv, qW[q + C + c]), dot(kv, qW[q + 2u * C + c]), dot(kv, qW[q + 3u * C + c]));
    }
    return acc;
  }
  let shard = select(kvShardOf(slot), 0u, SINGLE_SHARD == 1u);
  let base = kvChunkIdx(slot, 0u, 0u);
  switch shard {
    case 0u: {
      for (var c = sub; c < C; c += LANES_PER_KEY) {
        let kv = kvUnpack(kvShard0[base + c]);
        acc += vec4f(dot(kv, qW[q + c]), dot(kv, qW[q + C + c]), dot(kv, qW[q + 2u * C + c]), dot(kv, qW[q + 3u * C + c]));
      }
    }
    case 1u: {
      for (var c = sub; c < C; c += LANES_PER_KEY) {
        let kv = kvUnpack(kvShard1[base + c]);
        acc += vec4f(dot(kv, qW[q + c]), dot(kv, qW[q + C + c]), dot(kv, qW[q + 2u * C + c]), dot(kv, qW[q + 3u * C + c]));
      }
    }
    case 2u: {
      for (var c = sub; c < C; c += LANES_PER_KEY) {
        let kv = kvUnpack(kvShard2[base + c]);
        acc += vec4f(dot(kv, qW[q + c]), dot(kv, qW[q + C + c]), dot(kv, qW[q + 2u * C + c]), dot(kv, qW[q + 3u * C + c]));
      }
    }
    default: {
      for (var c = sub; c < C; c += LANES_PER_KEY) {
        let kv = kvUnpack(kvShard3[base + c]);
        acc += vec4f(dot(kv, qW[q + c]), dot(kv, qW[q + C + c]), dot(kv, qW[q + 2u * C + c]), dot(kv, qW[q + 3u * C + c]));
      }
    }
  }
  return acc;
}

// Chunk c of the value in `slot`; with one shard a plain load (no switch).
fn valueLoad(slot: u32, c: u32) -> vec4f {
  if (SINGLE_SHARD == 1u) { return kvUnpack(kvShard0[kvChunkIdx(slot, 1u, c)]); }
  return kvLoad4(slot, 1u, c);
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
      if (i < n) { acc = keyDots(slotsW[i], sub, quad * 4u * C); }
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
    var mAll: vec4f;
    if (SINGLE_SHARD == 1u) { mAll = wgMax(m, lid); } else { mAll = treeMax(m, lid); }
    var l = vec4f(0.0);
    for (var i = lid; i < n; i += WG_SIZE) {
      let p = exp(probs[quad * MAX_SPLIT_KEYS + i] - mAll);
      probs[quad * MAX_SPLIT_KEYS + i] = p;
      l += p;
    }
    var lAll: vec4f;
    if (SINGLE_SHARD == 1u) { lAll = wgSum(l, lid); } else { lAll = treeSum(l, lid); }
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
        let v0 = valueLoad(slotsW[i], c);
        let v1 = valueLoad(slotsW[i1], c);
        let v2 = valueLoad(slotsW[i2], c);
        let v3 = valueLoad(slotsW[i3], c);
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
    if (SINGLE_SHARD == 1u) {
      // One barrier instead of one per lane: every (g, lane, chunk) partial goes to its own cell
      // of part (4·lanes·C ≤ 4·WG_SIZE), then invocation e sums the lanes of (g, chunk) = e.
      if (isLane) {
        part[lane * C + c] = a0;
        part[(lanes + lane) * C + c] = a1;
        part[(2u * lanes + lane) * C + c] = a2;
        part[(3u * lanes + lane) * C + c] = a3;
      }
      workgroupBarrier();
      for (var e = lid; e < 4u * C; e += WG_SIZE) {
        let g4 = e / C;
        let cc = e % C;
        let g = quad * 4u + g4;
        if (g < GROUP_SIZE) {
          var a = part[g4 * lanes * C + cc];
          for (var ln = 1u; ln < lanes; ln++) { a += part[(g4 * lanes + ln) * C + cc]; }
          let out = ((qh0 + g) * maxSplits + split) * HEAD_SIZE + cc * 4u;
          scratch[out] = a.x;
          scratch[out + 1u] = a.y;
          scratch[out + 2u] = a.z;
          scratch[out + 3u] = a.w;
        }
      }
    } else {
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
    }
    workgroupBarrier();
  }
}
