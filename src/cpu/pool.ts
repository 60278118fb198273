// pool.ts — the CPU backend's KV pool (issue 6): cpu.wasm = control plane + SIMD kernels in
// one instance, so the kernels read the control plane's block tables in place. Every method
// mirrors a GPU kernel (docs/CONTRACTS.md) and takes plain typed arrays; inputs are staged
// into wasm scratch regions (no per-token JS objects), outputs copied out of them.
//
// Memory: wasm32 caps linear memory at 4 GiB (CPU_POOL_MAX_BYTES, 65536 pages); runtimes may
// refuse less (memory.grow fails). Either way creation throws WasmMemoryLimitError.
import { InvalidArgumentError, KvCompressError, WasmMemoryLimitError } from "../errors";
import { HEADER_CONFIG, HEADER_WORDS, type PoolGeometry, kvRecordWords, regionSlot } from "../contract";
import { makeAbort } from "../control/wasmMemory";
import type { CpuKernelExports } from "./exports";
import { instantiateWasm } from "../control/plane";

export type { CpuKernelExports } from "./exports";

/** The wasm32 address-space limit on the whole module memory (control plane + pool + scratch). */
export const CPU_POOL_MAX_BYTES = 2 ** 32;

/** The CPU pool's geometry: the one PoolGeometry (headSize a multiple of 4 here). */
export type CpuPoolConfig = PoolGeometry;

export type MetricMode = 0 | 1 | 2;
/** How a group's query heads combine metric terms: sum (docs/METHOD.md §2.2) or max (ablation). */
export type GroupReduce = "sum" | "max";

// Staging scratch ids (assembly/cpu/pool.ts reserves 0..7 for the kernels).
/** Scratch id of attention outputs (tests poison it with NaN before a call). */
export const CPU_STAGE_OUT = 13;
const S_SEQ = 8, S_OFF = 9, S_A = 10, S_B = 11, S_POS = 12, S_OUT = CPU_STAGE_OUT, S_CHUNK = 14,
  S_SORTED = 15, S_SORTED_OFF = 16, S_COUNTS = 17, S_EVICTED = 18, S_EVICTED_OFF = 19;

export class CpuKvPool {
  readonly config: Readonly<CpuPoolConfig>;
  /** Byte offsets of the control plane's tables (src/contract.ts WASM_REGIONS). */
  readonly tablesPtr: number;
  readonly ctxLensPtr: number;
  readonly seqLensPtr: number;
  private sortedHeads = -1;

  private constructor(readonly wasm: CpuKernelExports, config: CpuPoolConfig) {
    this.config = Object.freeze({ ...config });
    const hdr = new Uint32Array(wasm.memory.buffer, wasm.layoutOffsets(), HEADER_WORDS);
    this.tablesPtr = hdr[regionSlot("blockTables")];
    this.ctxLensPtr = hdr[regionSlot("ctxLens")];
    this.seqLensPtr = hdr[regionSlot("seqLens")];
  }

  /**
   * Instantiates cpu.wasm, sizes the control plane, then the KV pool above it.
   * @throws InvalidArgumentError for a bad geometry, WasmMemoryLimitError when the pool does
   *   not fit 4 GiB or the runtime refuses to grow memory.
   */
  static async create(wasmBytes: Uint8Array | WebAssembly.Module, cfg: CpuPoolConfig): Promise<CpuKvPool> {
    let memory: WebAssembly.Memory | undefined;
    const instance = await instantiateWasm(wasmBytes, { env: { abort: makeAbort(() => memory) } });
    const wasm = instance.exports as unknown as CpuKernelExports;
    memory = wasm.memory;
    return CpuKvPool.initialized(wasm, cfg);
  }

  private static initialized(wasm: CpuKernelExports, c: CpuPoolConfig): CpuKvPool {
    const rc0 = wasm.init(c.numLayers, c.numKvHeads, c.blockSize, c.numBlocks, c.maxSeqs, c.maxBlocksPerHead);
    if (rc0 === -2) throw new InvalidArgumentError("config", c, "every size a positive integer");
    if (rc0 !== 0) throw new WasmMemoryLimitError(wasm.memory.buffer.byteLength, CPU_POOL_MAX_BYTES);
    return CpuKvPool.attach(wasm, c);
  }

