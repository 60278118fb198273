// kv_q8.wgsl — KV shard access for 8-bit storage (docs/QUANTIZATION.md; CONTRACTS.md "KV storage").
// The same functions as kv_f32.wgsl, plus the group quantizer append_kv_quant.wgsl calls. A slot's
// key (or value) is a record of RECORD_WORDS u32: ceil(d / 32) scale words pack2x16float(s, m),
// then d / 4 code words (element 4c + e in bits 8e..8e+7 of word c). Loads dequantize one chunk
// (4 elements) in registers; there is no dequantized copy of the cache.
// A chunk index (kvChunkIdx, common/decode_split.wgsl chunkIdx) keeps the f32 numbering: record
// i / (d / 4), chunk i % (d / 4), so the decode kernels index shards through kvRead0..3. A read
// returns the raw (code word, scale word): no arithmetic on a loaded word happens where it is
// loaded, so the decode kernels' loads of the next iteration stay in flight (kvUnpackAt
// dequantizes; docs/QUANTIZATION.md "Dequantizing in registers").
// Bindings (group 0): 0..3 kvShard0..3 storage rw array<u32>
//   [localBlock, 2 (0 key, 1 value), BLOCK_SIZE, RECORD_WORDS]; unused shards bound to a dummy.
// Overrides: HEAD_SIZE, BLOCKS_PER_SHARD, RECORD_WORDS declared here; BLOCK_SIZE from pool.wgsl.

override HEAD_SIZE: u32;
override BLOCKS_PER_SHARD: u32;
override RECORD_WORDS: u32;

const QUANT_GROUP: u32 = 32u;
const QUANT_LEVELS: f32 = 255.0;

@group(0) @binding(0) var<storage, read_write> kvShard0: array<u32>;
@group(0) @binding(1) var<storage, read_write> kvShard1: array<u32>;
@group(0) @binding(2) var<storage, read_write> kvShard2: array<u32>;
@group(0) @binding(3) var<storage, read_write> kvShard3: array<u32>;

/** One loaded chunk: (its code word, its group's scale word), dequantized by kvUnpackAt. */
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
fn kvCodeWord(i: u32) -> u32 { return kvRecordBase(i) + kvGroupsPerHead() + i % (HEAD_SIZE / 4u); }
fn kvScaleWord(i: u32) -> u32 { return kvRecordBase(i) + (i % (HEAD_SIZE / 4u)) / (QUANT_GROUP / 4u); }

fn kvRead0(i: u32) -> KvChunk { return vec2u(kvShard0[kvCodeWord(i)], kvShard0[kvScaleWord(i)]); }
fn kvRead1(i: u32) -> KvChunk { return vec2u(kvShard1[kvCodeWord(i)], kvShard1[kvScaleWord(i)]); }
fn kvRead2(i: u32) -> KvChunk { return vec2u(kvShard2[kvCodeWord(i)], kvShard2[kvScaleWord(i)]); }
fn kvRead3(i: u32) -> KvChunk { return vec2u(kvShard3[kvCodeWord(i)], kvShard3[kvScaleWord(i)]); }

/** Chunk c (of its row; unused for q8) of a loaded (code word, scale word): code · s + m, exactly
 *  fl(fl(q·s) + m) (code · s is exact: 8 × 11 bits). The codes are converted u32 → f32: on an H200
 *  this timed 6% faster than kv_q4.wgsl's mantissa trick applied to bytes (docs/BENCHMARKS.md). */
fn kvUnpackAt(w: KvChunk, c: u32) -> vec4f {
  let sm = unpack2x16float(w.y);
  let codes = vec4f((vec4u(w.x) >> vec4u(0u, 8u, 16u, 24u)) & vec4u(255u));
  return codes * sm.x + sm.y;
}

