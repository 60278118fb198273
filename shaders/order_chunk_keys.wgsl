// order_chunk_keys.wgsl — the scheduler's chunk keys from the sorted segments (docs/METHOD.md §2.4;
// CONTRACTS.md): head with ctxLen c > 0, numHeadBlocks = ceil(c / b), a = c − (numHeadBlocks − 1)·b;
// key j = sorted[j·b + a − 1].score for j < numHeadBlocks, else +inf. Only these ~1/b of the
// scores are read back.
// Sources: common/pool.wgsl, common/batch.wgsl, common/pass_head.wgsl, this file.
// Bindings (group 0):
//   4 headTables storage rw  (common/pool.wgsl)
//   6 batch      uniform     Args (numSeqs k, segLen, _, _); Seq (seqId, …)
//   7 sortBuf    storage r   array<vec4u> (sorted, order_gather.wgsl)
//   8 chunkKeys  storage rw  array<u32> f32 bits [NUM_LAYERS, k, NUM_KV_HEADS, MAX_BLOCKS_PER_HEAD]
//                            (written as bits: WGSL may not form +inf as an f32 value)
// Overrides: pool.wgsl's, WG_SIZE.
// Dispatch: ceil(NUM_LAYERS · k · NUM_KV_HEADS · MAX_BLOCKS_PER_HEAD / WG_SIZE) (2-D grid).
// Roofline: 16 B read, 4 B written per block.

override WG_SIZE: u32;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { numSeqs: u32, segLen: u32 }
struct Seq { seqId: u32, seqLen: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(7) var<storage, read> sortBuf: array<vec4u>;
@group(0) @binding(8) var<storage, read_write> chunkKeys: array<u32>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let numSeqs = batch.args.numSeqs;
  let segLen = batch.args.segLen;
  let e = linearWorkgroup(wid, nwg) * WG_SIZE + lid;
  if (e >= NUM_LAYERS * numSeqs * NUM_KV_HEADS * MAX_BLOCKS_PER_HEAD) { return; }
  let seg = e / MAX_BLOCKS_PER_HEAD;
  let j = e % MAX_BLOCKS_PER_HEAD;
  let c = ctxLenOf(passHeadIdx(seg, numSeqs));
  let numHeadBlocks = (c + BLOCK_SIZE - 1u) / BLOCK_SIZE;
  var key = 0x7f800000u; // +inf
  if (j < numHeadBlocks) {
    let a = c - (numHeadBlocks - 1u) * BLOCK_SIZE;
    key = sortBuf[seg * segLen + j * BLOCK_SIZE + a - 1u].x;
  }
  chunkKeys[e] = key;
}