  /**
   * The KV pool of a cpu.wasm instance whose control plane is already initialised with the
   * same geometry (for example by ControlPlane.create(cpuWasm, …)); the pool goes above it.
   * @throws InvalidArgumentError, WasmMemoryLimitError as create().
   */
  static attach(wasm: CpuKernelExports, c: CpuPoolConfig): CpuKvPool {
    if (c.numQHeads % c.numKvHeads !== 0) throw new InvalidArgumentError("numQHeads", c.numQHeads, `a multiple of numKvHeads ${c.numKvHeads}`);
    // storage codes of assembly/cpu/pool.ts (STORAGE_F32 .. STORAGE_Q4)
    const f16 = ({ f32: 0, f16: 1, q8: 2, q4: 3 } as const)[c.dtype];
    if (c.dtype === "q4" && c.headSize % 8 !== 0) throw new InvalidArgumentError("headSize", c.headSize, "a multiple of 8 for q4 storage");
    if (c.headSize % 4 !== 0) throw new InvalidArgumentError("headSize", c.headSize, "a multiple of 4 (the kernels read f32x4 chunks)");
    // the kernels index the control plane's tables with this geometry: it must be the same
    const hdr = new Int32Array(wasm.memory.buffer, wasm.layoutOffsets(), HEADER_CONFIG.length);
    for (const [i, field] of HEADER_CONFIG.entries()) {
      const v = hdr[i];
      if (c[field] !== v) throw new InvalidArgumentError(field, c[field], `the control plane's ${v}`);
    }
    const rc = wasm.cpuPoolInit(c.numLayers, c.maxSeqs, c.numKvHeads, c.maxBlocksPerHead, c.numBlocks, c.blockSize, c.headSize, f16);
    if (rc === 1 || rc === 2) {
      const need = Number(wasm.cpuPoolBytes(c.numBlocks, c.blockSize, c.headSize, f16)) + wasm.memory.buffer.byteLength;
      throw new WasmMemoryLimitError(need, rc === 1 ? CPU_POOL_MAX_BYTES : wasm.memory.buffer.byteLength);
    }
    if (rc !== 0) throw new InvalidArgumentError("config", c, "positive sizes (cpuPoolInit rc " + rc + ")");
    return new CpuKvPool(wasm, c);
  }

  get groupSize(): number { return this.config.numQHeads / this.config.numKvHeads; }

  // ── views (re-create after any call: memory.grow detaches the old buffer) ──

  /** KV data [numBlocks, 2, b, d]: Float32Array (f32) or Uint16Array of f16 bits (f16); q8/q4:
   *  Uint32Array [numBlocks, 2, b, R] of records (docs/QUANTIZATION.md). */
  kvView(): Float32Array | Uint16Array | Uint32Array {
    const { numBlocks: N, blockSize: b, headSize: d, dtype } = this.config;
    if (dtype === "q8" || dtype === "q4") return new Uint32Array(this.wasm.memory.buffer, this.wasm.cpuKvBase(), N * 2 * b * kvRecordWords(d, dtype));
    const n = N * 2 * b * d;
    return dtype === "f16" ? new Uint16Array(this.wasm.memory.buffer, this.wasm.cpuKvBase(), n)
      : new Float32Array(this.wasm.memory.buffer, this.wasm.cpuKvBase(), n);
  }
  metricsView(): Float32Array { return new Float32Array(this.wasm.memory.buffer, this.wasm.cpuMetricsBase(), this.numSlots); }
  positionsView(): Uint32Array { return new Uint32Array(this.wasm.memory.buffer, this.wasm.cpuPositionsBase(), this.numSlots); }
  blockTablesView(): Int32Array {
    const c = this.config;
    return new Int32Array(this.wasm.memory.buffer, this.tablesPtr, c.numLayers * c.maxSeqs * c.numKvHeads * c.maxBlocksPerHead);
  }
  ctxLensView(): Int32Array {
    const c = this.config;
    return new Int32Array(this.wasm.memory.buffer, this.ctxLensPtr, c.numLayers * c.maxSeqs * c.numKvHeads);
  }
  seqLensView(): Int32Array { return new Int32Array(this.wasm.memory.buffer, this.seqLensPtr, this.config.maxSeqs); }
  private get numSlots(): number { return this.config.numBlocks * this.config.blockSize; }

  // ── kernels ──

  /** KV append (CONTRACTS.md): keys/values f32 [rows, numKvHeads, d], positions [rows], CSR tokenOffsets [k+1]. */
  append(layer: number, seqIds: ArrayLike<number>, tokenOffsets: ArrayLike<number>,
    keys: Float32Array, values: Float32Array, positions: ArrayLike<number>): void {
    const { numKvHeads: H, headSize: d } = this.config;
    const rows = this.checkCsr(seqIds, tokenOffsets);
    this.checkLen("keys", keys, rows * H * d);
    this.checkLen("values", values, rows * H * d);
    this.checkLen("positions", positions, rows);
    const [sp, op] = this.stageSeqs(seqIds, tokenOffsets);
    const kp = this.stage(S_A, keys), vp = this.stage(S_B, values);
    const pp = this.stage(S_POS, Uint32Array.from(positions));
    const skipped = this.wasm.cpuAppend(this.tablesPtr, this.ctxLensPtr, layer, seqIds.length, sp, op, kp, vp, pp);
    if (skipped !== 0) throw new InvalidArgumentError("ctxLens", skipped, "≥ the rows appended (reserve before append)");
  }

