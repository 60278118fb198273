// KvCache: the compressed paged KV cache. The wasm control plane decides (pool, tables,
// budgets, schedule, move plan); a KvBackend (WebGPU or wasm SIMD) moves the data. One
// compression pass (DESIGN.md 3): backend score ordering → read back chunk keys → wasm
// schedule → backend evicted indices → wasm move plan → backend moves → blocks back to the pool.
import type { KvBackend, Protection } from "./backend";
import { blockBytes, type KvCacheConfig } from "./config";
import type { ControlPlane } from "./control";
import { DeviceLostError, InvalidArgumentError, KvCompressError, KvPoolExhaustedError } from "./errors";
import { metricModeOf } from "./policies";

/** Per-sequence statistics. `keptPerHead` is i32 [numLayers, numKvHeads] (KVs held). */
export interface SequenceStats {
  readonly seqId: number;
  /** Tokens appended so far (positions 0..seqLen−1). */
  readonly seqLen: number;
  /** Length of the prompt the ratio budget refers to (0 before the first prefill ends). */
  readonly promptTokens: number;
  readonly keptPerHead: Int32Array;
  readonly keptKvs: number;
  readonly blocksInUse: number;
  readonly bytesInUse: number;
  /** Bytes the same tokens would take with every head uncompressed. */
  readonly bytesUncompressed: number;
  /** KVs an uncompressed cache would hold ÷ KVs kept (1 = no compression). */
  readonly achievedRatio: number;
  readonly passes: number;
  readonly evictedKvs: number;
}

/** Whole-cache statistics. */
export interface CacheStats {
  readonly policy: string;
  readonly backend: "gpu" | "cpu";
  readonly numBlocks: number;
  readonly blocksInUse: number;
  readonly freeBlocks: number;
  readonly bytesInUse: number;
  readonly bytesUncompressed: number;
  readonly achievedRatio: number;
  readonly passes: number;
  readonly evictedKvs: number;
  readonly sequences: readonly SequenceStats[];
}

/** What one compression pass did. */
export interface PassReport {
  readonly seqIds: readonly number[];
  readonly evictedKvs: number;
  readonly blocksFreed: number;
}

interface SeqState {
  numNew: number;
  prefilling: boolean;
  promptTokens: number;
  passes: number;
  evictedKvs: number;
  addedAt: number;
}

/**
 * A compressed paged KV cache: per-(layer, KV head) block tables over one pool allocated up
 * front, on WebGPU or the CPU backend. Create it with `createKvCache`.
 *
 * One step of one sequence: {@link KvCache.reserve} → per layer {@link KvCache.append} and
 * {@link KvCache.attend} → {@link KvCache.endStep} (where the policy compresses). The
 * GPU-buffer twins {@link KvCache.encodeAppend} / {@link KvCache.encodeAttention} encode into
 * your command encoder instead.
 *
 * @example
 * ```ts
 * const cache = await createKvCache({ numLayers: 2, numQHeads: 8, numKvHeads: 4, headSize: 16,
 *   capacityTokens: 512, policy: { name: "kvcompress", ratio: 4 } });
 * const seq = cache.addSequence();
 * await cache.reserve(seq, 3);
 * cache.append(0, seq, new Float32Array(3 * 4 * 16), new Float32Array(3 * 4 * 16));
 * const out = await cache.attend(0, seq, new Float32Array(3 * 8 * 16)); // [3, 8, 16]
 * ```
 */
export class KvCache {
  private readonly seqs = new Map<number, SeqState>();
  private addCounter = 0;
  private totalPasses = 0;
  private totalEvicted = 0;
  private destroyed = false;

  /** @internal Use createKvCache() from the SDK. */
  constructor(readonly config: KvCacheConfig, private readonly control: ControlPlane, private readonly backend: KvBackend,
    private readonly lost: () => DeviceLostError | undefined, private readonly onDestroy: () => void = () => {}) {}

  /** "gpu" or "cpu". */
  get backendKind(): "gpu" | "cpu" { return this.backend.kind; }
  /** The adapter the cache runs on ("wasm-simd" for the CPU backend). */
  get adapterName(): string { return this.backend.adapterName; }

