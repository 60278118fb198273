// backend.ts — the KvBackend (src/backend.ts) on WebGPU: the WGSL kernels of issue 4 over the
// GPU pool (src/gpu/pool.ts). The control plane (wasm) owns block tables and lengths; the GPU
// holds mirrors that syncTables() uploads. This is the typed-array convenience path: each call
// stages its inputs, encodes, submits; only the calls that return data await the GPU.

import type { KvBackend, MetricSettings, Protection } from "../backend";
import type { KvCacheConfig } from "../config";
import type { ControlPlane } from "../control/plane";
import { poolGeometry } from "../contract";
import { type GpuKvPool, createGpuKvPool } from "./pool";
import { maxBindingBytes } from "./dispatch";
import { DeviceLostError } from "../errors";
import { type AppendKvArgs, type AppendKvKernel, createAppendKv } from "./kernels/appendKv";
import { type DecodeAttention, type DecodeAttentionArgs, createDecodeAttention, decodeScratchBytes } from "./kernels/decodeAttention";
import { type PrefillAttention, createPrefillAttention } from "./kernels/prefillAttention";
import { type ScoreOrdering, createScoreOrdering, orderingBytesPerSeq } from "./kernels/scoreOrdering";
import { type CacheMoveExecutor, createCacheMoveExecutor } from "./kernels/executeCacheMoves";
import { type DevicePass, createDevicePass } from "./kernels/devicePass";
import { type TablePatcher, createTablePatcher } from "./kernels/tablePatch";
import { MAX_BATCH_SEQS } from "./layout";

/** Builds the pool and every pipeline up front, so OOM and shader errors surface here (STYLE L3). */
export async function createGpuBackend(device: GPUDevice, adapterName: string, cfg: KvCacheConfig, control: ControlPlane,
  /** Force smaller sequence groups (tests); default: as many as one scratch binding holds.
   *  devicePass: false leaves passes to the wasm schedule (tests and bench/pass.bench.ts compare the two). */
  groups: { batchSeqs?: number; passSeqs?: number; devicePass?: boolean } = {}): Promise<GpuBackend> {
  const dims = poolGeometry(cfg);
  const pool = createGpuKvPool(device, dims);
  // Scratch must fit one binding: big configs decode and order in groups of sequences.
  const limit = maxBindingBytes(device);
  let batchSeqs = groups.batchSeqs ?? cfg.maxSeqs;
  while (batchSeqs > 1 && decodeScratchBytes(dims, batchSeqs) > limit) batchSeqs = Math.ceil(batchSeqs / 2);
  const passSeqs = groups.passSeqs ?? Math.max(1, Math.min(cfg.maxSeqs, MAX_BATCH_SEQS, Math.floor(limit / orderingBytesPerSeq(dims))));
  try {
    const [append, decode, prefill, ordering, moves, pass, tablePatch] = await Promise.all([
      createAppendKv(device, pool),
      createDecodeAttention(device, pool, { maxBatchSeqs: batchSeqs }),
      createPrefillAttention(device, pool),
      createScoreOrdering(device, pool, { maxSeqsPerPass: passSeqs }),
      createCacheMoveExecutor(device, pool),
      createDevicePass(device, pool),
      createTablePatcher(device, pool),
    ]);
    const b = new GpuBackend(device, adapterName, control, pool, { append, decode, prefill, ordering, moves, pass, tablePatch }, batchSeqs, passSeqs);
    if (groups.devicePass === false) Object.assign(b, { devicePass: undefined, executeDeviceMoves: undefined });
    return b;
  } catch (e) {
    pool.destroy();
    throw e;
  }
}

interface Kernels {
  append: AppendKvKernel; decode: DecodeAttention; prefill: PrefillAttention; ordering: ScoreOrdering; moves: CacheMoveExecutor;
  pass: DevicePass; tablePatch: TablePatcher;
}

