// kv_q4_before.wgsl — BENCH ONLY: shaders/common/kv_q4.wgsl before its int→float-free dequantization (2026-12-02), for before/after timing in bench/decode.bench.ts. KV shard access for 4-bit storage (docs/QUANTIZATION.md; CONTRACTS.md "KV storage").
// The same functions as kv_f32.wgsl, plus the group quantizer append_kv_quant.wgsl calls. A slot's
// key (or value) is a record of RECORD_WORDS u32: ceil(d / 32) scale words pack2x16float(s, m),
// then d / 8 code words (element 8w + e in bits 4e..4e+3 of word w; d a multiple of 8), so
// chunk c is the half-word 16 · (c % 2) of word c / 2. Loads dequantize one chunk
// (4 elements) in registers, code · s + m in f32; there is no dequantized copy of the cache.
// A chunk index (kvChunkIdx, common/decode_split.wgsl chunkIdx) keeps the f32 numbering: record
// i / (d / 4), chunk i % (d / 4), so the decode kernels index shards through kvRead0..3.
// Bindings (group 0): 0..3 kvShard0..3 storage rw array<u32>
//   [localBlock, 2 (0 key, 1 value), BLOCK_SIZE, RECORD_WORDS]; unused shards bound to a dummy.
// Overrides: HEAD_SIZE, BLOCKS_PER_SHARD, RECORD_WORDS declared here; BLOCK_SIZE from pool.wgsl.

override HEAD_SIZE: u32;
override BLOCKS_PER_SHARD: u32;
override RECORD_WORDS: u32;

const QUANT_GROUP: u32 = 32u;
const QUANT_LEVELS: f32 = 15.0;

@group(0) @binding(0) var<storage, read_write> kvShard0: array<u32>;
@group(0) @binding(1) var<storage, read_write> kvShard1: array<u32>;
@group(0) @binding(2) var<storage, read_write> kvShard2: array<u32>;
@group(0) @binding(3) var<storage, read_write> kvShard3: array<u32>;

/** One loaded chunk: (its 16 code bits in the low half, its group's scale word), for kvUnpack. */
alias KvChunk = vec2u;

fn kvChunksPerHead() -> u32 { return HEAD_SIZE / 4u; }
fn kvGroupsPerHead() -> u32 { return (HEAD_SIZE + QUANT_GROUP - 1u) / QUANT_GROUP; }

fn kvChunkIdx(slot: u32, kv: u32, c: u32) -> u32 {
  let localBlock = (slot / BLOCK_SIZE) % BLOCKS_PER_SHARD;
  return ((localBlock * 2u + kv) * BLOCK_SIZE + slot % BLOCK_SIZE) * (HEAD_SIZE / 4u) + c;
}

fn kvShardOf(slot: u32) -> u32 { return slot / BLOCK_SIZE / BLOCKS_PER_SHARD; }

/** First word, within its shard, of the record of chunk index i. */
fn kvRecordBase(i: u32) -> u32 { return (i / (HEAD_SIZE / 4u)) * RECORD_WORDS; }
fn kvCodeWord(i: u32) -> u32 { return kvRecordBase(i) + kvGroupsPerHead() + (i % (HEAD_SIZE / 4u)) / 2u; }
fn kvCodeShift(i: u32) -> u32 { return 16u * (i % 2u); }
fn kvScaleWord(i: u32) -> u32 { return kvRecordBase(i) + (i % (HEAD_SIZE / 4u)) / (QUANT_GROUP / 4u); }

fn kvRead0(i: u32) -> KvChunk { return vec2u(kvShard0[kvCodeWord(i)] >> kvCodeShift(i), kvShard0[kvScaleWord(i)]); }
fn kvRead1(i: u32) -> KvChunk { return vec2u(kvShard1[kvCodeWord(i)] >> kvCodeShift(i), kvShard1[kvScaleWord(i)]); }
fn kvRead2(i: u32) -> KvChunk { return vec2u(kvShard2[kvCodeWord(i)] >> kvCodeShift(i), kvShard2[kvScaleWord(i)]); }
fn kvRead3(i: u32) -> KvChunk { return vec2u(kvShard3[kvCodeWord(i)] >> kvCodeShift(i), kvShard3[kvScaleWord(i)]); }

fn kvUnpack(w: KvChunk) -> vec4f {
  let sm = unpack2x16float(w.y);
  let codes = vec4f((vec4u(w.x) >> vec4u(0u, 4u, 8u, 12u)) & vec4u(15u));
  return codes * sm.x + sm.y;
}