  /** Takes a sequence slot. @throws KvPoolExhaustedError when maxSeqs sequences are live. */
  addSequence(): number {
    this.check();
    const seqId = this.control.addSequence();
    if (seqId < 0) throw new KvPoolExhaustedError(`maxSeqs: all ${this.config.maxSeqs} sequence slots are in use; remove one first`);
    this.seqs.set(seqId, { numNew: 0, prefilling: true, promptTokens: 0, passes: 0, evictedKvs: 0, addedAt: this.addCounter++ });
    this.backend.syncTables([seqId]);
    return seqId;
  }

  /** Frees every block of the sequence; they are at once available to others. */
  removeSequence(seqId: number): void {
    this.check();
    this.state(seqId);
    this.control.removeSequence(seqId);
    this.seqs.delete(seqId);
    this.backend.syncTables([seqId]);
  }

  /**
   * Reserves slots for the next `numTokens` tokens of a sequence in every (layer, KV head).
   * The first reservations of a sequence are its prompt (prefill) until {@link endStep}.
   * When the pool is short, compresses sequences with a budget first (continual compression).
   * @throws KvPoolExhaustedError when even that cannot make room; nothing has changed then.
   */
  async reserve(seqId: number, numTokens: number): Promise<void> {
    this.check();
    const st = this.state(seqId);
    if (!Number.isInteger(numTokens) || numTokens < 1) throw new InvalidArgumentError("numTokens", numTokens, "an integer ≥ 1");
    const c = this.config;
    const seqLen = this.control.seqLens[seqId];
    if (seqLen + numTokens > c.maxContextTokens) throw new InvalidArgumentError("numTokens", numTokens, `seqLen (${seqLen}) + numTokens ≤ maxContextTokens (${c.maxContextTokens})`);
    let need = this.control.blocksToReserve(seqId, numTokens);
    if (need > c.numBlocks) throw new KvPoolExhaustedError(`a prompt of ${numTokens} tokens needs ${need} blocks; the pool has ${c.numBlocks} in all`, need, this.control.numFreeBlocks);
    if (need > this.control.numFreeBlocks && c.policy.budget) {
      // Prompts arrive uncompressed; only sequences past their prefill give up KVs.
      const decoding = [...this.seqs].filter(([, s]) => !s.prefilling).map(([id]) => id);
      if (decoding.length) await this.compress(decoding);
      need = this.control.blocksToReserve(seqId, numTokens);
    }
    if (!this.control.reserve(seqId, numTokens)) {
      const newest = [...this.seqs.entries()].sort((a, b) => b[1].addedAt - a[1].addedAt)[0][0];
      throw new KvPoolExhaustedError(`need ${need} blocks for ${numTokens} tokens of sequence ${seqId}, ${this.control.numFreeBlocks} free; preempt a sequence (newest: ${newest}) or raise the capacity`, need, this.control.numFreeBlocks);
    }
    st.numNew = numTokens;
    this.backend.syncTables([seqId]);
  }

  /** Writes this step's keys (after RoPE) and values for one layer.
   *  @param k - f32 [numTokens, numKvHeads, headSize] of the tokens just reserved; v likewise.
   *  @throws InvalidArgumentError on a bad layer, seqId or length. */
  append(layer: number, seqId: number, k: Float32Array, v: Float32Array): void {
    this.check();
    const st = this.state(seqId);
    this.checkLayer(layer);
    const want = st.numNew * this.config.numKvHeads * this.config.headSize;
    if (st.numNew === 0) throw new InvalidArgumentError("seqId", seqId, "a sequence with tokens reserved this step (call reserve first)");
    if (k.length !== want || v.length !== want) throw new InvalidArgumentError("k.length / v.length", `${k.length} / ${v.length}`, `numTokens·numKvHeads·headSize = ${want}`);
    this.backend.append(layer, seqId, st.numNew, k, v);
  }

  /** Attention of this step's queries of one sequence (causal; prefill or one decode token),
   *  adding the policy's metric to every KV it reads.
   *  @param q - f32 [numTokens, numQHeads, headSize], after RoPE.
   *  @returns f32 [numTokens, numQHeads, headSize].
   *  @throws InvalidArgumentError on a bad layer, seqId or length; DeviceLostError after device loss. */
  async attend(layer: number, seqId: number, q: Float32Array): Promise<Float32Array> {
    this.check();
    const st = this.state(seqId);
    this.checkLayer(layer);
    const c = this.config;
    if (q.length !== st.numNew * c.numQHeads * c.headSize) throw new InvalidArgumentError("q.length", q.length, `numTokens·numQHeads·headSize = ${st.numNew * c.numQHeads * c.headSize}`);
    const p = c.policy;
    if (st.prefilling) return this.backend.prefillAttention(layer, seqId, q, st.numNew, { mode: metricModeOf(p.metric), obsWindow: p.obsWindow, poolWidth: p.poolWidth, groupReduce: p.groupReduce });
    return this.backend.decodeAttention(layer, [seqId], q, p.decodeMetric ? metricModeOf(p.metric) : 0, p.groupReduce);
  }

