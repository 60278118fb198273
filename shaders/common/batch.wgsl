// batch.wgsl — the per-dispatch uniform every kernel reads (written by src/gpu/dispatch.ts).
// Binding (group 0): 6 batch uniform Batch. args: 8 kernel-specific u32 (named by accessors
// in each kernel); seqs[k]: 4 u32 per sequence of the batch, meaning given in each kernel.
// MAX_BATCH_SEQS mirrors src/layout.ts MAX_BATCH_SEQS (a uniform array needs a fixed length);
// host wrappers split larger batches into several dispatches.

const MAX_BATCH_SEQS: u32 = 64u;

struct Batch {
  args0: vec4u,
  args1: vec4u,
  seqs: array<vec4u, 64>,
}

@group(0) @binding(6) var<uniform> batch: Batch;

/** Linear workgroup id of a 2-D grid (grids are 2-D so no dimension exceeds its limit). */
fn linearWorkgroup(wid: vec3u, nwg: vec3u) -> u32 { return wid.x + wid.y * nwg.x; }