export class GpuBackend implements KvBackend {
  readonly kind = "gpu" as const;
  /** The GPU-buffer path is this object itself (see KvBackend.gpu). */
  get gpu(): this { return this; }
  private readonly staging = new Map<string, GPUBuffer>();
  /** Idle MAP_READ buffers by size (readback()). */
  private readonly readbacks = new Map<number, GPUBuffer[]>();
  private readbacksCreated = 0;
  private destroyed = false;
  /** Key of the pass whose sorted segments the ordering scratch holds. */
  private lastPass = "";

  constructor(readonly device: GPUDevice, readonly adapterName: string, private readonly control: ControlPlane,
    readonly pool: GpuKvPool, private readonly k: Kernels,
    /** Sequences per decode dispatch group and per ordering group (scratch-bound, see createGpuBackend). */
    readonly batchSeqs: number, readonly passSeqs: number) {}

  syncTables(seqIds: readonly number[]): void {
    const d = this.pool.dims, ctx = this.control.ctxLens, tables = this.control.blockTables;
    const q = this.device.queue, H = d.numKvHeads, M = d.maxBlocksPerHead;
    for (const s of seqIds) for (let l = 0; l < d.numLayers; l++) {
      const row = (l * d.maxSeqs + s) * H;
      q.writeBuffer(this.pool.headTables, 4 * row, ctx, row, H);
      q.writeBuffer(this.pool.headTables, this.pool.blockTablesOffsetBytes + 4 * row * M, tables, row * M, H * M);
    }
  }

  syncReserved(seqId: number, numTokens: number): void {
    const d = this.pool.dims, ctx = this.control.ctxLens, tables = this.control.blockTables;
    const q = this.device.queue, H = d.numKvHeads, M = d.maxBlocksPerHead, b = d.blockSize;
    // ctxLens of one sequence: one run per layer, or one run in all when maxSeqs is 1.
    if (d.maxSeqs === 1) q.writeBuffer(this.pool.headTables, 4 * seqId * H, ctx, seqId * H, d.numLayers * H);
    for (let l = 0; l < d.numLayers; l++) {
      const row = (l * d.maxSeqs + seqId) * H;
      if (d.maxSeqs !== 1) q.writeBuffer(this.pool.headTables, 4 * row, ctx, row, H);
      for (let h = 0; h < H; h++) {
        const c = ctx[row + h]!, from = Math.ceil((c - numTokens) / b), to = Math.ceil(c / b);
        if (to > from) q.writeBuffer(this.pool.headTables, this.pool.blockTablesOffsetBytes + 4 * ((row + h) * M + from), tables, (row + h) * M + from, to - from);
      }
    }
  }

  /** One decode token reserved for each of seqIds: every length in one write (the whole ctxLens
   *  mirror: a write per (layer, sequence) costs ~8 µs on Dawn/NVIDIA, 30 ms a step at 128
   *  sequences × 16 layers) and the new block entries as (word, value) pairs through one
   *  table_patch dispatch, submitted at once so it runs before the step that reads them. */
  syncReservedMany(seqIds: readonly number[]): void {
    if (seqIds.length === 0) return;
    const d = this.pool.dims, ctx = this.control.ctxLens, tables = this.control.blockTables;
    const q = this.device.queue, H = d.numKvHeads, M = d.maxBlocksPerHead, b = d.blockSize;
    q.writeBuffer(this.pool.headTables, 0, ctx, 0, d.numLayers * d.maxSeqs * H);
    const maxPairs = seqIds.length * d.numLayers * H;
    if (!this.patchWords || this.patchWords.length < 2 * maxPairs) this.patchWords = new Uint32Array(2 * maxPairs);
    const words = this.patchWords, tableBase = this.pool.blockTablesOffsetBytes / 4;
    let n = 0;
    for (const s of seqIds) for (let l = 0; l < d.numLayers; l++) {
      const row = (l * d.maxSeqs + s) * H;
      for (let h = 0; h < H; h++) {
        const c = ctx[row + h]!;
        if (Math.ceil(c / b) === Math.ceil((c - 1) / b)) continue; // the token's block was there
        const at = (row + h) * M + Math.ceil(c / b) - 1;
        words[2 * n] = tableBase + at;
        words[2 * n + 1] = tables[at]! >>> 0;
        n++;
      }
    }
    if (n === 0) return;
    const patches = this.buffer("table-patches", 8 * n);
    q.writeBuffer(patches, 0, words, 0, 2 * n);
    const enc = this.device.createCommandEncoder({ label: "gpu-backend-table-patch" });
    const pass = enc.beginComputePass();
    this.k.tablePatch.encode(pass, { patches, numPatches: n });
    pass.end();
    q.submit([enc.finish()]);
  }
  private patchWords: Uint32Array<ArrayBuffer> | null = null;

