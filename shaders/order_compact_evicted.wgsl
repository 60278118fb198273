// order_compact_evicted.wgsl — write each head's evicted logical indices in ASCENDING order as
// CSR (CONTRACTS.md "Compression pass data": evictedIdx, evictedOffsets), from the flags of
// order_mark_evicted.wgsl, with a workgroup prefix sum over chunks of WG_SIZE indices.
// Sources: common/pool.wgsl, common/batch.wgsl, common/pass_head.wgsl, this file.
// Bindings (group 0):
//   4 headTables     storage rw  (common/pool.wgsl)
//   6 batch          uniform     Args (numSeqs k, segLen, _, _); Seq (seqId, …)
//   7 flags          storage r   array<u32> [NUM_LAYERS, k, NUM_KV_HEADS, segLen]
//   8 evictedOffsets storage r   array<u32> [NUM_LAYERS · k · NUM_KV_HEADS + 1]
//   9 evictedIdx     storage rw  array<u32> [evictedOffsets[last]]
// Overrides: pool.wgsl's, WG_SIZE (power of two).
// Dispatch: NUM_LAYERS · k · NUM_KV_HEADS workgroups (2-D grid), one per head; the workgroup
//   walks its head's ctxLen in chunks of WG_SIZE.
// Roofline: 4 B read per KV, 4 B written per evicted KV; log2(WG_SIZE) barriers per chunk.

override WG_SIZE: u32;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { numSeqs: u32, segLen: u32 }
struct Seq { seqId: u32, seqLen: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(7) var<storage, read> flags: array<u32>;
@group(0) @binding(8) var<storage, read> evictedOffsets: array<u32>;
@group(0) @binding(9) var<storage, read_write> evictedIdx: array<u32>;

var<workgroup> scan: array<u32, WG_SIZE>;
var<workgroup> ctxShared: u32;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let numSeqs = batch.args.numSeqs;
  let segLen = batch.args.segLen;
  let seg = linearWorkgroup(wid, nwg);
  if (seg >= NUM_LAYERS * numSeqs * NUM_KV_HEADS) { return; }
  if (lid == 0u) { ctxShared = ctxLenOf(passHeadIdx(seg, numSeqs)); }
  let ctxLen = workgroupUniformLoad(&ctxShared);
  var written = evictedOffsets[seg];
  for (var base = 0u; base < ctxLen; base += WG_SIZE) {
    let i = base + lid;
    let f = select(0u, flags[seg * segLen + i], i < ctxLen);
    scan[lid] = f;
    workgroupBarrier();
    // Hillis–Steele inclusive scan.
    for (var off = 1u; off < WG_SIZE; off <<= 1u) {
      var add = 0u;
      if (lid >= off) { add = scan[lid - off]; }
      workgroupBarrier();
      scan[lid] += add;
      workgroupBarrier();
    }
    if (f == 1u) { evictedIdx[written + scan[lid] - 1u] = i; }
    let total = scan[WG_SIZE - 1u];
    workgroupBarrier();
    written += total;
  }
}