  /** Decode attention for several sequences at once, one new token each.
   *  @param q - f32 [numSeqs, numQHeads, headSize]. */
  async attendBatch(layer: number, seqIds: readonly number[], q: Float32Array): Promise<Float32Array> {
    this.check();
    this.checkLayer(layer);
    for (const s of seqIds) if (this.state(s).numNew !== 1 || this.state(s).prefilling) throw new InvalidArgumentError("seqIds", s, "decoding sequences with exactly one token reserved");
    const c = this.config;
    if (q.length !== seqIds.length * c.numQHeads * c.headSize) throw new InvalidArgumentError("q.length", q.length, `numSeqs·numQHeads·headSize = ${seqIds.length * c.numQHeads * c.headSize}`);
    return this.backend.decodeAttention(layer, seqIds, q, c.policy.decodeMetric ? metricModeOf(c.policy.metric) : 0, c.policy.groupReduce);
  }

  // ── the GPU-buffer path: inputs and outputs are GPUBuffers the caller owns (f32, STORAGE
  // usage); these only ENCODE into the caller's command encoder and never wait on the GPU.
  // The caller submits, in order. A wrapper encodes at most 256 dispatches per submit. ──

  /** The device of a WebGPU cache (for creating the buffers below). @throws KvCompressError on the CPU backend. */
  get device(): GPUDevice {
    return this.gpuPath().device;
  }

  /** Encodes the append of this step's keys (after RoPE) and values for one layer.
   *  @param k - GPUBuffer f32 [numTokens, numKvHeads, headSize]; v likewise. */
  encodeAppend(encoder: GPUCommandEncoder, layer: number, seqId: number, k: GPUBuffer, v: GPUBuffer): void {
    this.check();
    const st = this.state(seqId);
    this.checkLayer(layer);
    const bytes = 4 * st.numNew * this.config.numKvHeads * this.config.headSize;
    if (st.numNew === 0) throw new InvalidArgumentError("seqId", seqId, "a sequence with tokens reserved this step (call reserve first)");
    if (k.size < bytes || v.size < bytes) throw new InvalidArgumentError("k.size / v.size", `${k.size} / ${v.size}`, `≥ numTokens·numKvHeads·headSize·4 = ${bytes} bytes`);
    this.gpuPath().encodeAppend(encoder, layer, seqId, st.numNew, k, v);
  }

  /** Encodes attention of this step's queries: prefill of one sequence (seqIds of length 1 while
   *  it is prefilling) or decode of several sequences, one token each.
   *  @param q - GPUBuffer f32 [numTokens (prefill) or numSeqs (decode), numQHeads, headSize]; out the same shape.
   *  @param options - `metric: false` skips the prefill metric for this chunk (chunked prefill: only the
   *  chunks holding the last obsWindow queries of the prompt score).
   */
  encodeAttention(encoder: GPUCommandEncoder, layer: number, seqIds: readonly number[], q: GPUBuffer, out: GPUBuffer, options: { metric?: boolean } = {}): void {
    this.check();
    this.checkLayer(layer);
    const c = this.config, p = c.policy;
    const first = this.state(seqIds[0]);
    const rows = first.prefilling ? first.numNew : seqIds.length;
    if (first.prefilling && seqIds.length !== 1) throw new InvalidArgumentError("seqIds", seqIds.length, "one sequence per prefill");
    if (!first.prefilling) for (const s of seqIds) if (this.state(s).numNew !== 1 || this.state(s).prefilling) throw new InvalidArgumentError("seqIds", s, "decoding sequences with exactly one token reserved");
    const bytes = 4 * rows * c.numQHeads * c.headSize;
    if (q.size < bytes || out.size < bytes) throw new InvalidArgumentError("q.size / out.size", `${q.size} / ${out.size}`, `≥ ${bytes} bytes`);
    const gpu = this.gpuPath();
    if (first.prefilling) gpu.encodePrefill(encoder, layer, seqIds[0], rows, q, out, { mode: options.metric === false ? 0 : metricModeOf(p.metric), obsWindow: p.obsWindow, poolWidth: p.poolWidth, groupReduce: p.groupReduce });
    else gpu.encodeDecode(encoder, layer, seqIds, q, out, p.decodeMetric ? metricModeOf(p.metric) : 0, p.groupReduce);
  }