  append(layer: number, seqId: number, numNew: number, k: Float32Array, v: Float32Array): void {
    if (numNew === 0) return;
    const seqLen = this.control.seqLens[seqId];
    const kb = this.upload("k", k), vb = this.upload("v", v);
    this.run((pass) => this.k.append.encode(pass, {
      layer, newKeys: kb, newValues: vb, seqs: [{ seqId, tokenStart: 0, numNew, firstPos: seqLen - numNew }],
    }));
  }

  async decodeAttention(layer: number, seqIds: readonly number[], q: Float32Array, metricMode: 0 | 1 | 2,
    groupReduce: "sum" | "max" = "sum"): Promise<Float32Array> {
    const rowFloats = this.pool.dims.numQHeads * this.pool.dims.headSize;
    const rb = this.readback(q.byteLength);
    for (let g = 0; g < seqIds.length; g += this.batchSeqs) {
      const group = seqIds.slice(g, g + this.batchSeqs);
      const qb = this.upload("q", q.subarray(g * rowFloats, (g + group.length) * rowFloats));
      const out = this.buffer("out", 4 * group.length * rowFloats);
      const enc = this.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      this.k.decode.encode(pass, { layer, seqIds: group, queries: qb, out, metricMode, groupReduce });
      pass.end();
      enc.copyBufferToBuffer(out, 0, rb, 4 * g * rowFloats, 4 * group.length * rowFloats);
      this.device.queue.submit([enc.finish()]);
    }
    return new Float32Array(await this.mapped(rb, q.byteLength));
  }

  async prefillAttention(layer: number, seqId: number, q: Float32Array, numQ: number, metric: MetricSettings): Promise<Float32Array> {
    const seqLen = this.control.seqLens[seqId];
    const qb = this.upload("q", q), out = this.buffer("prefill-out", this.k.prefill.outBytes(numQ, 1));
    this.run((pass) => this.k.prefill.encode(pass, {
      layer, numTokens: numQ, queries: qb, out, metricMode: metric.mode, obsWindow: metric.obsWindow, poolWidth: metric.poolWidth,
      groupReduce: metric.groupReduce,
      seqs: [{ seqId, tokenStart: 0, numNew: numQ, firstPos: seqLen - numQ }],
    }));
    return new Float32Array(await this.read(out, 0, q.byteLength));
  }