  /**
   * Decode attention (+ metric). queries f32 [k, numQHeads, d] → out f32 [k, numQHeads, d].
   * groupReduce "max": the metric takes the max over a group's query heads (ablation).
   */
  decode(layer: number, seqIds: ArrayLike<number>, queries: Float32Array, metricMode: MetricMode,
    groupReduce: GroupReduce = "sum", scale = 1 / Math.sqrt(this.config.headSize)): Float32Array {
    const n = seqIds.length * this.config.numQHeads * this.config.headSize;
    this.checkLen("queries", queries, n);
    const sp = this.stage(S_SEQ, Int32Array.from(seqIds));
    const qp = this.stage(S_A, queries);
    const out = this.scratch(S_OUT, n * 4);
    this.rc(this.wasm.cpuDecodeAttention(this.tablesPtr, this.ctxLensPtr, layer, seqIds.length, sp, qp, out,
      this.groupSize, scale, metricMode, groupReduce === "max" ? 1 : 0));
    return new Float32Array(this.wasm.memory.buffer, out, n).slice();
  }

  /**
   * Prefill attention, causal by position (+ obs-window metric). queries f32 [rows, numQHeads, d].
   * obsWindow 0: every row counts; poolWidth: max-pool window [i − ⌊w/2⌋, i + ⌊w/2⌋] (odd w).
   */
  prefill(layer: number, seqIds: ArrayLike<number>, tokenOffsets: ArrayLike<number>, queries: Float32Array,
    queryPositions: ArrayLike<number>, metricMode: MetricMode, obsWindow: number, poolWidth = 7,
    groupReduce: GroupReduce = "sum", scale = 1 / Math.sqrt(this.config.headSize)): Float32Array {
    const rows = this.checkCsr(seqIds, tokenOffsets);
    const n = rows * this.config.numQHeads * this.config.headSize;
    this.checkLen("queries", queries, n);
    this.checkLen("queryPositions", queryPositions, rows);
    const [sp, op] = this.stageSeqs(seqIds, tokenOffsets);
    const qp = this.stage(S_A, queries), pp = this.stage(S_POS, Uint32Array.from(queryPositions));
    const out = this.scratch(S_OUT, n * 4);
    this.rc(this.wasm.cpuPrefillAttention(this.tablesPtr, this.ctxLensPtr, layer, seqIds.length, sp, op, qp, pp, out,
      this.groupSize, scale, metricMode, obsWindow, poolWidth, groupReduce === "max" ? 1 : 0));
    return new Float32Array(this.wasm.memory.buffer, out, n).slice();
  }

  /**
   * Score ordering, step 1: sorts every head of the pass (CONTRACTS.md tie-breaks) and returns
   * chunk keys f32 [numLayers, k, numKvHeads, maxBlocksPerHead]. Keeps the sorted order for
   * selectEvicted(). queryAvg: metric / (seqLen − position); valueNorm: score × ‖v‖₂.
   */
  sortScores(seqIds: ArrayLike<number>, protectedWindow: number, sinks: number, queryAvg = false, valueNorm = false): Float32Array {
    const c = this.config;
    const n = c.numLayers * seqIds.length * c.numKvHeads * c.maxBlocksPerHead;
    const ck = this.scratch(S_CHUNK, n * 4);
    this.sortScoresAt(seqIds, protectedWindow, sinks, ck, this.stage(S_SEQ, Int32Array.from(seqIds)), queryAvg, valueNorm);
    return new Float32Array(this.wasm.memory.buffer, ck, n).slice();
  }

  /** sortScores() writing the chunk keys at wasm address chunkKeysPtr; seqIdsPtr: i32[k] staged. */
  sortScoresAt(seqIds: ArrayLike<number>, protectedWindow: number, sinks: number, chunkKeysPtr: number, seqIdsPtr: number,
    queryAvg = false, valueNorm = false): void {
    const numHeads = this.config.numLayers * seqIds.length * this.config.numKvHeads;
    const so = this.scratch(S_SORTED_OFF, (numHeads + 1) * 4);
    const si = this.scratch(S_SORTED, Math.max(1, this.totalCtx(seqIds)) * 4);
    this.rc(this.wasm.cpuSortScores(this.tablesPtr, this.ctxLensPtr, this.seqLensPtr, seqIds.length, seqIdsPtr,
      protectedWindow, sinks, (queryAvg ? 1 : 0) | (valueNorm ? 2 : 0), chunkKeysPtr, si, so));
    this.sortedHeads = numHeads;
  }