fn kvLoad4(slot: u32, kv: u32, c: u32) -> vec4f {
  let i = kvChunkIdx(slot, kv, c);
  switch kvShardOf(slot) {
    case 0u: { return kvUnpackAt(kvRead0(i), c); }
    case 1u: { return kvUnpackAt(kvRead1(i), c); }
    case 2u: { return kvUnpackAt(kvRead2(i), c); }
    default: { return kvUnpackAt(kvRead3(i), c); }
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

/** f16 value of bits b (b ≤ 0x7bff: finite, ≥ 0) and the midpoint between b and b + 1, exact in f32. */
fn kvF16(b: u32) -> f32 { return unpack2x16float(b).x; }
fn kvF16Mid(b: u32) -> f32 { return (kvF16(b) + kvF16(b + 1u)) * 0.5; }

/** The f16 bits nearest num / den (num ≥ 0, den = 1 or QUANT_LEVELS; ties to even), exactly: a
 *  guess from the division and pack2x16float (either may round either way), then moved by
 *  comparisons against midpoint · den, which is exact in f32 (12 × 8 bits), so the result is
 *  the round-to-nearest-even of the real quotient whatever the adapter's division and f16
 *  rounding do. That equals the reference's f16(fl(num / den)): a correctly rounded f32
 *  quotient never lands on an f16 midpoint it is not exactly at (den ≤ 255). */
fn kvF16Near(num: f32, den: f32) -> u32 {
  var b = min(pack2x16float(vec2f(num / den, 0.0)) & 0x7fffu, 0x7bffu);
  loop {
    if (b == 0u) { break; }
    let t = kvF16Mid(b - 1u) * den;
    if (num < t || (num == t && (b & 1u) == 1u)) { b -= 1u; } else { break; }
  }
  loop {
    if (b >= 0x7bffu) { break; }
    let t = kvF16Mid(b) * den;
    if (num > t || (num == t && (b & 1u) == 1u)) { b += 1u; } else { break; }
  }
  return b;
}

/** Group scale word pack2x16float(s, m) for elements in [lo, hi]: s = f16((hi − lo) / L),
 *  m = f16(lo), both rounded to nearest even exactly (kvF16Near). */
fn kvGroupScale(lo: f32, hi: f32) -> u32 {
  let mBits = ((bitcast<u32>(lo) >> 16u) & 0x8000u) | kvF16Near(abs(lo), 1.0);
  return kvF16Near(hi - lo, QUANT_LEVELS) | (mBits << 16u);
}

/** Dequantized level q: fl(q·s + m). q·s is exact in f32 (q < 2^8, s an f16), so a fused and an
 *  unfused multiply-add give the same value. */
fn kvLevel(q: f32, sm: vec2f) -> f32 { return q * sm.x + sm.y; }

/**
 * The code of x: the lowest level whose dequantized value is nearest x, the same as the
 * reference's scan of every level. The division only guesses; levels are non-decreasing in q,
 * so from the guess the walk finds qb = the lowest level ≥ x, then qa = the lowest level of
 * the run of equal values just below x (levels collapse when s is below an ulp of m), and the
 * nearer of the two wins (ties: qa). Every step compares exact or once-rounded values, so the
 * code does not depend on how the adapter divides or fuses.
 */
fn kvCode(x: f32, sm: vec2f) -> u32 {
  if (sm.x == 0.0) { return 0u; }
  var qb = clamp(round((x - sm.y) / sm.x), 0.0, QUANT_LEVELS);
  loop { if (qb > 0.0 && kvLevel(qb - 1.0, sm) >= x) { qb -= 1.0; } else { break; } }
  loop { if (qb < QUANT_LEVELS && kvLevel(qb, sm) < x) { qb += 1.0; } else { break; } }
  let vb = kvLevel(qb, sm);
  if (vb < x) {   // every level is below x: the lowest level equal to the top one
    loop { if (qb > 0.0 && kvLevel(qb - 1.0, sm) == vb) { qb -= 1.0; } else { break; } }
    return u32(qb);
  }
  if (qb == 0.0) { return 0u; }
  var qa = qb - 1.0;
  let va = kvLevel(qa, sm);
  loop { if (qa > 0.0 && kvLevel(qa - 1.0, sm) == va) { qa -= 1.0; } else { break; } }
  return u32(select(qb, qa, abs(va - x) <= abs(vb - x)));
}

/** Code word c (elements 4c..4c+3) of a group with scale sm. */
fn kvPackCodes(x: vec4f, sm: vec2f) -> u32 {
  return kvCode(x.x, sm) | (kvCode(x.y, sm) << 8u) | (kvCode(x.z, sm) << 16u) | (kvCode(x.w, sm) << 24u);
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
  for (var j = 0u; j < n; j++) {
    kvStoreUnit(slot, kv, kvGroupsPerHead() + g * (QUANT_GROUP / 4u) + j, kvPackCodes(x[j], sm));
  }
}