  /** Sorts each group of the pass and gathers its chunk keys into one [L, k, H, M] buffer on the
   *  GPU, then ONE readback straight into `out` (the wasm's chunkKeys view), whatever the groups. */
  async chunkKeys(seqIds: readonly number[], protection: Protection, out: Float32Array): Promise<void> {
    const { numLayers: L, numKvHeads: H, maxBlocksPerHead: M } = this.pool.dims;
    const k = seqIds.length, bytes = 4 * L * k * H * M;
    if (k <= this.passSeqs) {
      out.set(new Float32Array(await this.read(this.sort(seqIds, protection), 0, bytes)));
      return;
    }
    const all = this.buffer("chunkKeysAll", bytes);
    for (let g = 0; g < k; g += this.passSeqs) {
      const group = seqIds.slice(g, g + this.passSeqs), rowBytes = 4 * group.length * H * M;
      const ck = this.sort(group, protection);
      // [L, group, H, M] → the rows of [L, k, H, M]: one contiguous run per layer.
      const enc = this.device.createCommandEncoder();
      for (let l = 0; l < L; l++) enc.copyBufferToBuffer(ck, l * rowBytes, all, 4 * (l * k + g) * H * M, rowBytes);
      this.device.queue.submit([enc.finish()]);
    }
    out.set(new Float32Array(await this.read(all, 0, bytes)));
  }

  /** Marks and compacts each group's evicted indices straight into their places in the pass's
   *  CSR (the wasm's offsets, gathered per group: no prefix sums here), then ONE readback into
   *  `idx`. With one group the wasm's counts and offsets are uploaded as they are. */
  async evictedIndices(seqIds: readonly number[], protection: Protection, counts: Int32Array, offsets: Uint32Array, idx: Uint32Array): Promise<void> {
    const { numLayers: L, numKvHeads: H } = this.pool.dims;
    const k = seqIds.length;
    const total = offsets[L * k * H];
    if (total === 0) return;
    const ib = this.buffer("evicted", 4 * total);
    for (let g = 0; g < k; g += this.passSeqs) {
      const group = seqIds.slice(g, g + this.passSeqs), kg = group.length;
      let gCounts: Int32Array = counts, gOffsets: Uint32Array = offsets, gTotal = total;
      if (kg !== k) {
        gTotal = 0;
        // Rows of this group, in the group's own [L, kg, H] order → global rows of [L, k, H].
        gCounts = new Int32Array(L * kg * H);
        gOffsets = new Uint32Array(L * kg * H + 1);
        for (let l = 0, i = 0; l < L; l++) for (let j = 0; j < kg; j++) for (let h = 0; h < H; h++, i++) {
          const r = (l * k + g + j) * H + h;
          gCounts[i] = counts[r];
          gOffsets[i] = offsets[r];
          gTotal += counts[r];
        }
      }
      if (gTotal === 0) continue;
      if (this.lastPass !== passKey(group, protection)) this.sort(group, protection);
      const cb = this.upload("counts", gCounts), ob = this.upload("offsets", gOffsets);
      this.run((pass) => this.k.ordering.encodeEvicted(pass, { evictCounts: cb, evictedOffsets: ob, evictedIdx: ib }));
    }
    idx.set(new Uint32Array(await this.read(ib, 0, 4 * total)));
  }

  // ── the GPU-buffer path: encode into the caller's encoder, never submit, never wait ──

  /** Append from GPUBuffers k, v f32 [numNew, numKvHeads, headSize] (STORAGE usage). */
  encodeAppend(encoder: GPUCommandEncoder, layer: number, seqId: number, numNew: number, k: GPUBuffer, v: GPUBuffer): void {
    if (numNew === 0) return;
    const seqLen = this.control.seqLens[seqId];
    const pass = encoder.beginComputePass();
    this.k.append.encode(pass, { layer, newKeys: k, newValues: v, seqs: [{ seqId, tokenStart: 0, numNew, firstPos: seqLen - numNew }] });
    pass.end();
  }

  /** One new token per sequence, row i for seqIds[i]: one append dispatch per MAX_BATCH_SEQS rows. */
  encodeAppendBatch(encoder: GPUCommandEncoder, layer: number, seqIds: readonly number[], k: GPUBuffer, v: GPUBuffer): void {
    if (seqIds.length === 0) return;
    const pass = encoder.beginComputePass();
    this.k.append.encode(pass, { layer, newKeys: k, newValues: v, seqs: seqIds.map((seqId, i) => ({ seqId, tokenStart: i, numNew: 1, firstPos: this.control.seqLens[seqId] - 1 })) });
    pass.end();
  }

