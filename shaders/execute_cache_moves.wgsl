// execute_cache_moves.wgsl — copy surviving KVs into evicted holes (docs/METHOD.md §2.5,
// CONTRACTS.md "Compression pass data"): key, value, metric and position move together.
// Sources: common/pool.wgsl, common/batch.wgsl, common/kv_{f32,f16,q8,q4}.wgsl, this file.
// Bindings (group 0):
//   0..3 kvShard*   storage rw  (common/kv_*.wgsl)
//   5    slotMeta   storage rw  array<u32>  (common/pool.wgsl)
//   6    batch      uniform     Batch Args (moveBase, numMoves, _, _)
//   7    moves      storage r   array<vec2u> (dstSlot, srcSlot), all heads' moves, CSR order
// Overrides: pool.wgsl's, the kv include's (HEAD_SIZE, BLOCKS_PER_SHARD[, RECORD_WORDS]), WG_SIZE.
// Dispatch: ceil(numMoves · kvUnitsPerVec() / WG_SIZE) workgroups (2-D grid); one invocation per
//   (move, stored unit): a chunk of 4 elements (f32/f16) or a u32 of the record (q8/q4: scale
//   words and codes move as they are, nothing is re-quantized); unit 0 also moves metric and position.
// Invariant: per head, sources lie in the tail [ctxLen − n, ctxLen) and destinations below it,
//   so no slot is both read and written: all moves are independent and order-free.
// Roofline: per move 2·(2·blockBytes / b) + 16 B, no FLOPs: bandwidth-bound.

override WG_SIZE: u32;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { firstMove: u32, numMoves: u32 }
struct Seq { _pad0: u32, _pad1: u32, _pad2: u32, _pad3: u32 }

@group(0) @binding(7) var<storage, read> moves: array<vec2u>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let units = kvUnitsPerVec();
  let item = linearWorkgroup(wid, nwg) * WG_SIZE + lid;
  if (item >= batch.args.numMoves * units) { return; }
  let mv = moves[batch.args.firstMove + item / units];
  let c = item % units;
  kvStoreUnit(mv.x, 0u, c, kvLoadUnit(mv.y, 0u, c));
  kvStoreUnit(mv.x, 1u, c, kvLoadUnit(mv.y, 1u, c));
  if (c == 0u) {
    setMetric(mv.x, metricOf(mv.y));
    setPosition(mv.x, positionOf(mv.y));
  }
}
