// CPU KV pool: the KV blocks, slot metrics and slot positions in wasm linear memory.
// Same block layout as the GPU shards (docs/CONTRACTS.md "KV storage") but one contiguous
// region, since wasm has no binding-size limit. One pool per module instance.
//
// ╒══ cpu.wasm linear memory (byte offsets; every CPU region starts on a 64 KiB page) ══════╕
// │ control plane | __heap_base .. R_END: header, blockTables, ctxLens, seqLens, plan, ...     │
// │               | (assembly/layout.ts; it grows memory itself in init())                    │
// │ kv            | [numBlocks, 2 (0 key, 1 value), b, rowBytes]                              │
// │               |   rowBytes = 4·d (f32) or 2·d (f16 halves; component 2i is the low half   │
// │               |   of word i, as pack2x16float stores it), or q8/q4 records of 4·R bytes:  │
// │               |   ceil(d/32) scale words, then the codes (docs/QUANTIZATION.md)          │
// │ metrics       | f32[numBlocks, b]   accumulated score of the KV in a slot                 │
// │ positions     | u32[numBlocks, b]   token position of the KV in a slot                    │
// │ scratch ids   | kernel temporaries and the wrapper's staging buffers (cpuScratch)         │
// └──────────────────────────────────────────────────────────────────────────────────────────┘
// Every CPU region is taken from the END of memory by memory.grow (topAlloc), never from the
// heap: the control plane lays its regions from __heap_base without an allocator, so the
// heap is not ours to use. Hence the order rule: call the control plane's init() BEFORE
// cpuPoolInit, and never re-init the control plane to a larger layout afterwards (it would
// grow into the KV pool). memory.grow returning -1 is a clean, named failure (no trap).
//
// Block tables / ctxLens / seqLens are NOT ours: every kernel takes their base pointers plus
// `layer`, and indexes them with the geometry given to cpuPoolInit:
//   blockTables i32[numLayers, maxSeqs, numKvHeads, maxBlocksPerHead]
//   ctxLens     i32[numLayers, maxSeqs, numKvHeads]

/** wasm32 linear memory can never exceed 65536 pages of 64 KiB. */
export const WASM32_MAX_BYTES: u64 = 65536 << 16;

/** cpuPoolInit results (the TS wrapper turns them into named errors). */
export const POOL_OK: i32 = 0;
export const POOL_ERR_ADDRESS_SPACE: i32 = 1; // would pass 4 GiB of wasm32 memory
export const POOL_ERR_GROW: i32 = 2;          // the runtime refused memory.grow
export const POOL_ERR_ARGS: i32 = 3;          // bad geometry (see cpuPoolInit)
export const POOL_ERR_TWICE: i32 = 4;         // the pool is already initialised

export let numLayers: i32 = 0;
export let maxSeqs: i32 = 0;
export let numKvHeads: i32 = 0;
export let maxBlocksPerHead: i32 = 0;
export let numBlocks: i32 = 0;
export let blockSize: i32 = 0;
export let headSize: i32 = 0;
export let isF16: bool = false;
/** Storage codes shared with src/cpu/pool.ts: 0 f32, 1 f16, 2 q8, 3 q4. */
export const STORAGE_F32 = 0;
export const STORAGE_F16 = 1;
export const STORAGE_Q8 = 2;
export const STORAGE_Q4 = 3;
export let storageCode: i32 = 0;
/** Channels per quantization group, and groups (scale words) per q8/q4 record. */
export const QUANT_GROUP = 32;
export let quantGroups: i32 = 0;
export let rowBytes: usize = 0;   // one key (or value) row
export let blockBytes: usize = 0; // 2 · b · rowBytes
let kvBase: usize = 0;
export let metricsBase: usize = 0;
export let positionsBase: usize = 0;

// @ts-ignore: decorator
@inline export function blockAddr(blockId: i32): usize {
  return kvBase + <usize>blockId * blockBytes;
}

/** Address of the key row of physical slot `slot`; its value row is b rows further on. */
// @ts-ignore: decorator
@inline export function keyRowAddr(slot: i32): usize {
  return blockAddr(slot / blockSize) + <usize>(slot % blockSize) * rowBytes;
}

// @ts-ignore: decorator
@inline export function tableRow(tables: usize, layer: i32, seq: i32, kvHead: i32): usize {
  return tables + (<usize>((layer * maxSeqs + seq) * numKvHeads + kvHead) * <usize>maxBlocksPerHead << 2);
}

// @ts-ignore: decorator
@inline export function ctxLenAt(ctxLens: usize, layer: i32, seq: i32, kvHead: i32): i32 {
  return load<i32>(ctxLens + (<usize>((layer * maxSeqs + seq) * numKvHeads + kvHead) << 2));
}

/**
 * Takes `bytes` (rounded up to whole pages) from the top of linear memory. Returns its
 * address, or 0 when it would pass 4 GiB or the runtime refuses to grow (then `lastError`
 * says which).
 */
export let lastError: i32 = 0;
export function topAlloc(bytes: u64): usize {
  const have: u64 = <u64>memory.size() << 16;
  const pages: u64 = (bytes + 0xffff) >> 16;
  if (have + (pages << 16) > WASM32_MAX_BYTES) { lastError = POOL_ERR_ADDRESS_SPACE; return 0; }
  if (memory.grow(<i32>pages) < 0) { lastError = POOL_ERR_GROW; return 0; }
  return <usize>have;
}

