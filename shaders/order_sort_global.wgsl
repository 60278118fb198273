// order_sort_global.wgsl — one global compare step (block size k, distance j ≥ LOCAL) of the
// segmented bitonic sort, for merges wider than a workgroup (see order_sort_local.wgsl).
// Sources: common/batch.wgsl, this file.
// Bindings (group 0):
//   6 batch    uniform     Args (k, j, numPairs, _)
//   7 sortBuf  storage rw  array<vec4u> (order_gather.wgsl)
// Overrides: WG_SIZE.
// Dispatch: ceil(numPairs / WG_SIZE) workgroups (2-D grid), numPairs = totalElems / 2.
// Invariant: j = k/2 is the flip step (i ↔ i ^ (k − 1)), else i ↔ i + j; lower index keeps the
//   smaller (score bits, position). Each element is touched by exactly one invocation.
// Roofline: 2 × 2 × 16 B per pair per step; log2(segLen / LOCAL) · (…) launches per sort.

override WG_SIZE: u32;

// Batch uniform fields (src/contract.ts KERNEL_IO)
struct Args { blockLen: u32, stride: u32, numPairs: u32 }
struct Seq { _pad0: u32, _pad1: u32, _pad2: u32, _pad3: u32 }

@group(0) @binding(7) var<storage, read_write> sortBuf: array<vec4u>;

fn lessKey(a: vec4u, b: vec4u) -> bool { return a.x < b.x || (a.x == b.x && a.y < b.y); }

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let k = batch.args.blockLen;
  let j = batch.args.stride;
  let t = linearWorkgroup(wid, nwg) * WG_SIZE + lid;
  if (t >= batch.args.numPairs) { return; }
  var i: u32;
  var p: u32;
  if (j == k / 2u) {
    i = (t / j) * k + t % j;
    p = i ^ (k - 1u);
  } else {
    i = (t / j) * 2u * j + t % j;
    p = i + j;
  }
  let a = sortBuf[i];
  let b = sortBuf[p];
  if (lessKey(b, a)) {
    sortBuf[i] = b;
    sortBuf[p] = a;
  }
}