  private gpuPath(): NonNullable<KvBackend["gpu"]> {
    if (!this.backend.gpu) throw new KvCompressError("the GPU-buffer path needs the WebGPU backend; this cache runs on the CPU backend (use append/attend with typed arrays)");
    return this.backend.gpu;
  }

  /** Ends the step of these sequences after the last layer: a finished prefill is compressed
   *  to the budget; with the continual trigger, so is a decoding sequence over its budget. */
  async endStep(seqIds: readonly number[]): Promise<PassReport | null> {
    this.check();
    const due: number[] = [];
    for (const s of seqIds) {
      const st = this.state(s);
      if (st.prefilling) {
        st.prefilling = false;
        st.promptTokens = this.control.seqLens[s];
        if (this.config.policy.budget) due.push(s);
      } else if (this.config.policy.trigger === "continual" && this.config.policy.budget && this.budgetBlocks(s) > 0) {
        due.push(s);
      }
      st.numNew = 0;
    }
    return due.length ? this.compress(due) : null;
  }

  /**
   * Runs one compression pass over the given sequences (default: all), each to its own budget;
   * sequences never trade budget. A no-op for policy "full".
   */
  async compress(seqIds: readonly number[] = [...this.seqs.keys()]): Promise<PassReport> {
    this.check();
    const p = this.config.policy;
    const ids = seqIds.filter((s) => this.state(s) && this.control.seqLens[s] > 0);
    if (!p.budget || ids.length === 0) return { seqIds: ids, evictedKvs: 0, blocksFreed: 0 };
    let evictedKvs = 0, blocksFreed = 0;
    if (p.ranking === "global") {
      const r = await this.pass(ids, () => this.control.scheduleKvCompress(ids, ids.map((s) => this.budgetBlocks(s))));
      evictedKvs += r.evictedKvs; blocksFreed += r.blocksFreed;
    } else {
      for (const s of ids) { // layerCaps are pool-wide, so per-layer rankings go one sequence at a time
        const cap = this.capTokens(s);
        if (p.ranking === "pyramid") this.control.pyramidLayerCaps(cap, Math.round(p.pyramidBeta));
        else this.control.uniformLayerCaps(cap);
        const r = await this.pass([s], () => p.ranking === "layer" ? this.control.scheduleByLayer([s]) : this.control.scheduleUniform([s]));
        evictedKvs += r.evictedKvs; blocksFreed += r.blocksFreed;
      }
    }
    return { seqIds: ids, evictedKvs, blocksFreed };
  }

  /** One pass over `ids`: the backend orders scores, the wasm schedules and plans, the backend moves. */
  private async pass(ids: number[], schedule: () => number): Promise<{ evictedKvs: number; blocksFreed: number }> {
    const prot: Protection = { protectedWindow: this.config.policy.protectedWindow, sinks: this.config.policy.sinks };
    await this.backend.chunkKeys(ids, prot, this.control.chunkKeys(ids.length));
    schedule();
    // A copy: the CPU backend may grow wasm memory below, which detaches views onto it.
    const counts = this.control.evictCounts(ids.length).slice();
    let evicted = 0;
    for (const n of counts) evicted += n;
    if (evicted === 0) return { evictedKvs: 0, blocksFreed: 0 };
    await this.backend.evictedIndices(ids, prot, counts, this.control.evictedOffsets(ids.length), this.control.evictedIdx);
    const { numMoves, numFreed } = this.control.planMoves();
    this.backend.executeMoves(this.control.moves(numMoves), numMoves);
    this.backend.syncTables(ids);
    const perSeq = this.config.numKvHeads;
    ids.forEach((s, i) => {
      const st = this.seqs.get(s)!;
      let n = 0;
      for (let l = 0; l < this.config.numLayers; l++) for (let h = 0; h < perSeq; h++) n += counts[(l * ids.length + i) * perSeq + h];
      st.passes++;
      st.evictedKvs += n;
    });
    this.totalPasses++;
    this.totalEvicted += evicted;
    return { evictedKvs: evicted, blocksFreed: numFreed };
  }

