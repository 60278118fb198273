// backend.ts — the KvBackend (src/backend.ts) on WebAssembly SIMD, for runtimes with no
// WebGPU (issue 6). cpu.wasm holds the control plane AND the kernels, so the ControlPlane the
// cache talks to and this backend share one instance and one linear memory: block tables,
// lengths, chunk keys, evicted indices and moves are read and written in place, by pointer;
// syncTables() has nothing to do.
import type { KvBackend, MetricSettings, Protection } from "../backend";
import type { KvCacheConfig } from "../config";
import { poolGeometry } from "../contract";
import { ControlPlane, type ControlPlaneConfig } from "../control/plane";
import { KvCompressError } from "../errors";
import { CpuKvPool, type CpuKernelExports } from "./pool";

export { CpuKvPool } from "./pool";

/**
 * Instantiates cpu.wasm once: the control plane sized by `controlConfig`, then the KV pool
 * above its regions (assembly/cpu/pool.ts: control-plane init must come first).
 * @throws ConfigError / WasmMemoryLimitError (control plane), InvalidArgumentError /
 *   WasmMemoryLimitError (pool: past 4 GiB of wasm32 memory or refused by the runtime).
 */
export async function createCpuBackend(cpuWasm: Uint8Array | WebAssembly.Module, cfg: KvCacheConfig, controlConfig: ControlPlaneConfig): Promise<{ control: ControlPlane; backend: CpuBackend }> {
  const control = await ControlPlane.create(cpuWasm, controlConfig);
  // cpu.wasm's exports are the control plane's plus the kernels'.
  const wasm = control.instanceExports as unknown as CpuKernelExports;
  if (typeof wasm?.cpuPoolInit !== "function") throw new KvCompressError("createCpuBackend: the wasm bytes are not cpu.wasm (no cpuPoolInit export)");
  const pool = CpuKvPool.attach(wasm, poolGeometry(cfg));
  return { control, backend: new CpuBackend(pool) };
}

// Staging ids of this file (src/cpu/pool.ts uses 8..19).
const S_SEQ = 20, S_COUNTS = 21, S_CHUNK = 22, S_OFFSETS = 23, S_IDX = 24, S_MOVES = 25, S_MOVE_OFF = 26;

export class CpuBackend implements KvBackend {
  readonly kind = "cpu" as const;
  readonly adapterName = "wasm-simd";
  /** Sorted order of the last chunkKeys() pass, reused by evictedIndices() for the same pass. */
  private lastPass = "";

  constructor(readonly pool: CpuKvPool) {}

  syncTables(_seqIds: readonly number[]): void {
    // the kernels read the control plane's tables in place
  }

  append(layer: number, seqId: number, numNew: number, k: Float32Array, v: Float32Array): void {
    // the control plane has advanced seqLen: the new tokens hold positions seqLen−numNew … seqLen−1
    const seqLen = this.pool.seqLensView()[seqId];
    const positions = Uint32Array.from({ length: numNew }, (_, t) => seqLen - numNew + t);
    this.pool.append(layer, [seqId], [0, numNew], k, v, positions);
  }

  async decodeAttention(layer: number, seqIds: readonly number[], q: Float32Array, metricMode: 0 | 1 | 2, groupReduce: "sum" | "max" = "sum"): Promise<Float32Array> {
    return this.pool.decode(layer, seqIds, q, metricMode, groupReduce);
  }

  async prefillAttention(layer: number, seqId: number, q: Float32Array, numQ: number, metric: MetricSettings): Promise<Float32Array> {
    const seqLen = this.pool.seqLensView()[seqId];
    const positions = Uint32Array.from({ length: numQ }, (_, t) => seqLen - numQ + t);
    return this.pool.prefill(layer, [seqId], [0, numQ], q, positions, metric.mode, metric.obsWindow, metric.poolWidth, metric.groupReduce ?? "sum");
  }

  async chunkKeys(seqIds: readonly number[], protection: Protection, out: Float32Array): Promise<void> {
    this.sort(seqIds, protection, out);
  }