  /** Decode attention from q GPUBuffer [numSeqs, numQHeads, headSize] into out (same shape);
   *  batches larger than one dispatch group go through staging copies inside the encoder. */
  encodeDecode(encoder: GPUCommandEncoder, layer: number, seqIds: readonly number[], q: GPUBuffer, out: GPUBuffer, metricMode: 0 | 1 | 2, groupReduce: "sum" | "max" = "sum"): void {
    const rowBytes = 4 * this.pool.dims.numQHeads * this.pool.dims.headSize;
    if (seqIds.length <= this.batchSeqs) {
      const pass = encoder.beginComputePass();
      this.k.decode.encode(pass, { layer, seqIds, queries: q, out, metricMode, groupReduce });
      pass.end();
      return;
    }
    for (let g = 0; g < seqIds.length; g += this.batchSeqs) {
      const group = seqIds.slice(g, g + this.batchSeqs), bytes = group.length * rowBytes;
      const qs = this.buffer("enc-q", bytes), os = this.buffer("enc-out", bytes);
      encoder.copyBufferToBuffer(q, g * rowBytes, qs, 0, bytes);
      const pass = encoder.beginComputePass();
      this.k.decode.encode(pass, { layer, seqIds: group, queries: qs, out: os, metricMode, groupReduce });
      pass.end();
      encoder.copyBufferToBuffer(os, 0, out, g * rowBytes, bytes);
    }
  }

  /** One decode token of one sequence in the caller's compute pass: the append of k, v, then
   *  decode attention of q into out, its split grid sized by the sequence's length (every head
   *  holds at most seqLen KVs). What encodeAppend + encodeDecode do, without their passes. */
  encodeDecodeStep(pass: GPUComputePassEncoder, layer: number, seqId: number, k: GPUBuffer, v: GPUBuffer, q: GPUBuffer, out: GPUBuffer,
    metricMode: 0 | 1 | 2, groupReduce: "sum" | "max" = "sum"): void {
    const seqLen = this.control.seqLens[seqId];
    const s = this.stepSeq[0]!;
    s.seqId = seqId; s.firstPos = seqLen - 1;
    this.stepAppend.layer = layer; this.stepAppend.newKeys = k; this.stepAppend.newValues = v;
    this.k.append.encode(pass, this.stepAppend);
    this.stepIds[0] = seqId;
    const a = this.stepDecode;
    a.layer = layer; a.queries = q; a.out = out; a.metricMode = metricMode; a.groupReduce = groupReduce; a.maxCtxLen = seqLen;
    this.k.decode.encode(pass, a);
  }
  // encodeDecodeStep's argument objects, reused (the decode hot path allocates nothing here).
  private readonly stepSeq = [{ seqId: 0, tokenStart: 0, numNew: 1, firstPos: 0 }];
  private readonly stepAppend: AppendKvArgs = { layer: 0, seqs: this.stepSeq, newKeys: null!, newValues: null! };
  private readonly stepIds = [0];
  private readonly stepDecode: DecodeAttentionArgs = { layer: 0, seqIds: this.stepIds, queries: null!, out: null!, metricMode: 0 };

  /** Prefill attention of the newest numQ tokens from q GPUBuffer [numQ, numQHeads, headSize] into out. */
  encodePrefill(encoder: GPUCommandEncoder, layer: number, seqId: number, numQ: number, q: GPUBuffer, out: GPUBuffer, metric: MetricSettings): void {
    const seqLen = this.control.seqLens[seqId];
    const bytes = 4 * numQ * this.pool.dims.numQHeads * this.pool.dims.headSize;
    const scratch = this.buffer("enc-prefill-out", this.k.prefill.outBytes(numQ, 1));
    const pass = encoder.beginComputePass();
    this.k.prefill.encode(pass, {
      layer, numTokens: numQ, queries: q, out: scratch, metricMode: metric.mode, obsWindow: metric.obsWindow, poolWidth: metric.poolWidth,
      groupReduce: metric.groupReduce, seqs: [{ seqId, tokenStart: 0, numNew: numQ, firstPos: seqLen - numQ }],
    });
    pass.end();
    encoder.copyBufferToBuffer(scratch, 0, out, 0, bytes);
  }

