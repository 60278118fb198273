// pass_head.wgsl — the head a compression-pass kernel works on (the score-ordering kernels).
// Sources: after common/pool.wgsl and common/batch.wgsl; the kernel's `struct Seq` must start
// with `seqId` (src/contract.ts KERNEL_IO; test/unit/contract.test.ts checks it). A file of its
// own because kernels whose Seq rows carry no seqId (execute_cache_moves.wgsl) cannot compile it.

/** A compression pass lays its heads out [layer, k, kvHead] (CONTRACTS.md); `seg` is one of
 *  them. Returns the head's table index, taking the pass's seqIds from batch.seqs[·].seqId. */
fn passHeadIdx(seg: u32, numSeqs: u32) -> u32 {
  let kvHead = seg % NUM_KV_HEADS;
  let s = (seg / NUM_KV_HEADS) % numSeqs;
  let layer = seg / NUM_KV_HEADS / numSeqs;
  return headIdx(layer, batch.seqs[s].seqId, kvHead);
}