/** Bytes of one key (or value) row for a storage code: d elements, plus q8/q4 scale words. */
function rowBytesOf(headSize_: i32, storage: i32): u64 {
  const groups: u64 = <u64>((headSize_ + QUANT_GROUP - 1) / QUANT_GROUP);
  if (storage == STORAGE_Q8) return 4 * groups + <u64>headSize_;
  if (storage == STORAGE_Q4) return 4 * groups + (<u64>headSize_ >> 1);
  return <u64>headSize_ * (storage == STORAGE_F16 ? 2 : 4);
}

/** Bytes cpuPoolInit will allocate for this geometry (for the caller's error messages). */
export function cpuPoolBytes(numBlocks_: i32, blockSize_: i32, headSize_: i32, storage: i32): u64 {
  const row: u64 = rowBytesOf(headSize_, storage);
  return <u64>numBlocks_ * (<u64>blockSize_ * (2 * row + 8));
}

/**
 * Allocates the pool; geometry is the control plane's (CONTRACTS.md "Names").
 * headSize must be a multiple of 4 (8 for q4): kernels read 4 components per f32x4.
 * storage: STORAGE_F32, STORAGE_F16, STORAGE_Q8 or STORAGE_Q4.
 * Metrics start at 0 and positions at 0; the kernels never read slots past a ctxLen.
 */
export function cpuPoolInit(
  numLayers_: i32, maxSeqs_: i32, numKvHeads_: i32, maxBlocksPerHead_: i32,
  numBlocks_: i32, blockSize_: i32, headSize_: i32, storage: i32,
): i32 {
  if (numBlocks != 0) return POOL_ERR_TWICE;
  if (numLayers_ <= 0 || maxSeqs_ <= 0 || numKvHeads_ <= 0 || maxBlocksPerHead_ <= 0 ||
      numBlocks_ <= 0 || blockSize_ <= 0 || headSize_ <= 0 || (headSize_ & 3) != 0 ||
      storage < STORAGE_F32 || storage > STORAGE_Q4 || (storage == STORAGE_Q4 && (headSize_ & 7) != 0)) {
    return POOL_ERR_ARGS;
  }
  const slots: u64 = <u64>numBlocks_ * <u64>blockSize_;
  const kvBytes = cpuPoolBytes(numBlocks_, blockSize_, headSize_, storage) - (slots << 3);
  const base = topAlloc(cpuPoolBytes(numBlocks_, blockSize_, headSize_, storage));
  if (base == 0) return lastError;
  // memory.grow hands out zeroed pages: metrics and positions start at 0
  kvBase = base;
  metricsBase = base + <usize>kvBytes;
  positionsBase = metricsBase + (<usize>slots << 2);
  numLayers = numLayers_; maxSeqs = maxSeqs_; numKvHeads = numKvHeads_;
  maxBlocksPerHead = maxBlocksPerHead_; blockSize = blockSize_; headSize = headSize_;
  storageCode = storage;
  isF16 = storage == STORAGE_F16;
  quantGroups = (headSize_ + QUANT_GROUP - 1) / QUANT_GROUP;
  rowBytes = <usize>rowBytesOf(headSize_, storage);
  blockBytes = 2 * <usize>blockSize_ * rowBytes;
  numBlocks = numBlocks_;
  return POOL_OK;
}

export function cpuKvBase(): usize { return kvBase; }
export function cpuMetricsBase(): usize { return metricsBase; }
export function cpuPositionsBase(): usize { return positionsBase; }

// ── scratch regions ─────────────────────────────────────────────────────────────────────
// Kernel temporaries and the wrapper's staging buffers (queries, new K/V, outputs, plans).
// Each id keeps its largest region; a larger request takes a new one of at least double the
// size from the top of memory (the old one is abandoned: nothing below the top can be given
// back), so the waste stays under 2x the peak. Tables live in static data, not the heap.
const MAX_SCRATCH = 32;
const scratchPtr = memory.data(MAX_SCRATCH * 8);
const scratchCap = memory.data(MAX_SCRATCH * 8);

/** Scratch ids used inside kernels; the TS wrapper uses ids from SCRATCH_FIRST_USER on. */
export const SCRATCH_SCORES = 0;
export const SCRATCH_ACC = 1;
export const SCRATCH_WINDOW = 2;
export const SCRATCH_SORT = 3; // and 4 (cpuSelectEvicted), 5/6 (attention.ts)
export const SCRATCH_FIRST_USER = 8;

/** Returns a 16-B aligned region of at least `bytes` for `id`, or 0 if memory ran out. */
export function cpuScratch(id: i32, bytes: usize): usize {
  if (id < 0 || id >= MAX_SCRATCH) return 0;
  const pp = scratchPtr + (<usize>id << 3), cp = scratchCap + (<usize>id << 3);
  if (load<u64>(cp) >= <u64>bytes && load<u64>(pp) != 0) return <usize>load<u64>(pp);
  const cap = max<u64>(max<u64>(<u64>bytes, load<u64>(cp) * 2), 1);
  const p = topAlloc(cap);
  if (p == 0) return 0;
  store<u64>(pp, <u64>p);
  store<u64>(cp, (cap + 0xffff) & ~(<u64>0xffff));
  return p;
}
