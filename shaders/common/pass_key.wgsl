// pass_key.wgsl — the rank key of one KV in a compression pass (docs/METHOD.md §2.4; CONTRACTS.md
// "Ordering and tie-breaks"): (score bits, position), lexicographic. The score is the slot's
// metric, or metric / (seqLen − position) with queryAvg, and +inf (0x7f800000) for a protected
// position (≥ seqLen − protectedWindow, or < sinks). order_gather.wgsl and the pass_* kernels
// all rank through this one function, so every path compares the same bits.
// Sources: after common/pool.wgsl.
// Invariant: scores are ≥ 0, so u32 order of the bits is f32 order; any pattern ≥ +inf (NaN, a
//   negative score's sign bit) ranks after every finite one and is never evicted.

fn passKeyOf(slot: u32, seqLen: u32, protectedWindow: u32, sinks: u32, queryAvg: u32) -> vec2u {
  let pos = positionOf(slot);
  let protectedPos = pos + protectedWindow >= seqLen || pos < sinks;
  let score = select(metricOf(slot), metricOf(slot) / f32(max(seqLen - pos, 1u)), queryAvg == 1u);
  return vec2u(select(bitcast<u32>(score), 0x7f800000u, protectedPos), pos);
}
