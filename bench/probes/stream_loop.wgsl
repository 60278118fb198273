// stream_loop.wgsl — bench probe (not shipped): the decode kernel's K/V access pattern with no
// arithmetic but a running sum: the memory side alone (bench/decode.bench.ts, BENCH_PROBES=1).
// Sources: common/pool.wgsl, common/batch.wgsl, common/kv_f16.wgsl, this file.
// Bindings: 0 kvShard0 (f16 pool, one shard), 4 headTables, 6 batch (the decode kernel's Args: numSeqs, splitKeys,
//   maxSplits), 8 out (one vec4f per invocation).
// Dispatch: numSeqs · NUM_KV_HEADS · maxSplits workgroups; lane c of key group g reads chunk c.
// Roofline: reads 2·d·2 B per key (K and V), writes 16 B per invocation: a pure read stream.
// Batch uniform fields: the decode kernel's (src/contract.ts KERNEL_IO.decode)
struct Args { layer: u32, numSeqs: u32, splitKeys: u32, maxSplits: u32, metricMode: u32, scoresOffset: u32, mlOffset: u32, scoresStride: u32 }
struct Seq { seqId: u32, qRow: u32, _pad0: u32, _pad1: u32 }
override WG_SIZE: u32;
override MAX_SPLIT_KEYS: u32;
@group(0) @binding(8) var<storage, read_write> out: array<vec4f>;
var<workgroup> blocksW: array<u32, MAX_SPLIT_KEYS / BLOCK_SIZE>;
const J: u32 = 8u;
@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let C = HEAD_SIZE / 4u;
  let G = WG_SIZE / C;
  let wg = linearWorkgroup(wid, nwg);
  let maxSplits = batch.args.maxSplits;
  let split = wg % maxSplits;
  let kvHead = (wg / maxSplits) % NUM_KV_HEADS;
  let k = wg / maxSplits / NUM_KV_HEADS;
  let hIdx = headIdx(0u, k, kvHead);
  let n = batch.args.splitKeys;
  let start = split * n;
  let tableBase = NUM_LAYERS * MAX_SEQS * NUM_KV_HEADS + hIdx * MAX_BLOCKS_PER_HEAD + start / BLOCK_SIZE;
  for (var b = lid; b < n / BLOCK_SIZE; b += WG_SIZE) { blocksW[b] = u32(headTables[tableBase + b]); }
  workgroupBarrier();
  let g = lid / C;
  let c = lid % C;
  var acc = vec4f(0.0);
  for (var i0 = 0u; i0 < n; i0 += J * G) {
    for (var j = 0u; j < J; j++) {
      let i = i0 + j * G + g;
      let ik = (blocksW[i / BLOCK_SIZE] * 2u * BLOCK_SIZE + i % BLOCK_SIZE) * C + c;
      acc += kvUnpack(kvShard0[ik]) + kvUnpack(kvShard0[ik + BLOCK_SIZE * C]);
    }
  }
  out[wg * WG_SIZE + lid] = acc;
}
