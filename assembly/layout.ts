// layout.ts — the control plane's linear memory, drawn once (STYLE L6). Every region is
// fixed at init(); nothing is allocated afterwards, so no GC or allocator runs on the hot
// path (runtime "stub") and the TS views only go stale if init() itself grew the memory.
//
// ╒══ control.wasm linear memory (byte offsets from `base` = __heap_base rounded up to 16) ══╕
// │ header      | i32[64]: config (6), then the byte offset of every region below (slot = R_*) │
// │ blockTables | i32[numLayers, maxSeqs, numKvHeads, maxBlocksPerHead]   −1 = unused        │
// │ ctxLens     | i32[numLayers, maxSeqs, numKvHeads]                     KVs held per head   │
// │ seqLens     | i32[maxSeqs]                 tokens appended so far (positions 0..seqLen-1) │
// │ seqBirth    | i32[maxSeqs]                 admission counter; −1 = free slot              │
// │ freeRing    | i32[numBlocks]               FIFO of free block ids (allocator.ts)          │
// │ blockOwner  | i32[numBlocks]               head row that owns the block; −1 = free        │
// │ passSeqIds  | i32[maxSeqs]                 seqIds of the current pass, k of them          │
// │ passBudgets | i32[maxSeqs]                 E per pass sequence (blocks to free)           │
// │ layerCaps   | i32[numLayers]               tokens per head allowed in each layer          │
// │ chunkKeys   | f32[numLayers, k, numKvHeads, maxBlocksPerHead]  (+∞ padded; k ≤ maxSeqs)    │
// │ evictBlocks | i32[numLayers, k, numKvHeads]  e                                            │
// │ evictCounts | i32[numLayers, k, numKvHeads]  n = e == 0 ? 0 : (e−1)·b + a                 │
// │ evictedOffs | u32[numLayers·k·numKvHeads + 1]  CSR offsets into evictedIdx                │
// │ evictedIdx  | u32[numBlocks · b]             ascending logical indices, per head          │
// │ moveOffs    | u32[numLayers·k·numKvHeads + 1]  CSR offsets, in PAIRS, into moves          │
// │ moves       | u32[numBlocks · b, 2]          (dstSlot, srcSlot) physical slots            │
// │ freedBlocks | i32[numBlocks]                 blocks released by the last planMoves()      │
// │ seqBlocks   | i32[maxSeqs]                   stats: blocks held per sequence              │
// │ scratch     | i32[numLayers · numKvHeads, 4] schedule: per-head counts                    │
// │ seqSteps    | i32[maxSeqs, 8]               step state per sequence (steps.ts, SS_*)      │
// │ seqAppended | i32[maxSeqs, numLayers]       1 = this step's K/V appended in that layer    │
// │ poolCounts  | i32[4]                        passes, evictedKvs (lo, hi u32 words), 0      │
// │ pressure    | i32[8 + maxSeqs]              the last pressurePlan() (pressure.ts, PP_*)   │
// └──────────────────────────────────────────────────────────────────────────────────────────┘
// A "head row" is the flat index (layer · maxSeqs + seqId) · numKvHeads + kvHead: the row of
// blockTables and the index of ctxLens. Pass arrays use k (the pass size) in place of maxSeqs.
// evictedIdx/moves are sized by numBlocks·b because one pass can never evict or move more KVs
// than the pool holds.

export let numLayers: i32 = 0;
export let numKvHeads: i32 = 0;
export let blockSize: i32 = 0;
export let numBlocks: i32 = 0;
export let maxSeqs: i32 = 0;
export let maxBlocksPerHead: i32 = 0;
/** log2(blockSize) when it is a power of two, else −1: slotOf() then shifts instead of
 *  dividing (an i32 division per move was most of planMoves' time). */
export let blockShift: i32 = -1;

