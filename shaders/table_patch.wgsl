// table_patch.wgsl — writes scattered words of headTables from a list of (word, value) pairs:
// the lengths and new block-table entries the control plane gave the sequences of one decode
// step (src/gpu/backend.ts syncReservedMany). One upload and one dispatch in place of a
// writeBuffer per (layer, sequence) and per new block, which cost ~8 µs each on Dawn/NVIDIA
// (~30 ms a step at 128 sequences of a 16-layer model; docs/BENCHMARKS.md, serving).
// Sources: common/pool.wgsl, common/batch.wgsl, this file.
// Bindings (group 0):
//   4 headTables storage rw  array<i32> (common/pool.wgsl)
//   6 batch      uniform     Batch Args (firstPatch, numPatches)
//   7 patches    storage r   array<vec2u> (word index into headTables, value's bits)
// Overrides: pool.wgsl's, WG_SIZE.
// Dispatch: ceil(numPatches / WG_SIZE) workgroups (2-D grid); one invocation per pair.
// Invariant: the word indices of one dispatch are distinct, so the writes are order-free.
// Roofline: 8 B read and 4 B written per pair, no FLOPs.

override WG_SIZE: u32;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { firstPatch: u32, numPatches: u32 }
struct Seq { _pad0: u32, _pad1: u32, _pad2: u32, _pad3: u32 }

@group(0) @binding(7) var<storage, read> patches: array<vec2u>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let item = linearWorkgroup(wid, nwg) * WG_SIZE + lid;
  if (item >= batch.args.numPatches) { return; }
  let p = patches[batch.args.firstPatch + item];
  headTables[p.x] = bitcast<i32>(p.y);
}
