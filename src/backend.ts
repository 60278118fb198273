// The data-parallel half of the cache, as the cache sees it. Two implementations: WebGPU
// (src/gpu/backend.ts, WGSL kernels) and WebAssembly SIMD (src/cpu/backend.ts). Both work on
// the block layout of docs/CONTRACTS.md and read block tables and lengths that the control
// plane owns; the cache calls syncTables() after every control-plane change.

/** Scoring settings of one attention call (docs/CONTRACTS.md, "Metric accumulation"). */
export interface MetricSettings {
  /** 0 none, 1 L1 (p), 2 L2 (p²). */
  readonly mode: 0 | 1 | 2;
  /** Prefill: the last `obsWindow` queries score keys; 0 = all of them. */
  readonly obsWindow: number;
  /** Prefill: max-pool width along key order (1 = none). */
  readonly poolWidth: number;
  /** How the r query heads of a group combine: sum (docs/METHOD.md §2.2, the default) or max (an ablation). */
  readonly groupReduce?: "sum" | "max";
}

/** Ordering settings of one compression pass: the positions never evicted, and how a KV's
 *  metric becomes its rank key. */
export interface Protection {
  readonly protectedWindow: number;
  readonly sinks: number;
  /** Rank by the metric over the number of queries that could see the KV (seqLen − position),
   *  the paper's "-avg" variants; default false (the plain sum). */
  readonly queryAvg?: boolean;
  /** Value-aware ranking: the score (after queryAvg) times ‖v‖₂ of the KV's stored value
   *  (attention × value norm, as kvpress's ExpectedAttention and CurDKV weigh it); default false. */
  readonly valueNorm?: boolean;
}

export interface KvBackend {
  readonly kind: "gpu" | "cpu";
  /** The adapter (GPU) or "wasm-simd" (CPU). */
  readonly adapterName: string;
  /** Makes the backend's copy of blockTables / ctxLens / seqLens current for these sequences. */
  syncTables(seqIds: readonly number[]): void;
  /** syncTables([seqId]) after a reserve of numTokens that changed nothing else (no pass, no
   *  move): only the lengths and the table entries of blocks that reserve added. Optional. */
  syncReserved?(seqId: number, numTokens: number): void;
  /** syncReserved(s, 1) for every s of seqIds at once (one decode token each). Optional. */
  syncReservedMany?(seqIds: readonly number[]): void;
  /** Writes K (after RoPE) and V of the newest `numNew` tokens of one sequence into layer
   *  `layer`: k, v f32 [numNew, numKvHeads, headSize]. Their slots were reserved already. */
  append(layer: number, seqId: number, numNew: number, k: Float32Array, v: Float32Array): void;
  /** Decode attention for one new query per sequence: q f32 [numSeqs, numQHeads, headSize] →
   *  out f32 [numSeqs, numQHeads, headSize]; adds the metric (mode 0 skips it). */
  decodeAttention(layer: number, seqIds: readonly number[], q: Float32Array, metricMode: 0 | 1 | 2, groupReduce?: "sum" | "max"): Promise<Float32Array>;
  /** Causal attention of the newest `numQ` tokens of one sequence against its cached KVs:
   *  q f32 [numQ, numQHeads, headSize] → out, same shape; adds the prefill metric. */
  prefillAttention(layer: number, seqId: number, q: Float32Array, numQ: number, metric: MetricSettings): Promise<Float32Array>;
  /** Chunk keys of a pass over `seqIds` (k sequences): f32 [numLayers, k, numKvHeads, maxBlocksPerHead]
   *  written into `out` (+∞ padded). */
  chunkKeys(seqIds: readonly number[], protection: Protection, out: Float32Array): Promise<void>;
  /** Ascending logical indices of each head's `counts[row]` lowest KVs (same order as
   *  chunkKeys) into `idx` at CSR `offsets` u32 [rows + 1], the prefix sums of counts that the
   *  wasm schedule wrote (an input; the CPU kernel rewrites the same values). */
  evictedIndices(seqIds: readonly number[], protection: Protection, counts: Int32Array, offsets: Uint32Array, idx: Uint32Array): Promise<void>;
  /** Executes (dstSlot, srcSlot) moves: key, value, metric and position together. */
  executeMoves(moves: Uint32Array, numMoves: number): void;
  /** The whole pass on the device (WebGPU; src/gpu/kernels/devicePass.ts): the global ranking of
   *  the pass's sequences for their budgets E (`budgets`, blocks), each head's n lowest KVs and the
   *  compaction moves, decided exactly as chunkKeys → schedule → evictedIndices → planMoves would.
   *  Writes n per head into `counts` (i32 [numLayers, k, numKvHeads]) and resolves to the number
   *  of moves, which stay on the device for executeDeviceMoves. Absent: the pass goes through the
   *  wasm schedule. */
  devicePass?(seqIds: readonly number[], protection: Protection, budgets: ArrayLike<number>, counts: Int32Array): Promise<number>;
  /** Executes the first `numMoves` moves of the last devicePass. */
  executeDeviceMoves?(numMoves: number): void;
  /** Copies out every slot's position and metric of one head (tests and stats). */
  readHead(layer: number, seqId: number, kvHead: number): Promise<{ positions: Uint32Array; metrics: Float32Array }>;
  /** The GPU-buffer path (WebGPU backend only): encode into the caller's encoder, no submit,
   *  no wait. Buffers are f32 with STORAGE usage, shaped as the typed-array methods'. */
  readonly gpu?: {
    readonly device: GPUDevice;
    encodeAppend(encoder: GPUCommandEncoder, layer: number, seqId: number, numNew: number, k: GPUBuffer, v: GPUBuffer): void;
    /** One new token per sequence: row i of k, v [numSeqs, numKvHeads, headSize] is seqIds[i]'s. */
    encodeAppendBatch(encoder: GPUCommandEncoder, layer: number, seqIds: readonly number[], k: GPUBuffer, v: GPUBuffer): void;
    encodeDecode(encoder: GPUCommandEncoder, layer: number, seqIds: readonly number[], q: GPUBuffer, out: GPUBuffer, metricMode: 0 | 1 | 2, groupReduce?: "sum" | "max"): void;
    encodePrefill(encoder: GPUCommandEncoder, layer: number, seqId: number, numQ: number, q: GPUBuffer, out: GPUBuffer, metric: MetricSettings): void;
    /** Append + decode attention of one token of one sequence, inside the caller's compute pass. */
    encodeDecodeStep(pass: GPUComputePassEncoder, layer: number, seqId: number, k: GPUBuffer, v: GPUBuffer, q: GPUBuffer, out: GPUBuffer, metricMode: 0 | 1 | 2, groupReduce?: "sum" | "max"): void;
  };
  /** Releases every buffer / memory region. */
  destroy(): void;
}