  /** Per-head token budget C of a sequence (ratio mode refers to its prompt length). */
  private capTokens(seqId: number): number {
    const b = this.config.policy.budget!;
    if (b.kind === "tokens") return b.maxTokensPerHead;
    const st = this.seqs.get(seqId)!;
    return this.control.capTokensForRatio(st.promptTokens || this.control.seqLens[seqId], b.ratio, b.minTokens);
  }

  /** E: blocks the sequence holds beyond its budget (DESIGN.md 2.4). */
  private budgetBlocks(seqId: number): number {
    return this.control.budgetMaxTokens(seqId, this.capTokens(seqId));
  }

  /** Statistics of the whole cache and of every live sequence. */
  stats(): CacheStats {
    this.check();
    const c = this.config;
    const cs = this.control.stats();
    const ctx = this.control.ctxLens;
    const bytesPerBlock = blockBytes(c);
    const sequences: SequenceStats[] = [];
    let keptAll = 0, fullAll = 0;
    for (const [seqId, st] of [...this.seqs.entries()].sort((a, b) => a[0] - b[0])) {
      const kept = new Int32Array(c.numLayers * c.numKvHeads);
      let keptKvs = 0;
      for (let l = 0; l < c.numLayers; l++) for (let h = 0; h < c.numKvHeads; h++) {
        const n = ctx[this.control.rowOf(l, seqId, h)];
        kept[l * c.numKvHeads + h] = n;
        keptKvs += n;
      }
      const seqLen = this.control.seqLens[seqId];
      const fullKvs = seqLen * c.numLayers * c.numKvHeads;
      keptAll += keptKvs; fullAll += fullKvs;
      const blocksInUse = cs.blocksPerSeq[seqId];
      sequences.push({
        seqId, seqLen, promptTokens: st.promptTokens, keptPerHead: kept, keptKvs, blocksInUse,
        bytesInUse: blocksInUse * bytesPerBlock,
        bytesUncompressed: Math.ceil(seqLen / c.blockSize) * c.numLayers * c.numKvHeads * bytesPerBlock,
        achievedRatio: keptKvs ? fullKvs / keptKvs : 1, passes: st.passes, evictedKvs: st.evictedKvs,
      });
    }
    return {
      policy: c.policy.name, backend: this.backend.kind, numBlocks: c.numBlocks, blocksInUse: cs.blocksInUse, freeBlocks: cs.freeBlocks,
      bytesInUse: cs.blocksInUse * bytesPerBlock,
      bytesUncompressed: sequences.reduce((a, s) => a + s.bytesUncompressed, 0),
      achievedRatio: keptAll ? fullAll / keptAll : 1, passes: this.totalPasses, evictedKvs: this.totalEvicted, sequences,
    };
  }

  /** Positions and metrics held by one head, in logical order (for tests and inspection). */
  async readHead(layer: number, seqId: number, kvHead: number): Promise<{ positions: Uint32Array; metrics: Float32Array }> {
    this.check();
    this.state(seqId);
    this.checkLayer(layer);
    if (!Number.isInteger(kvHead) || kvHead < 0 || kvHead >= this.config.numKvHeads) throw new InvalidArgumentError("kvHead", kvHead, `an integer in [0, ${this.config.numKvHeads})`);
    return this.backend.readHead(layer, seqId, kvHead);
  }

  /** Releases every GPU buffer (or the CPU pool). Later calls throw. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.backend.destroy();
    this.onDestroy();
  }

  private check(): void {
    if (this.destroyed) throw new KvCompressError("this KvCache was destroyed");
    const lost = this.lost();
    if (lost) throw lost;
  }
  private state(seqId: number): SeqState {
    const st = this.seqs.get(seqId);
    if (!st) throw new InvalidArgumentError("seqId", seqId, `a live sequence id (live: ${[...this.seqs.keys()].join(", ") || "none"})`);
    return st;
  }
  private checkLayer(layer: number): void {
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.config.numLayers) throw new InvalidArgumentError("layer", layer, `an integer in [0, ${this.config.numLayers})`);
  }
}