  /** Where the last sortScores() left each head's logical indices (CSR), for cpuSelectEvicted. */
  get sortedIdxPtr(): number { return this.scratch(S_SORTED, 0); }
  get sortedOffsetsPtr(): number { return this.scratch(S_SORTED_OFF, 0); }

  /** Score ordering, step 2: ascending logical indices of each head's n lowest, CSR by head. */
  selectEvicted(evictCounts: ArrayLike<number>): { evictedIdx: Uint32Array; evictedOffsets: Uint32Array } {
    const numHeads = this.sortedHeads;
    if (numHeads < 0) throw new KvCompressError("selectEvicted() needs a sortScores() first");
    this.checkLen("evictCounts", evictCounts, numHeads);
    const cp = this.stage(S_COUNTS, Int32Array.from(evictCounts));
    let total = 0;
    for (let i = 0; i < numHeads; i++) total += Math.max(0, evictCounts[i]);
    const ei = this.scratch(S_EVICTED, Math.max(1, total) * 4);
    const eo = this.scratch(S_EVICTED_OFF, (numHeads + 1) * 4);
    this.rc(this.wasm.cpuSelectEvicted(this.scratch(S_SORTED, 0), this.scratch(S_SORTED_OFF, 0), numHeads, cp, ei, eo));
    const evictedOffsets = new Uint32Array(this.wasm.memory.buffer, eo, numHeads + 1).slice();
    return { evictedIdx: new Uint32Array(this.wasm.memory.buffer, ei, evictedOffsets[numHeads]).slice(), evictedOffsets };
  }

  /** Executes cache moves: u32 (dstSlot, srcSlot) pairs, CSR moveOffsets (in pairs) by head. */
  executeMoves(moves: Uint32Array, moveOffsets: Uint32Array): void {
    const numHeads = moveOffsets.length - 1;
    if (moves.length < 2 * moveOffsets[numHeads]) throw new InvalidArgumentError("moves", moves.length, `≥ 2·${moveOffsets[numHeads]}`);
    const slots = this.numSlots;
    for (let i = 2 * moveOffsets[0]; i < 2 * moveOffsets[numHeads]; i++) {
      if (moves[i] >= slots) throw new InvalidArgumentError("moves", moves[i], `a slot < ${slots}`);
    }
    const mp = this.stage(S_A, moves), op = this.stage(S_OFF, moveOffsets);
    this.wasm.cpuExecuteMoves(mp, op, numHeads);
  }

  // ── staging ──

  /** A wasm region of ≥ bytes for staging id; throws WasmMemoryLimitError when memory ran out. */
  scratch(id: number, bytes: number): number {
    const p = this.wasm.cpuScratch(id, bytes);
    if (p === 0) throw new WasmMemoryLimitError(this.wasm.memory.buffer.byteLength + bytes, CPU_POOL_MAX_BYTES);
    return p;
  }

  /** Copies data into staging region `id` (unless it already lies in wasm memory); its address. */
  stage(id: number, data: Float32Array | Int32Array | Uint32Array): number {
    if (data.buffer === this.wasm.memory.buffer) return data.byteOffset;
    const p = this.scratch(id, Math.max(4, data.byteLength));
    new Uint8Array(this.wasm.memory.buffer, p, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return p;
  }

  private stageSeqs(seqIds: ArrayLike<number>, offsets: ArrayLike<number>): [number, number] {
    return [this.stage(S_SEQ, Int32Array.from(seqIds)), this.stage(S_OFF, Int32Array.from(offsets))];
  }

  private totalCtx(seqIds: ArrayLike<number>): number {
    const c = this.config, ctx = this.ctxLensView();
    let t = 0;
    for (let l = 0; l < c.numLayers; l++) for (let i = 0; i < seqIds.length; i++) {
      for (let h = 0; h < c.numKvHeads; h++) t += ctx[(l * c.maxSeqs + seqIds[i]) * c.numKvHeads + h];
    }
    return t;
  }

  private checkCsr(seqIds: ArrayLike<number>, offsets: ArrayLike<number>): number {
    if (offsets.length !== seqIds.length + 1) throw new InvalidArgumentError("tokenOffsets", offsets.length, `length ${seqIds.length + 1}`);
    for (const s of Array.from(seqIds)) {
      if (!Number.isInteger(s) || s < 0 || s >= this.config.maxSeqs) throw new InvalidArgumentError("seqIds", s, `an integer in [0, ${this.config.maxSeqs})`);
    }
    return offsets[seqIds.length];
  }

  private checkLen(field: string, a: ArrayLike<number>, n: number): void {
    if (a.length !== n) throw new InvalidArgumentError(field, a.length, `length ${n}`);
  }

  rc(code: number): void {
    if (code < 0) throw new WasmMemoryLimitError(this.wasm.memory.buffer.byteLength, CPU_POOL_MAX_BYTES);
  }
}