  /** The pass decided on the GPU (src/gpu/kernels/devicePass.ts): one submit, one readback of
   *  4·(1 + L·k·H) bytes (the move count and n per head); the moves stay in the GPU buffer. */
  async devicePass(seqIds: readonly number[], protection: Protection, budgets: ArrayLike<number>, counts: Int32Array): Promise<number> {
    const d = this.pool.dims, ctx = this.control.ctxLens, k = seqIds.length;
    const seqLens = seqIds.map((s) => this.control.seqLens[s]);
    let maxCtxLen = 0, maxMoves = 0;
    for (let l = 0; l < d.numLayers; l++) for (const s of seqIds) for (let h = 0; h < d.numKvHeads; h++) {
      const c = ctx[(l * d.maxSeqs + s) * d.numKvHeads + h];
      if (c > maxCtxLen) maxCtxLen = c;
      maxMoves += c >> 1; // a head moves at most min(holes, tail) ≤ ⌊ctxLen / 2⌋ KVs
    }
    const enc = this.device.createCommandEncoder();
    this.k.pass.encode(enc, { seqIds, seqLens, budgets, ...protection, maxCtxLen, maxMoves });
    const numSegs = d.numLayers * k * d.numKvHeads, bytes = 4 * (1 + numSegs);
    const rb = this.readback(bytes);
    enc.copyBufferToBuffer(this.k.pass.result, 0, rb, 0, bytes);
    this.device.queue.submit([enc.finish()]);
    const words = new Uint32Array(await this.mapped(rb, bytes));
    counts.set(new Int32Array(words.buffer, 4, numSegs));
    return words[0];
  }

  executeDeviceMoves(numMoves: number): void {
    if (numMoves === 0) return;
    this.run((pass) => this.k.moves.encode(pass, { moves: this.k.pass.moves, numMoves }));
  }

  executeMoves(moves: Uint32Array, numMoves: number): void {
    if (numMoves === 0) return;
    const mb = this.upload("moves", moves.subarray(0, 2 * numMoves));
    this.run((pass) => this.k.moves.encode(pass, { moves: mb, numMoves }));
  }

  async readHead(layer: number, seqId: number, kvHead: number): Promise<{ positions: Uint32Array; metrics: Float32Array }> {
    const d = this.pool.dims, b = d.blockSize;
    const row = (layer * d.maxSeqs + seqId) * d.numKvHeads + kvHead;
    const ctx = this.control.ctxLens[row];
    const table = this.control.blockTables.subarray(row * d.maxBlocksPerHead, (row + 1) * d.maxBlocksPerHead);
    const meta = await this.read(this.pool.slotMeta, 0, this.pool.slotMeta.size);
    const met = new Float32Array(meta, 0, d.numBlocks * b), pos = new Uint32Array(meta, this.pool.positionsOffsetBytes, d.numBlocks * b);
    const positions = new Uint32Array(ctx), metrics = new Float32Array(ctx);
    for (let i = 0; i < ctx; i++) {
      const slot = table[Math.floor(i / b)] * b + (i % b);
      positions[i] = pos[slot];
      metrics[i] = met[slot];
    }
    return { positions, metrics };
  }

  destroy(): void {
    for (const kernel of Object.values(this.k)) kernel.destroy();
    for (const b of this.staging.values()) b.destroy();
    this.staging.clear();
    for (const list of this.readbacks.values()) for (const b of list) b.destroy();
    this.readbacks.clear();
    this.destroyed = true;
    this.pool.destroy();
  }

