// order_mark_evicted.wgsl — after the scheduler chose n per head: flag each KV among its head's
// n lowest (sorted ranks < n) by LOGICAL index, for order_compact_evicted.wgsl.
// Sources: common/pool.wgsl, common/batch.wgsl, common/pass_head.wgsl, this file.
// Bindings (group 0):
//   4 headTables  storage rw  (common/pool.wgsl)
//   6 batch       uniform     Args (numSeqs k, segLen, _, _); Seq (seqId, …)
//   7 sortBuf     storage r   array<vec4u> (sorted, order_gather.wgsl)
//   8 evictCounts storage r   array<i32> [NUM_LAYERS, k, NUM_KV_HEADS] (n per head)
//   9 flags       storage rw  array<u32> [NUM_LAYERS, k, NUM_KV_HEADS, segLen], 1 = evicted
// Overrides: pool.wgsl's, WG_SIZE.
// Dispatch: ceil(NUM_LAYERS · k · NUM_KV_HEADS · segLen / WG_SIZE) workgroups (2-D grid).
// Invariant: ranks < ctxLen hold each logical index < ctxLen exactly once, so every flag the
//   compaction reads is written exactly once.

override WG_SIZE: u32;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { numSeqs: u32, segLen: u32 }
struct Seq { seqId: u32, seqLen: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(7) var<storage, read> sortBuf: array<vec4u>;
@group(0) @binding(8) var<storage, read> evictCounts: array<i32>;
@group(0) @binding(9) var<storage, read_write> flags: array<u32>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let numSeqs = batch.args.numSeqs;
  let segLen = batch.args.segLen;
  let e = linearWorkgroup(wid, nwg) * WG_SIZE + lid;
  if (e >= NUM_LAYERS * numSeqs * NUM_KV_HEADS * segLen) { return; }
  let seg = e / segLen;
  let rank = e % segLen;
  if (rank >= ctxLenOf(passHeadIdx(seg, numSeqs))) { return; }
  let n = u32(max(evictCounts[seg], 0));
  flags[seg * segLen + sortBuf[e].z] = select(0u, 1u, rank < n);
}
