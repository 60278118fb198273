// copy_buffer.wgsl — plain copy, the bandwidth roofline the decode bench compares against
// (docs/METHOD.md §6). Not used by the SDK at run time.
// Sources: common/batch.wgsl, this file.
// Bindings (group 0):
//   6 batch  uniform     Args (numVec4, _, _, _)
//   7 src    storage r   array<vec4u>
//   8 dst    storage rw  array<vec4u>
// Overrides: WG_SIZE.
// Dispatch: ceil(numVec4 / (WG_SIZE · 4)) workgroups (2-D grid); each invocation copies 4
//   vec4u, strided by WG_SIZE so every load instruction is coalesced.
// Roofline: 32 B moved (16 read + 16 written) per vec4u.

override WG_SIZE: u32;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { numVec4: u32 }
struct Seq { _pad0: u32, _pad1: u32, _pad2: u32, _pad3: u32 }

@group(0) @binding(7) var<storage, read> src: array<vec4u>;
@group(0) @binding(8) var<storage, read_write> dst: array<vec4u>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let base = linearWorkgroup(wid, nwg) * WG_SIZE * 4u + lid;
  let n = batch.args.numVec4;
  for (var r = 0u; r < 4u; r++) {
    let i = base + r * WG_SIZE;
    if (i < n) { dst[i] = src[i]; }
  }
}
