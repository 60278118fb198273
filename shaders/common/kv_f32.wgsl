// kv_f32.wgsl — KV shard access for f32 storage (docs/CONTRACTS.md "KV storage").
// Concatenated in front of a kernel that touches KV data; the f16 twin is kv_f16.wgsl with
// the same function names. A "chunk" is 4 consecutive elements of one key or value vector
// (16 bytes here); HEAD_SIZE is a multiple of 4, so a head vector is HEAD_SIZE / 4 chunks.
// Bindings (group 0): 0..3 kvShard0..3 storage rw array<vec4f>
//   [localBlock, 2 (0 key, 1 value), BLOCK_SIZE, HEAD_SIZE / 4]; unused shards bound to a dummy.
// Overrides: HEAD_SIZE, BLOCKS_PER_SHARD declared here; BLOCK_SIZE comes from pool.wgsl.

override HEAD_SIZE: u32;
override BLOCKS_PER_SHARD: u32;

@group(0) @binding(0) var<storage, read_write> kvShard0: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> kvShard1: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> kvShard2: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> kvShard3: array<vec4f>;

/** Chunks per head vector. */
/** One stored chunk (4 elements) as it sits in a shard: kernels keep it packed in registers. */
alias KvChunk = vec4f;

fn kvChunksPerHead() -> u32 { return HEAD_SIZE / 4u; }

/** Chunk index, within its shard, of chunk `c` of the key (kv = 0) or value (kv = 1) in `slot`. */
fn kvChunkIdx(slot: u32, kv: u32, c: u32) -> u32 {
  let localBlock = (slot / BLOCK_SIZE) % BLOCKS_PER_SHARD;
  return ((localBlock * 2u + kv) * BLOCK_SIZE + slot % BLOCK_SIZE) * (HEAD_SIZE / 4u) + c;
}

fn kvShardOf(slot: u32) -> u32 { return slot / BLOCK_SIZE / BLOCKS_PER_SHARD; }

/** One stored chunk as 4 f32 (identity here; kv_f16.wgsl unpacks): lets a kernel index a shard itself. */
fn kvUnpack(w: vec4f) -> vec4f { return w; }
/** Chunk c (of its row) of a loaded chunk; c matters to q4 only (common/kv_q4.wgsl). */
fn kvUnpackAt(w: KvChunk, c: u32) -> vec4f { return w; }

fn kvLoad4(slot: u32, kv: u32, c: u32) -> vec4f {
  let i = kvChunkIdx(slot, kv, c);
  switch kvShardOf(slot) {
    case 0u: { return kvShard0[i]; }
    case 1u: { return kvShard1[i]; }
    case 2u: { return kvShard2[i]; }
    default: { return kvShard3[i]; }
  }
}

fn kvStore4(slot: u32, kv: u32, c: u32, v: vec4f) {
  let i = kvChunkIdx(slot, kv, c);
  switch kvShardOf(slot) {
    case 0u: { kvShard0[i] = v; }
    case 1u: { kvShard1[i] = v; }
    case 2u: { kvShard2[i] = v; }
    default: { kvShard3[i] = v; }
  }
}

// Reads of chunk index i from one shard binding (the decode kernels index shards themselves).
fn kvRead0(i: u32) -> KvChunk { return kvShard0[i]; }
fn kvRead1(i: u32) -> KvChunk { return kvShard1[i]; }
fn kvRead2(i: u32) -> KvChunk { return kvShard2[i]; }
fn kvRead3(i: u32) -> KvChunk { return kvShard3[i]; }

// Raw units for execute_cache_moves.wgsl: a stored chunk, copied as it is.
alias KvUnit = KvChunk;
fn kvUnitsPerVec() -> u32 { return HEAD_SIZE / 4u; }
fn kvLoadUnit(slot: u32, kv: u32, u: u32) -> KvUnit {
  let i = kvChunkIdx(slot, kv, u);
  switch kvShardOf(slot) {
    case 0u: { return kvShard0[i]; }
    case 1u: { return kvShard1[i]; }
    case 2u: { return kvShard2[i]; }
    default: { return kvShard3[i]; }
  }
}
fn kvStoreUnit(slot: u32, kv: u32, u: u32, w: KvUnit) {
  let i = kvChunkIdx(slot, kv, u);
  switch kvShardOf(slot) {
    case 0u: { kvShard0[i] = w; }
    case 1u: { kvShard1[i] = w; }
    case 2u: { kvShard2[i] = w; }
    default: { kvShard3[i] = w; }
  }
}