  /** Gathers and sorts the pass's heads; returns the chunk-keys buffer (not yet read). */
  private sort(seqIds: readonly number[], protection: Protection): GPUBuffer {
    const d = this.pool.dims;
    const ck = this.buffer("chunkKeys", 4 * d.numLayers * seqIds.length * d.numKvHeads * d.maxBlocksPerHead);
    const seqLens = seqIds.map((s) => this.control.seqLens[s]);
    this.run((pass) => this.k.ordering.encodeSort(pass, { seqIds, seqLens, ...protection, chunkKeys: ck }));
    this.lastPass = passKey(seqIds, protection);
    return ck;
  }

  private run(record: (pass: GPUComputePassEncoder) => void): void {
    const enc = this.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    record(pass);
    pass.end();
    this.device.queue.submit([enc.finish()]);
  }

  /** A reusable staging buffer of at least `bytes` (grown by replacement; old contents dropped). */
  private buffer(name: string, bytes: number): GPUBuffer {
    const need = Math.max(16, Math.ceil(bytes / 16) * 16);
    let b = this.staging.get(name);
    if (!b || b.size < need) {
      b?.destroy();
      // GPUBufferUsage is read at call time: in Node the globals appear only once `webgpu` is loaded.
      const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
      b = this.device.createBuffer({ label: `gpu-backend-${name}`, size: need, usage });
      this.staging.set(name, b);
    }
    return b;
  }

  private upload(name: string, data: Float32Array | Int32Array | Uint32Array): GPUBuffer {
    const b = this.buffer(name, data.byteLength);
    this.device.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
    return b;
  }

  /** A MAP_READ buffer of at least `bytes` from the pool (sizes round up to a power of two so a
   *  few buffers serve every call; several reads may be in flight, each holds its own). */
  private readback(bytes: number): GPUBuffer {
    const size = Math.max(16, 2 ** Math.ceil(Math.log2(Math.max(4, bytes))));
    const free = this.readbacks.get(size);
    const rb = free?.pop();
    if (rb) return rb;
    this.readbacksCreated++;
    return this.device.createBuffer({ label: `gpu-backend-readback-${size}`, size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  /** Maps a readback buffer after the work submitted so far, copies `bytes` out, returns it to the pool. */
  private async mapped(rb: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    try {
      await rb.mapAsync(GPUMapMode.READ);
    } catch (err) {
      // A device lost mid-call rejects mapAsync with a bare AbortError; device.lost resolves
      // around the same moment, so wait for it briefly and name the loss instead.
      const info = await Promise.race([this.device.lost, new Promise<null>((r) => setTimeout(() => r(null), 200))]);
      if (info) throw new DeviceLostError(info.reason, info.message || "the device was lost while a call was in flight");
      throw err;
    }
    const out = rb.getMappedRange().slice(0, bytes);
    rb.unmap();
    if (this.destroyed) { rb.destroy(); return out; }
    const list = this.readbacks.get(rb.size) ?? [];
    list.push(rb);
    this.readbacks.set(rb.size, list);
    return out;
  }

  /** MAP_READ buffers created so far (tests: a steady decode loop creates none after warm-up). */
  get readbackBuffersCreated(): number { return this.readbacksCreated; }

  private async read(src: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
    const rb = this.readback(bytes);
    const enc = this.device.createCommandEncoder();
    if (bytes > 0) enc.copyBufferToBuffer(src, offset, rb, 0, Math.ceil(bytes / 4) * 4);
    this.device.queue.submit([enc.finish()]);
    return this.mapped(rb, bytes);
  }
}

function passKey(seqIds: readonly number[], p: Protection): string {
  return `${seqIds.join(",")}|${p.protectedWindow}|${p.sinks}|${p.queryAvg ? 1 : 0}|${p.valueNorm ? 1 : 0}`;
}