// Header slots: 0..5 config, then R_* hold region byte offsets (read by layoutOffsets() in TS).
// src/contract.ts WASM_REGIONS is the same table as data (names, element types, lengths): the
// TypeScript views and the CPU pool derive their pointers from it, and
// test/unit/contract.test.ts fails when these slots or regionBytes() disagree with it.
export const HEADER_WORDS: i32 = 64;
export const R_BLOCK_TABLES: i32 = 8;
export const R_CTX_LENS: i32 = 9;
export const R_SEQ_LENS: i32 = 10;
export const R_SEQ_BIRTH: i32 = 11;
export const R_FREE_RING: i32 = 12;
export const R_BLOCK_OWNER: i32 = 13;
export const R_PASS_SEQ_IDS: i32 = 14;
export const R_PASS_BUDGETS: i32 = 15;
export const R_LAYER_CAPS: i32 = 16;
export const R_CHUNK_KEYS: i32 = 17;
export const R_EVICT_BLOCKS: i32 = 18;
export const R_EVICT_COUNTS: i32 = 19;
export const R_EVICTED_OFFSETS: i32 = 20;
export const R_EVICTED_IDX: i32 = 21;
export const R_MOVE_OFFSETS: i32 = 22;
export const R_MOVES: i32 = 23;
export const R_FREED_BLOCKS: i32 = 24;
export const R_SEQ_BLOCKS: i32 = 25;
export const R_SCRATCH: i32 = 26;
export const R_SEQ_STEPS: i32 = 27;
export const R_SEQ_APPENDED: i32 = 28;
export const R_POOL_COUNTS: i32 = 29;
export const R_PRESSURE: i32 = 30;
export const R_END: i32 = 31; // one past the last byte used
export const NUM_REGIONS: i32 = 23;
/** i32 words per sequence in seqSteps (steps.ts names them). */
export const SEQ_STEP_WORDS: i32 = 8;

export let headerPtr: usize = 0;
export let blockTablesPtr: usize = 0;
export let ctxLensPtr: usize = 0;
export let seqLensPtr: usize = 0;
export let seqBirthPtr: usize = 0;
export let freeRingPtr: usize = 0;
export let blockOwnerPtr: usize = 0;
export let passSeqIdsPtr: usize = 0;
export let passBudgetsPtr: usize = 0;
export let layerCapsPtr: usize = 0;
export let chunkKeysPtr: usize = 0;
export let evictBlocksPtr: usize = 0;
export let evictCountsPtr: usize = 0;
export let evictedOffsetsPtr: usize = 0;
export let evictedIdxPtr: usize = 0;
export let moveOffsetsPtr: usize = 0;
export let movesPtr: usize = 0;
export let freedBlocksPtr: usize = 0;
export let seqBlocksPtr: usize = 0;
export let scratchPtr: usize = 0;
export let seqStepsPtr: usize = 0;
export let seqAppendedPtr: usize = 0;
export let poolCountsPtr: usize = 0;
export let pressurePtr: usize = 0;

/** Rounds a byte count up to 16 so every region can be viewed as any 4- or 16-byte type. */
@inline function align16(n: u64): u64 {
  return (n + 15) & ~(<u64>15);
}

/** Bytes of region r (in the diagram's order). A switch, not an array: no managed objects
 *  exist in this module, so the regions can start right at __heap_base. */
function regionBytes(r: i32): u64 {
  const L = <u64>numLayers, S = <u64>maxSeqs, H = <u64>numKvHeads;
  const M = <u64>maxBlocksPerHead, N = <u64>numBlocks, b = <u64>blockSize;
  const rows = L * S * H;
  switch (r) {
    case 0: return rows * M * 4; // blockTables
    case 1: return rows * 4; // ctxLens
    case 2: case 3: return S * 4; // seqLens, seqBirth
    case 4: case 5: return N * 4; // freeRing, blockOwner
    case 6: case 7: return S * 4; // passSeqIds, passBudgets
    case 8: return L * 4; // layerCaps
    case 9: return rows * M * 4; // chunkKeys
    case 10: case 11: return rows * 4; // evictBlocks, evictCounts
    case 12: return (rows + 1) * 4; // evictedOffsets
    case 13: return N * b * 4; // evictedIdx
    case 14: return (rows + 1) * 4; // moveOffsets
    case 15: return N * b * 8; // moves
    case 16: return N * 4; // freedBlocks
    case 17: return S * 4; // seqBlocks
    case 18: return L * H * 16; // scratch
    case 19: return S * <u64>SEQ_STEP_WORDS * 4; // seqSteps
    case 20: return S * L * 4; // seqAppended
    case 21: return 16; // poolCounts
    default: return (8 + S) * 4; // pressure
  }
}

/** Computes every region offset, grows memory to fit and fills the header.
 *  Returns 0, or −1 when the layout would pass 4 GiB or memory.grow fails. */
