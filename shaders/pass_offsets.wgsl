// pass_offsets.wgsl — each head's first move in the pass's move list (CSR in [layer, k, kvHead]
// order, as assembly/plan_moves.ts writes it) and the total: an exclusive scan of the heads' hole
// counts (pass_tally.wgsl), one workgroup walking the heads WG_SIZE at a time.
// Sources: common/pool.wgsl, common/batch.wgsl, common/pass_state.wgsl, this file.
// Bindings (group 0):
//   6 batch   uniform     Args (numSeqs k, chunksPerHead); Seq unused
//   7 state   storage rw  array<u32> (common/pass_state.wgsl): moveOff and holes written
//   8 tally   storage r   array<u32> [NUM_LAYERS · k · NUM_KV_HEADS, chunksPerHead, 2]
//   9 result  storage rw  array<u32>: word 0 = number of moves
// Overrides: pool.wgsl's, WG_SIZE (power of two).
// Dispatch: 1 workgroup.
// Roofline: 4 B read per chunk; log2(WG_SIZE) barriers per WG_SIZE heads.

override WG_SIZE: u32;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { numSeqs: u32, chunksPerHead: u32 }
struct Seq { _pad0: u32, _pad1: u32, _pad2: u32, _pad3: u32 }

@group(0) @binding(7) var<storage, read_write> state: array<u32>;
@group(0) @binding(8) var<storage, read> tally: array<u32>;
@group(0) @binding(9) var<storage, read_write> result: array<u32>;

var<workgroup> scan: array<u32, WG_SIZE>;
var<workgroup> carryShared: u32;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32) {
  let a = batch.args;
  let numSegs = NUM_LAYERS * a.numSeqs * NUM_KV_HEADS;
  if (lid == 0u) { carryShared = 0u; }
  for (var s0 = 0u; s0 < numSegs; s0 += WG_SIZE) {
    let seg = s0 + lid;
    var holes = 0u;
    if (seg < numSegs) {
      for (var c = 0u; c < a.chunksPerHead; c++) { holes += tally[2u * (seg * a.chunksPerHead + c)]; }
    }
    workgroupBarrier();
    scan[lid] = holes;
    workgroupBarrier();
    for (var off = 1u; off < WG_SIZE; off <<= 1u) {
      var add = 0u;
      if (lid >= off) { add = scan[lid - off]; }
      workgroupBarrier();
      scan[lid] += add;
      workgroupBarrier();
    }
    let carry = workgroupUniformLoad(&carryShared);
    if (seg < numSegs) {
      state[headWord(seg, 6u)] = carry + scan[lid] - holes;
      state[headWord(seg, 7u)] = holes;
    }
    workgroupBarrier();
    if (lid == WG_SIZE - 1u) { carryShared = carry + scan[lid]; }
  }
  workgroupBarrier();
  if (lid == 0u) { result[0] = carryShared; }
}
