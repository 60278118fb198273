// batch.wgsl — the per-dispatch uniform every kernel reads (packed by src/gpu/dispatch.ts
// BatchRing from named fields, src/contract.ts packUniform).
// Binding (group 0): 6 batch uniform Batch. Each kernel file declares its own `struct Args`
// (at most 8 u32 fields) and `struct Seq` (exactly 4 u32 fields; `_` names are padding); their
// field names are written once in src/contract.ts KERNEL_IO and checked by
// test/unit/contract.test.ts. Host wrappers split batches larger than MAX_BATCH_SEQS.

const MAX_BATCH_SEQS: u32 = 64u;

// @align(16): Seq rows start at the next multiple of 16 after Args, on every implementation (the
// uniform layout rules are checks in WGSL, relaxed by uniform_buffer_standard_layout, not padding).
struct Batch {
  args: Args,
  @align(16) seqs: array<Seq, 64>,
}

@group(0) @binding(6) var<uniform> batch: Batch;

/** Linear workgroup id of a 2-D grid (grids are 2-D so no dimension exceeds its limit). */
fn linearWorkgroup(wid: vec3u, nwg: vec3u) -> u32 { return wid.x + wid.y * nwg.x; }
