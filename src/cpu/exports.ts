// cpu.wasm's own exports (assembly/cpu/exports.ts); the control plane's are in
// src/control/exports.ts and live in the same instance. Pointers are byte offsets (usize).

export interface CpuKernelExports {
  memory: WebAssembly.Memory;
  /** Control plane (assembly/index.ts): sizes its regions; must run before cpuPoolInit. */
  init(numLayers: number, numKvHeads: number, blockSize: number, numBlocks: number, maxSeqs: number, maxBlocksPerHead: number): number;
  /** Byte offset of the control plane's header (region offsets from word 8, assembly/layout.ts). */
  layoutOffsets(): number;
  /** 0 ok, 1 past 4 GiB, 2 memory.grow refused, 3 bad geometry, 4 called twice. */
  cpuPoolInit(numLayers: number, maxSeqs: number, numKvHeads: number, maxBlocksPerHead: number,
    numBlocks: number, blockSize: number, headSize: number, f16: number): number;
  cpuPoolBytes(numBlocks: number, blockSize: number, headSize: number, f16: number): bigint;
  cpuKvBase(): number;
  cpuMetricsBase(): number;
  cpuPositionsBase(): number;
  /** A region of ≥ bytes for scratch id (0..31; the wrapper uses 8..31); 0 = out of memory. */
  cpuScratch(id: number, bytes: number): number;
  cpuAppend(tables: number, ctxLens: number, layer: number, numSeqs: number, seqIds: number,
    rowOffsets: number, k: number, v: number, positions: number): number;
  cpuDecodeAttention(tables: number, ctxLens: number, layer: number, numSeqs: number, seqIds: number,
    q: number, out: number, r: number, scale: number, metricMode: number, groupMax: number): number;
  cpuPrefillAttention(tables: number, ctxLens: number, layer: number, numSeqs: number, seqIds: number,
    rowOffsets: number, q: number, qPositions: number, out: number, r: number, scale: number,
    metricMode: number, obsWindow: number, poolWidth: number, groupMax: number): number;
  cpuSortScores(tables: number, ctxLens: number, seqLens: number, numSeqs: number, seqIds: number,
    protectedWindow: number, sinks: number, scoreFlags: number, chunkKeys: number, sortedIdx: number, sortedOffsets: number): number;
  cpuSelectEvicted(sortedIdx: number, sortedOffsets: number, numHeads: number, evictCounts: number,
    evictedIdx: number, evictedOffsets: number): number;
  cpuExecuteMoves(moves: number, moveOffsets: number, numHeads: number): void;
  cpuF32ToF16(f: number): number;
  cpuF16ToF32(h: number): number;
  /** Streaming f32x4 read of `bytes` (multiple of 64) at p; a bandwidth probe. */
  cpuStreamRead(p: number, bytes: number): number;
}
