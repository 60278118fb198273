// pool.wgsl — per-head block tables, lengths and per-slot metadata (docs/CONTRACTS.md).
// Bindings (group 0):
//   4 headTables storage rw array<i32>  [ctxLens: numLayers·maxSeqs·numKvHeads
//                                        | blockTables: [numLayers, maxSeqs, numKvHeads, maxBlocksPerHead]]
//   5 slotMeta   storage rw array<u32>  [slotMetrics (f32 bits): numBlocks·b | slotPositions: numBlocks·b]
// (The GPU mirrors pack two CONTRACTS arrays per buffer so no kernel needs more than the
//  spec-minimum 8 storage bindings; src/gpu/pool.ts owns the offsets.)
// Overrides: NUM_LAYERS, MAX_SEQS, NUM_KV_HEADS, MAX_BLOCKS_PER_HEAD, NUM_BLOCKS, BLOCK_SIZE.

override NUM_LAYERS: u32;
override MAX_SEQS: u32;
override NUM_KV_HEADS: u32;
override MAX_BLOCKS_PER_HEAD: u32;
override NUM_BLOCKS: u32;
override BLOCK_SIZE: u32;

@group(0) @binding(4) var<storage, read_write> headTables: array<i32>;
@group(0) @binding(5) var<storage, read_write> slotMeta: array<u32>;

fn headIdx(layer: u32, seqId: u32, kvHead: u32) -> u32 {
  return (layer * MAX_SEQS + seqId) * NUM_KV_HEADS + kvHead;
}


fn ctxLenOf(hIdx: u32) -> u32 { return u32(max(headTables[hIdx], 0)); }

/** Physical slot of logical index i of head hIdx (i < ctxLen, so the table entry is valid). */
fn slotOf(hIdx: u32, i: u32) -> u32 {
  let tableBase = NUM_LAYERS * MAX_SEQS * NUM_KV_HEADS + hIdx * MAX_BLOCKS_PER_HEAD;
  return u32(headTables[tableBase + i / BLOCK_SIZE]) * BLOCK_SIZE + i % BLOCK_SIZE;
}

fn metricOf(slot: u32) -> f32 { return bitcast<f32>(slotMeta[slot]); }
fn setMetric(slot: u32, m: f32) { slotMeta[slot] = bitcast<u32>(m); }
fn positionOf(slot: u32) -> u32 { return slotMeta[NUM_BLOCKS * BLOCK_SIZE + slot]; }
fn setPosition(slot: u32, p: u32) { slotMeta[NUM_BLOCKS * BLOCK_SIZE + slot] = p; }