export function computeLayout(): i32 {
  blockShift = (blockSize & (blockSize - 1)) == 0 ? <i32>ctz(blockSize) : -1;
  let offset = align16(<u64>__heap_base);
  const header = offset;
  offset += <u64>(HEADER_WORDS * 4);
  // First pass in u64 only to check the total fits 32-bit memory before anything is stored.
  for (let r = 0; r < NUM_REGIONS; r++) offset = align16(offset + regionBytes(r));
  if (offset > 0xFFFF0000) return -1;
  const pagesNeeded = <i32>((offset + 0xFFFF) >> 16);
  const pagesHave = memory.size();
  if (pagesNeeded > pagesHave && memory.grow(pagesNeeded - pagesHave) < 0) return -1;

  headerPtr = <usize>header;
  store<i32>(headerPtr, numLayers);
  store<i32>(headerPtr + 4, numKvHeads);
  store<i32>(headerPtr + 8, blockSize);
  store<i32>(headerPtr + 12, numBlocks);
  store<i32>(headerPtr + 16, maxSeqs);
  store<i32>(headerPtr + 20, maxBlocksPerHead);
  let at = <usize>(header + <u64>(HEADER_WORDS * 4));
  for (let r = 0; r < NUM_REGIONS; r++) {
    store<u32>(headerPtr + (<usize>(R_BLOCK_TABLES + r) << 2), <u32>at);
    at = <usize>align16(<u64>at + regionBytes(r));
  }
  store<u32>(headerPtr + (<usize>R_END << 2), <u32>at);
  blockTablesPtr = regionPtr(R_BLOCK_TABLES);
  ctxLensPtr = regionPtr(R_CTX_LENS);
  seqLensPtr = regionPtr(R_SEQ_LENS);
  seqBirthPtr = regionPtr(R_SEQ_BIRTH);
  freeRingPtr = regionPtr(R_FREE_RING);
  blockOwnerPtr = regionPtr(R_BLOCK_OWNER);
  passSeqIdsPtr = regionPtr(R_PASS_SEQ_IDS);
  passBudgetsPtr = regionPtr(R_PASS_BUDGETS);
  layerCapsPtr = regionPtr(R_LAYER_CAPS);
  chunkKeysPtr = regionPtr(R_CHUNK_KEYS);
  evictBlocksPtr = regionPtr(R_EVICT_BLOCKS);
  evictCountsPtr = regionPtr(R_EVICT_COUNTS);
  evictedOffsetsPtr = regionPtr(R_EVICTED_OFFSETS);
  evictedIdxPtr = regionPtr(R_EVICTED_IDX);
  moveOffsetsPtr = regionPtr(R_MOVE_OFFSETS);
  movesPtr = regionPtr(R_MOVES);
  freedBlocksPtr = regionPtr(R_FREED_BLOCKS);
  seqBlocksPtr = regionPtr(R_SEQ_BLOCKS);
  scratchPtr = regionPtr(R_SCRATCH);
  seqStepsPtr = regionPtr(R_SEQ_STEPS);
  seqAppendedPtr = regionPtr(R_SEQ_APPENDED);
  poolCountsPtr = regionPtr(R_POOL_COUNTS);
  pressurePtr = regionPtr(R_PRESSURE);
  return 0;
}

@inline function regionPtr(slot: i32): usize {
  return <usize>load<u32>(headerPtr + (<usize>slot << 2));
}

// ── accessors: a head row is (layer · maxSeqs + seqId) · numKvHeads + kvHead ──

@inline export function headRow(layer: i32, seqId: i32, kvHead: i32): i32 {
  return (layer * maxSeqs + seqId) * numKvHeads + kvHead;
}
@inline export function ctxLenAt(row: i32): i32 {
  return load<i32>(ctxLensPtr + (<usize>row << 2));
}
@inline export function setCtxLen(row: i32, value: i32): void {
  store<i32>(ctxLensPtr + (<usize>row << 2), value);
}
@inline export function tableRowPtr(row: i32): usize {
  return blockTablesPtr + ((<usize>row * <usize>maxBlocksPerHead) << 2);
}
@inline export function seqLenAt(seqId: i32): i32 {
  return load<i32>(seqLensPtr + (<usize>seqId << 2));
}
@inline export function seqBirthAt(seqId: i32): i32 {
  return load<i32>(seqBirthPtr + (<usize>seqId << 2));
}
/** Blocks a head of `ctxLen` KVs holds: a partly filled block counts as whole (b=4: 10 → 3). */
@inline export function blocksFor(ctxLen: i32): i32 {
  return (ctxLen + blockSize - 1) / blockSize;
}
/** Physical slot of logical index `i` in the table row at `tablePtr`: block·b + i mod b. */
@inline export function slotOf(tablePtr: usize, i: i32): u32 {
  if (blockShift >= 0) {
    const blockId = load<i32>(tablePtr + (<usize>(i >> blockShift) << 2));
    return <u32>((blockId << blockShift) | (i & (blockSize - 1)));
  }
  const blockId = load<i32>(tablePtr + (<usize>(i / blockSize) << 2));
  return <u32>(blockId * blockSize + i % blockSize);
}