  async evictedIndices(seqIds: readonly number[], protection: Protection, counts: Int32Array, offsets: Uint32Array, idx: Uint32Array): Promise<void> {
    const p = this.pool, w = p.wasm;
    // decide "in place" before anything can grow memory (growth detaches the caller's views)
    const inPlace = offsets.buffer === w.memory.buffer && idx.buffer === w.memory.buffer;
    const offAt = offsets.byteOffset, idxAt = idx.byteOffset;
    const numHeads = counts.length;
    let total = 0;
    for (const n of counts) total += Math.max(0, n);
    const countsPtr = p.stage(S_COUNTS, counts);
    if (this.lastPass !== passKey(seqIds, protection)) this.sort(seqIds, protection, null);
    const offPtr = inPlace ? offAt : p.scratch(S_OFFSETS, (numHeads + 1) * 4);
    const idxPtr = inPlace ? idxAt : p.scratch(S_IDX, Math.max(total, 1) * 4);
    p.rc(w.cpuSelectEvicted(p.sortedIdxPtr, p.sortedOffsetsPtr, numHeads, countsPtr, idxPtr, offPtr));
    if (!inPlace) {
      offsets.set(new Uint32Array(w.memory.buffer, offPtr, numHeads + 1));
      idx.set(new Uint32Array(w.memory.buffer, idxPtr, total));
    }
  }

  executeMoves(moves: Uint32Array, numMoves: number): void {
    if (numMoves === 0) return;
    const p = this.pool;
    const movesPtr = p.stage(S_MOVES, moves.subarray(0, 2 * numMoves));
    const offPtr = p.stage(S_MOVE_OFF, Uint32Array.of(0, numMoves)); // one CSR row: order is free
    p.wasm.cpuExecuteMoves(movesPtr, offPtr, 1);
  }

  async readHead(layer: number, seqId: number, kvHead: number): Promise<{ positions: Uint32Array; metrics: Float32Array }> {
    const c = this.pool.config;
    const row = (layer * c.maxSeqs + seqId) * c.numKvHeads + kvHead;
    const ctx = this.pool.ctxLensView()[row];
    const table = this.pool.blockTablesView().subarray(row * c.maxBlocksPerHead, (row + 1) * c.maxBlocksPerHead);
    const pos = this.pool.positionsView(), met = this.pool.metricsView();
    const positions = new Uint32Array(ctx), metrics = new Float32Array(ctx);
    for (let i = 0; i < ctx; i++) {
      const slot = table[Math.floor(i / c.blockSize)] * c.blockSize + (i % c.blockSize);
      positions[i] = pos[slot];
      metrics[i] = met[slot];
    }
    return { positions, metrics };
  }

  destroy(): void {
    // linear memory cannot shrink; the instance goes with the last reference
  }

  /** Sorts every head of the pass; chunk keys into `out` (in place when it is a view on wasm memory). */
  private sort(seqIds: readonly number[], protection: Protection, out: Float32Array | null): void {
    const p = this.pool, w = p.wasm, c = p.config;
    const n = c.numLayers * seqIds.length * c.numKvHeads * c.maxBlocksPerHead;
    const inPlace = out !== null && out.buffer === w.memory.buffer;
    const ckPtr = inPlace ? out.byteOffset : p.scratch(S_CHUNK, n * 4);
    p.sortScoresAt(seqIds, protection.protectedWindow, protection.sinks, ckPtr, p.stage(S_SEQ, Int32Array.from(seqIds)),
      protection.queryAvg ?? false, protection.valueNorm ?? false);
    if (out !== null && !inPlace) out.set(new Float32Array(w.memory.buffer, ckPtr, n));
    this.lastPass = passKey(seqIds, protection);
  }
}

function passKey(seqIds: readonly number[], p: Protection): string {
  return `${seqIds.join(",")}|${p.protectedWindow}|${p.sinks}|${p.queryAvg ? 1 : 0}|${p.valueNorm ? 1 : 0}`;
}
