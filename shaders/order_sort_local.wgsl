// order_sort_local.wgsl — the workgroup-local stages of the segmented bitonic sort: each
// workgroup sorts (or finishes merging) its LOCAL = 2·WG_SIZE consecutive elements in
// workgroup memory. Segments are aligned powers of two ≥ LOCAL, so no compare crosses one.
// Sources: common/batch.wgsl, this file.
// Bindings (group 0):
//   6 batch    uniform     Args (kFrom, kTo, _, _): for block sizes k = kFrom, 2·kFrom … kTo,
//                          steps j = min(k/2, LOCAL/2) … 1 (k ≤ LOCAL: the first step is the flip)
//   7 sortBuf  storage rw  array<vec4u> (order_gather.wgsl)
// Overrides: WG_SIZE (power of two).
// Dispatch: totalElems / LOCAL workgroups (2-D grid).
// Invariant: "flip" form of bitonic sort — step j = k/2 compares i with i ^ (k − 1), the others
//   i with i + j — so every block of size k ends ASCENDING by (score bits, position).
// Roofline: 2 × 16 B per element per launch; log²(LOCAL)/2 compare steps in shared memory.

override WG_SIZE: u32;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { firstBlockLen: u32, lastBlockLen: u32 }
struct Seq { _pad0: u32, _pad1: u32, _pad2: u32, _pad3: u32 }

@group(0) @binding(7) var<storage, read_write> sortBuf: array<vec4u>;

var<workgroup> tileW: array<vec4u, 2u * WG_SIZE>;

fn lessKey(a: vec4u, b: vec4u) -> bool { return a.x < b.x || (a.x == b.x && a.y < b.y); }

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let LOCAL = 2u * WG_SIZE;
  let base = linearWorkgroup(wid, nwg) * LOCAL;
  tileW[lid] = sortBuf[base + lid];
  tileW[lid + WG_SIZE] = sortBuf[base + lid + WG_SIZE];
  workgroupBarrier();
  for (var k = batch.args.firstBlockLen; k <= batch.args.lastBlockLen; k <<= 1u) {
    for (var j = min(k / 2u, WG_SIZE); j > 0u; j >>= 1u) {
      var i: u32;
      var p: u32;
      if (j == k / 2u) {
        i = (lid / j) * k + lid % j;
        p = i ^ (k - 1u);
      } else {
        i = (lid / j) * 2u * j + lid % j;
        p = i + j;
      }
      let a = tileW[i];
      let b = tileW[p];
      if (lessKey(b, a)) {
        tileW[i] = b;
        tileW[p] = a;
      }
      workgroupBarrier();
    }
  }
  sortBuf[base + lid] = tileW[lid];
  sortBuf[base + lid + WG_SIZE] = tileW[lid + WG_SIZE];
}
