// pass_state.wgsl — word layout of the device pass's state buffer (src/gpu/kernels/devicePass.ts),
// shared by the pass_* kernels: per pass sequence i (≤ MAX_BATCH_SEQS) PASS_SEQ_WORDS words from
// word 0, then per pass head `seg` ([layer, k, kvHead] order) PASS_HEAD_WORDS words.
//   sequence: 0 take (blocks the sequence gives up: min(E, finite chunk keys)), 1 numFinite
//   head:     0 prefixHi / 1 prefixLo  digits fixed so far of the radix select (score bits / position)
//             2 base: keys below the current range (global select), then rank r wanted (head select)
//             3 eq: keys == T (global select)   4 n: KVs evicted   5 active: n > 0
//             6 moveOff: first move of the head  7 holes: its moves
// hist: [2, seg, PASS_BINS + 1] u32, two regions used in turn: the histogram of select round g
//   (g = 0..3 global, 4.. per head) goes to region g & 1, and the kernels that read it clear the
//   other region for round g + 1. Bin PASS_BINS: finite keys (round 0 of the global select).
// gsum: per pass sequence PASS_GSUM_WORDS atomics: 256 increments of G per bin, G0, finite chunk keys.

const PASS_BINS: u32 = 256u;
const PASS_HIST_STRIDE: u32 = 257u;
const PASS_SEQ_WORDS: u32 = 4u;
const PASS_HEAD_WORDS: u32 = 8u;
const PASS_INF_BITS: u32 = 0x7f800000u;

const PASS_GSUM_WORDS: u32 = 258u;

fn seqWord(i: u32, w: u32) -> u32 { return i * PASS_SEQ_WORDS + w; }
fn headWord(seg: u32, w: u32) -> u32 { return MAX_BATCH_SEQS * PASS_SEQ_WORDS + seg * PASS_HEAD_WORDS + w; }

/** Word of bin `bin` of head `seg` in hist region `region`. */
fn histWord(region: u32, numSegs: u32, seg: u32, bin: u32) -> u32 { return (region * numSegs + seg) * PASS_HIST_STRIDE + bin; }

/** Digit `round` (8 bits, most significant first) of the key (score bits, position): rounds 0..3
 *  are the score bits, rounds 4.. the low posDigits bytes of the position. */
fn keyDigit(key: vec2u, round: u32, posDigits: u32) -> u32 {
  if (round < 4u) { return (key.x >> (24u - 8u * round)) & 0xffu; }
  return (key.y >> (8u * (posDigits - 1u - (round - 4u)))) & 0xffu;
}

/** Whether the key's digits above `round` equal the prefix (prefixHi, prefixLo). */
fn keyMatches(key: vec2u, prefixHi: u32, prefixLo: u32, round: u32, posDigits: u32) -> bool {
  if (round == 0u) { return true; }
  if (round < 4u) {
    let s = 32u - 8u * round;
    return (key.x >> s) == (prefixHi >> s);
  }
  if (key.x != prefixHi) { return false; }
  let q = round - 4u;
  if (q == 0u) { return true; }
  let s = 8u * (posDigits - q);
  return (key.y >> s) == (prefixLo >> s);
}

/** Chunk keys of a head of ctxLen c that are ≤ t when cnt keys of the head are ≤ t: key j is the
 *  (j·b + a)-th smallest score (a = c − (nb − 1)·b), so it is ≤ t iff j·b + a ≤ cnt. */
fn chunksAtMost(cnt: u32, c: u32) -> u32 {
  if (c == 0u) { return 0u; }
  let nb = (c + BLOCK_SIZE - 1u) / BLOCK_SIZE;
  let a = c - (nb - 1u) * BLOCK_SIZE;
  if (cnt < a) { return 0u; }
  return (cnt - a) / BLOCK_SIZE + 1u;
}