fn kvLoad4(slot: u32, kv: u32, c: u32) -> vec4f {
  let i = kvChunkIdx(slot, kv, c);
  switch kvShardOf(slot) {
    case 0u: { return kvUnpack(kvRead0(i)); }
    case 1u: { return kvUnpack(kvRead1(i)); }
    case 2u: { return kvUnpack(kvRead2(i)); }
    default: { return kvUnpack(kvRead3(i)); }
  }
}

// Raw units for execute_cache_moves.wgsl: a record is RECORD_WORDS words, copied as they are.
alias KvUnit = u32;
fn kvUnitsPerVec() -> u32 { return RECORD_WORDS; }
fn kvUnitIdx(slot: u32, kv: u32, u: u32) -> u32 {
  let localBlock = (slot / BLOCK_SIZE) % BLOCKS_PER_SHARD;
  return ((localBlock * 2u + kv) * BLOCK_SIZE + slot % BLOCK_SIZE) * RECORD_WORDS + u;
}
fn kvLoadUnit(slot: u32, kv: u32, u: u32) -> KvUnit {
  let i = kvUnitIdx(slot, kv, u);
  switch kvShardOf(slot) {
    case 0u: { return kvShard0[i]; }
    case 1u: { return kvShard1[i]; }
    case 2u: { return kvShard2[i]; }
    default: { return kvShard3[i]; }
  }
}
fn kvStoreUnit(slot: u32, kv: u32, u: u32, w: KvUnit) {
  let i = kvUnitIdx(slot, kv, u);
  switch kvShardOf(slot) {
    case 0u: { kvShard0[i] = w; }
    case 1u: { kvShard1[i] = w; }
    case 2u: { kvShard2[i] = w; }
    default: { kvShard3[i] = w; }
  }
}

/** Group (s, m) for elements in [lo, hi], rounded to f16 as stored: the word and its f32 values. */
fn kvGroupScale(lo: f32, hi: f32) -> u32 { return pack2x16float(vec2f((hi - lo) / QUANT_LEVELS, lo)); }

/** The code of x: the level whose dequantized value is nearest x (ties: the lower level). */
fn kvCode(x: f32, sm: vec2f) -> u32 {
  if (sm.x == 0.0) { return 0u; }
  let q0 = clamp(round((x - sm.y) / sm.x), 0.0, QUANT_LEVELS);
  var best = max(q0 - 1.0, 0.0);
  var err = abs((best * sm.x + sm.y) - x);
  for (var q = best + 1.0; q <= min(q0 + 1.0, QUANT_LEVELS); q += 1.0) {
    let e = abs((q * sm.x + sm.y) - x);
    if (e < err) { best = q; err = e; }
  }
  return u32(best);
}

/** The 16 code bits of one chunk (4 elements) of a group with scale sm. */
fn kvPackCodes(x: vec4f, sm: vec2f) -> u32 {
  return kvCode(x.x, sm) | (kvCode(x.y, sm) << 4u) | (kvCode(x.z, sm) << 8u) | (kvCode(x.w, sm) << 12u);
}

/** Stores group g's scale word and the code words of its chunks x[0..n) into slot's record. */
fn kvStoreGroup(slot: u32, kv: u32, g: u32, x: array<vec4f, 8>, n: u32) {
  var lo = x[0].x;
  var hi = x[0].x;
  for (var j = 0u; j < n; j++) {
    lo = min(lo, min(min(x[j].x, x[j].y), min(x[j].z, x[j].w)));
    hi = max(hi, max(max(x[j].x, x[j].y), max(x[j].z, x[j].w)));
  }
  let sw = kvGroupScale(lo, hi);
  let sm = unpack2x16float(sw);
  kvStoreUnit(slot, kv, g, sw);
  for (var j = 0u; j < n; j += 2u) {   // n is even: d is a multiple of 8
    let w = kvPackCodes(x[j], sm) | (kvPackCodes(x[j + 1u], sm) << 16u);
    kvStoreUnit(slot, kv, kvGroupsPerHead() + g * (QUANT_GROUP / 8u) + j / 2u, w);
  }
}

// bench only: the kernels call kvUnpackAt; before this change they called kvUnpack (same code).
fn kvUnpackAt(w: KvChunk, c: u32) -> vec4f { return kvUnpack(w); }
