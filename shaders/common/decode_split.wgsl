// decode_split.wgsl — one decode split's blocks, grouped by KV shard, for the two decode kernels
// (paged_attention_decode.wgsl and paged_attention_decode_subgroup.wgsl).
// A split is splitKeys consecutive logical keys of one head, starting on a block boundary. Its
// block-table entries are copied to workgroup memory once, grouped by the shard that holds them
// (stable: logical order within a shard), so a kernel can run one loop per shard with every load
// of that loop reading ONE binding: a shard switch around each load makes the compiler wait for
// the load at the switch's end (2x slower on an H200, docs/bench/gpu.md v6).
// Not here, on purpose: the split's location and its partial writes, which both kernels repeat.
// Moved here as one function returning a struct, they made both kernels ~20% slower on an H200
// (same call, A/B, 2026-11-30: 128K × 1 0.187 → 0.227 ms, 32K × 16 0.675 → 0.858 ms).
// Sources: after common/pool.wgsl, common/batch.wgsl, common/kv_*.wgsl; the kernel declares
//   WG_SIZE.
// Overrides: MAX_SPLIT_KEYS (≥ splitKeys, a multiple of BLOCK_SIZE, ≤ MAX_SPLIT_BLOCKS blocks),
//   KV_SHARDS (shards the pool uses, 1–4), SPLIT_MAJOR (grid order).
// Invariant: every block of the list holds at least one real key (numBlocks = ceil(n / b)), so a
//   segment's first key is always real: kernels load it in place of keys past the end.

override MAX_SPLIT_KEYS: u32;
override KV_SHARDS: u32;
// Workgroup order of the split grid (the kernels decode it): false = split-minor (a head's
// splits run side by side), true = split-major (split s of every head runs side by side).
override SPLIT_MAJOR: bool;

/** One shard's part of a split ("segment"). */
struct Seg {
  base: u32,     // first blocksW entry of the segment
  keys: u32,     // its blocks · BLOCK_SIZE (the split's last block may be partial)
  n: u32,        // real keys in the split
  start: u32,    // the split's first logical key
}

// Literal sizes: naga (Deno's WebGPU) panics on these arrays sized by override expressions.
// MAX_SPLIT_BLOCKS mirrors DECODE_MAX_SPLIT_BLOCKS in src/layout.ts (≥ MAX_SPLIT_KEYS / BLOCK_SIZE).
const MAX_SPLIT_BLOCKS: u32 = 128u;
const SHARD_WORDS: u32 = MAX_SPLIT_BLOCKS / 32u;

// (physical block, logical block − the split's first block), grouped by shard: shard s's segment
// is [segBase(s), segBase(s) + segCount[s]), in logical order.
var<workgroup> blocksW: array<vec2u, MAX_SPLIT_BLOCKS>;
var<workgroup> rawW: array<u32, MAX_SPLIT_BLOCKS>;
// [shard, word]: bit b set when the split's block b lies in that shard (ranks by popcount).
var<workgroup> shardBits: array<atomic<u32>, 4u * SHARD_WORDS>;
var<workgroup> segCount: array<u32, 4>;

/**
 * Fills blocksW and segCount for the split of head hIdx starting at logical key `start` with n
 * real keys. Called once per workgroup (shardBits starts zeroed), in uniform control flow; ends
 * with a barrier.
 */
fn gatherSplitBlocks(hIdx: u32, start: u32, n: u32, lid: u32) {
  let numBlocks = (n - 1u) / BLOCK_SIZE + 1u;
  let tableBase = NUM_LAYERS * MAX_SEQS * NUM_KV_HEADS + hIdx * MAX_BLOCKS_PER_HEAD + start / BLOCK_SIZE;
  if (KV_SHARDS == 1u) {
    for (var b = lid; b < numBlocks; b += WG_SIZE) { blocksW[b] = vec2u(u32(headTables[tableBase + b]), b); }
    if (lid == 0u) { segCount[0] = numBlocks; }
  } else {
    for (var b = lid; b < numBlocks; b += WG_SIZE) {
      let raw = u32(headTables[tableBase + b]);
      rawW[b] = raw;
      atomicOr(&shardBits[(raw / BLOCKS_PER_SHARD) * SHARD_WORDS + b / 32u], 1u << (b % 32u));
    }
    workgroupBarrier();
    for (var sh = lid; sh < KV_SHARDS; sh += WG_SIZE) {
      var count = 0u;
      for (var w = 0u; w < SHARD_WORDS; w++) { count += countOneBits(atomicLoad(&shardBits[sh * SHARD_WORDS + w])); }
      segCount[sh] = count;
    }
    workgroupBarrier();
    for (var b = lid; b < numBlocks; b += WG_SIZE) {
      let sh = rawW[b] / BLOCKS_PER_SHARD;
      var at = countOneBits(atomicLoad(&shardBits[sh * SHARD_WORDS + b / 32u]) & ((1u << (b % 32u)) - 1u));
      for (var w = 0u; w < b / 32u; w++) { at += countOneBits(atomicLoad(&shardBits[sh * SHARD_WORDS + w])); }
      for (var s = 0u; s < sh; s++) { at += segCount[s]; }
      blocksW[at] = vec2u(rawW[b], b);
    }
  }
  workgroupBarrier();
}

/** Shard sh's segment of the split (keys = 0 when the split has no block there). */
fn segmentOf(sh: u32, n: u32, start: u32) -> Seg {
  var base = 0u;
  for (var s = 0u; s < sh; s++) { base += workgroupUniformLoad(&segCount[s]); }
  return Seg(base, workgroupUniformLoad(&segCount[sh]) * BLOCK_SIZE, n, start);
}

/** Logical key (relative to the split) of segment key ci, or n when ci is past the segment. */
fn logicalKey(sg: Seg, ci: u32) -> u32 {
  if (ci >= sg.keys) { return sg.n; }
  return blocksW[sg.base + ci / BLOCK_SIZE].y * BLOCK_SIZE + ci % BLOCK_SIZE;
}

/** Index (within its shard) of chunk c of the key of segment key ci; a key past the end reads
 *  the segment's first key, which always exists. */
fn chunkIdx(sg: Seg, ci: u32, c: u32) -> u32 {
  let real = logicalKey(sg, ci) < sg.n;
  let e = blocksW[sg.base + select(0u, ci / BLOCK_SIZE, real)];
  let inBlock = select(0u, ci % BLOCK_SIZE, real);
  let local = select(e.x % BLOCKS_PER_SHARD, e.x, KV_SHARDS == 1u);
  return (local * 2u * BLOCK_SIZE + inBlock) * (HEAD_SIZE / 4u) + c;
}
