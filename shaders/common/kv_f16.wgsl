// kv_f16.wgsl — KV shard access for packed-f16 storage (docs/CONTRACTS.md "KV storage").
// Same functions as kv_f32.wgsl. Two halves per u32 (pack2x16float, core WGSL: no shader-f16
// needed); a chunk of 4 elements is one vec2u (8 bytes). Arithmetic stays f32.
// Bindings (group 0): 0..3 kvShard0..3 storage rw array<vec2u>
//   [localBlock, 2 (0 key, 1 value), BLOCK_SIZE, HEAD_SIZE / 4]; unused shards bound to a dummy.
// Overrides: HEAD_SIZE, BLOCKS_PER_SHARD declared here; BLOCK_SIZE comes from pool.wgsl.

override HEAD_SIZE: u32;
override BLOCKS_PER_SHARD: u32;

@group(0) @binding(0) var<storage, read_write> kvShard0: array<vec2u>;
@group(0) @binding(1) var<storage, read_write> kvShard1: array<vec2u>;
@group(0) @binding(2) var<storage, read_write> kvShard2: array<vec2u>;
@group(0) @binding(3) var<storage, read_write> kvShard3: array<vec2u>;

/** One stored chunk (4 elements) as it sits in a shard: kernels keep it packed in registers. */
alias KvChunk = vec2u;

fn kvChunksPerHead() -> u32 { return HEAD_SIZE / 4u; }

fn kvChunkIdx(slot: u32, kv: u32, c: u32) -> u32 {
  let localBlock = (slot / BLOCK_SIZE) % BLOCKS_PER_SHARD;
  return ((localBlock * 2u + kv) * BLOCK_SIZE + slot % BLOCK_SIZE) * (HEAD_SIZE / 4u) + c;
}

fn kvShardOf(slot: u32) -> u32 { return slot / BLOCK_SIZE / BLOCKS_PER_SHARD; }

fn kvUnpack(w: vec2u) -> vec4f { return vec4f(unpack2x16float(w.x), unpack2x16float(w.y)); }
/** Chunk c (of its row) of a loaded chunk; c matters to q4 only (common/kv_q4.wgsl). */
fn kvUnpackAt(w: KvChunk, c: u32) -> vec4f { return kvUnpack(w); }

fn kvLoad4(slot: u32, kv: u32, c: u32) -> vec4f {
  let i = kvChunkIdx(slot, kv, c);
  switch kvShardOf(slot) {
    case 0u: { return kvUnpack(kvShard0[i]); }
    case 1u: { return kvUnpack(kvShard1[i]); }
    case 2u: { return kvUnpack(kvShard2[i]); }
    default: { return kvUnpack(kvShard3[i]); }
  }
}

fn kvStore4(slot: u32, kv: u32, c: u32, v: vec4f) {
  let i = kvChunkIdx(slot, kv, c);
  let w = vec2u(pack2x16float(v.xy), pack2x16float(v.zw));
  switch kvShardOf(slot) {
    case 0u: { kvShard0[i] = w; }
    case 1u: { kvShard1[i] = w; }
    case 2u: { kvShard2[i] = w; }
    default: { kvShard3[i] = w; }
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
