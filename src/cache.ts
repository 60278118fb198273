// KvCache: the compressed paged KV cache. The wasm control plane decides (pool, tables,
// budgets, schedule, move plan); a KvBackend (WebGPU or wasm SIMD) moves the data. One
// compression pass (docs/METHOD.md §3): backend score ordering → read back chunk keys → wasm
// schedule → backend evicted indices → wasm move plan → backend moves → blocks back to the pool;
// on WebGPU with the global ranking the device decides and plans it all and the wasm applies
// only n per head (devicePassNow).
import type { KvBackend, Protection } from "./backend";
import type { KvCacheConfig } from "./config";
import type { ControlPlane, PressurePlan, StepState } from "./control/plane";
import { ConfigError, DeviceLostError, InvalidArgumentError, KvCompressError, KvPoolExhaustedError } from "./errors";
import { metricModeOf } from "./policies";
import { MAX_BATCH_SEQS } from "./contract";

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
  // Every sequence's state (step, prompt, passes, evicted KVs) and the pool's counters live in the
  // control plane (assembly/steps.ts); this class reads them through views and holds only what
  // is JavaScript's: the queue of async calls and the sequences of the pass in flight.
  private destroyed = false;
  /** Reserve, endStep and compress run one at a time: a pass reads the tables, awaits the
   *  backend, then writes them, so two passes interleaved would plan on stale state. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Sequences of the pass in flight (removeSequence refuses them meanwhile). */
  private readonly inPass = new Set<number>();

  /** @internal Use createKvCache() from the SDK. */
  constructor(readonly config: KvCacheConfig, private readonly control: ControlPlane, private readonly backend: KvBackend,
    private readonly lost: () => DeviceLostError | undefined, private readonly onDestroy: () => void = () => {}) {
    control.setPolicy(config.policy);
  }

  /** "gpu" or "cpu". */
  get backendKind(): "gpu" | "cpu" { return this.backend.kind; }
  /** The adapter the cache runs on ("wasm-simd" for the CPU backend). */
  get adapterName(): string { return this.backend.adapterName; }

  /** Takes a sequence slot. @throws KvPoolExhaustedError when maxSeqs sequences are live. */
  addSequence(): number {
    this.check();
    const seqId = this.control.addSequence();
    if (seqId < 0) throw new KvPoolExhaustedError(`maxSeqs: all ${this.config.maxSeqs} sequence slots are in use; remove one first`);
    this.backend.syncTables([seqId]);
    return seqId;
  }

  /**
   * A sequence's own budget instead of the policy's value (a request's setting, as the reference
   * fork's per-request `max_cache_tokens` / compression rate): `maxCacheTokens` KVs per (layer,
   * KV head), or `ratio` on its prompt; null restores the policy's. The policy's kind of ranking,
   * protection and trigger still apply, so the policy must have a budget (not "full").
   * @throws ConfigError on a bad value or a policy without a budget.
   */
  setSequenceBudget(seqId: number, budget: { maxCacheTokens: number } | { ratio: number } | null): void {
    this.check();
    this.state(seqId);
    if (budget !== null && !this.config.policy.budget) throw new ConfigError("budget", `policy "${this.config.policy.name}" has no budget to replace; use a policy with one (e.g. kvcompress)`);
    this.control.setSeqBudget(seqId, budget === null ? null : "ratio" in budget ? { ratio: budget.ratio } : { maxTokensPerHead: budget.maxCacheTokens });
  }

  /** Per-head budget C of a sequence now (2^31 − 1 without one): its own or the policy's. */
  sequenceBudgetTokens(seqId: number): number {
    this.check();
    this.state(seqId);
    return this.control.seqCapTokens(seqId);
  }

  /** Frees every block of the sequence; they are at once available to others. */
  removeSequence(seqId: number): void {
    this.check();
    this.state(seqId);
    // The pass planned moves over this sequence's blocks; freeing them under it would corrupt them.
    if (this.inPass.has(seqId)) throw new InvalidArgumentError("seqId", seqId, "a sequence not in a compression pass in flight (await the endStep/compress/reserve first)");
    this.control.removeSequence(seqId);
    this.backend.syncTables([seqId]);
  }

  /**
   * Reserves slots for the next `numTokens` tokens of a sequence in every (layer, KV head).
   * The first reservations of a sequence are its prompt (prefill) until {@link endStep}.
   * When the pool is short, compresses sequences with a budget first (continual compression).
   * @throws KvPoolExhaustedError when even that cannot make room; nothing has changed then.
   */
  async reserve(seqId: number, numTokens: number): Promise<void> {
    return this.exclusive(() => this.reserveNow(seqId, numTokens));
  }

  /**
   * One decode token for each of `seqIds` in turn, as {@link reserve} would give it (compressing
   * sequences between steps when the pool is short), with the device's tables written once for
   * all of them. Stops at the first sequence that does not fit even so: returns how many were
   * reserved (all: `seqIds.length`); that sequence and the ones after it are untouched, and
   * {@link pressurePlan} names whom to preempt for it. A serving loop's reserve of one step.
   * @throws InvalidArgumentError as reserve does (nothing reserved after the bad one).
   */
  async reserveMany(seqIds: readonly number[]): Promise<number> {
    return this.exclusive(async () => {
      const done: number[] = [];
      try {
        for (const s of seqIds) {
          try {
            await this.reserveNow(s, 1, done);
          } catch (err) {
            if (err instanceof KvPoolExhaustedError) break;
            throw err;
          }
          done.push(s);
        }
      } finally {
        if (this.backend.syncReservedMany) this.backend.syncReservedMany(done);
        else for (const s of done) this.syncAfterReserve(s, 1);
      }
      return done.length;
    });
  }

  private syncAfterReserve(seqId: number, numTokens: number): void {
    // Nothing but this reserve changed the sequence's rows since they were last synced (a pass
    // syncs what it moves): the lengths and the new blocks' entries are enough.
    if (this.backend.syncReserved) this.backend.syncReserved(seqId, numTokens);
    else this.backend.syncTables([seqId]);
  }

  /** @param deferred - reserveMany's sequences reserved before this one and not yet synced. */
  private async reserveNow(seqId: number, numTokens: number, deferred?: readonly number[]): Promise<void> {
    this.check();
    const st = this.state(seqId);
    if (!Number.isInteger(numTokens) || numTokens < 1) throw new InvalidArgumentError("numTokens", numTokens, "an integer ≥ 1");
    // After the prompt a step is one token (decode attention reads one query per sequence).
    if (!st.prefilling && numTokens !== 1) throw new InvalidArgumentError("numTokens", numTokens, "1 for a sequence past its prefill (one decode token per step)");
    // A prompt may arrive in chunks (chunked prefill): while prefilling, the next chunk may be
    // reserved once the previous one is appended in every layer. Otherwise one reserve per step.
    const chunkDone = st.prefilling && st.numAppended === this.config.numLayers;
    if (st.numNew !== 0 && !chunkDone) {
      throw new InvalidArgumentError("seqId", seqId, "a sequence without tokens reserved this step (call endStep first; a prefill chunk must be appended in every layer first)");
    }
    const c = this.config;
    const seqLen = this.control.seqLens[seqId];
    if (seqLen + numTokens > c.maxContextTokens) throw new InvalidArgumentError("numTokens", numTokens, `seqLen (${seqLen}) + numTokens ≤ maxContextTokens (${c.maxContextTokens})`);
    const need = this.control.blocksToReserve(seqId, numTokens);
    if (need > c.numBlocks) throw new KvPoolExhaustedError(`a prompt of ${numTokens} tokens needs ${need} blocks; the pool has ${c.numBlocks} in all`, need, this.control.numFreeBlocks);
    // The control plane's one pressure decision (assembly/pressure.ts), made before evicting
    // anything: compress the decoding sequences between steps, or, when even that is short,
    // refuse (nothing changed) and name the sequence to preempt — the caller's to free.
    const plan = this.control.pressurePlan(seqId, numTokens);
    if (plan.action === "preempt") throw this.exhausted(seqId, numTokens, plan);
    if (plan.action === "compress") {
      // A pass's kernels read the device's tables: bring the deferred reservations there first.
      if (deferred?.length) this.backend.syncTables(deferred);
      await this.compressNow(plan.compress);
    }
    if (!this.control.reserveStep(seqId, numTokens)) throw this.exhausted(seqId, numTokens, this.control.pressurePlan(seqId, numTokens));
    if (!deferred) this.syncAfterReserve(seqId, numTokens);
  }

  private exhausted(seqId: number, numTokens: number, plan: PressurePlan): KvPoolExhaustedError {
    const { blocksNeeded: need, blocksFree: free, blocksFreeable: gain } = plan;
    // The plan's first preemption is the newest live sequence (admission order, seqBirth).
    const newest = plan.preempt.length ? plan.preempt[0] : this.control.liveSeqIds().reduce((a, b) => (this.control.seqBirth[b] > this.control.seqBirth[a] ? b : a));
    return new KvPoolExhaustedError(`need ${need} blocks for ${numTokens} tokens of sequence ${seqId}, ${free} free` +
      (gain ? ` and ${gain} freeable by compression` : "") + `; preempt a sequence (newest: ${newest}) or raise the capacity`, need, free);
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
    checkFinite("k", k, want);
    checkFinite("v", v, want);
    this.backend.append(layer, seqId, st.numNew, k, v);
    this.control.markAppended(seqId, layer);
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
    this.checkAppended(seqId, st, layer);
    checkFinite("q", q, st.numNew * c.numQHeads * c.headSize);
    const p = c.policy;
    if (st.prefilling) return this.settle(this.backend.prefillAttention(layer, seqId, q, st.numNew, { mode: metricModeOf(p.metric), obsWindow: p.obsWindow, poolWidth: p.poolWidth, groupReduce: p.groupReduce }));
    return this.settle(this.backend.decodeAttention(layer, [seqId], q, p.decodeMetric ? metricModeOf(p.metric) : 0, p.groupReduce));
  }

  /** A backend call's result; a failure while the device is being lost becomes DeviceLostError.
   *  Runtimes report a loss mid-call in their own words (Dawn: a bare AbortError from mapAsync;
   *  Deno's wgpu: "OperationError: Parent device is lost" from the next call on the device), and
   *  device.lost may settle a moment later: wait for it briefly. */
  private async settle<T>(call: Promise<T>): Promise<T> {
    try {
      return await call;
    } catch (err) {
      if (err instanceof KvCompressError || this.backend.kind !== "gpu") throw err;
      for (let i = 0; i < 20 && !this.lost(); i++) await new Promise((r) => setTimeout(r, 10));
      const lost = this.lost();
      if (lost) throw lost;
      if (err instanceof Error && /device (is )?(lost|destroyed)/i.test(err.message)) throw new DeviceLostError("destroyed", err.message);
      throw err;
    }
  }

  /** Decode attention for several sequences at once, one new token each.
   *  @param q - f32 [numSeqs, numQHeads, headSize]. */
  async attendBatch(layer: number, seqIds: readonly number[], q: Float32Array): Promise<Float32Array> {
    this.check();
    this.checkLayer(layer);
    this.checkDecodeRows(seqIds, layer);
    const c = this.config;
    checkFinite("q", q, seqIds.length * c.numQHeads * c.headSize);
    return this.settle(this.backend.decodeAttention(layer, seqIds, q, c.policy.decodeMetric ? metricModeOf(c.policy.metric) : 0, c.policy.groupReduce));
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
    this.control.markAppended(seqId, layer);
  }

  /** Encodes the append of one new token for each of several decoding sequences (a batched
   *  decode step), in one dispatch per 64 rows.
   *  @param k - GPUBuffer f32 [seqIds.length, numKvHeads, headSize], row i for seqIds[i]; v likewise. */
  encodeAppendBatch(encoder: GPUCommandEncoder, layer: number, seqIds: readonly number[], k: GPUBuffer, v: GPUBuffer): void {
    this.check();
    this.checkLayer(layer);
    this.checkDecodeRows(seqIds, -1);
    const bytes = 4 * seqIds.length * this.config.numKvHeads * this.config.headSize;
    if (k.size < bytes || v.size < bytes) throw new InvalidArgumentError("k.size / v.size", `${k.size} / ${v.size}`, `≥ numSeqs·numKvHeads·headSize·4 = ${bytes} bytes`);
    this.gpuPath().encodeAppendBatch(encoder, layer, seqIds, k, v);
    this.control.markAppendedRows(seqIds, layer);
  }

  /** The control plane's pressure decision for reserving `numTokens` more tokens of `seqId`
   *  (assembly/pressure.ts; it changes nothing): what {@link reserve} would do. A serving loop
   *  reads it to pick whom to preempt after reserve refused. */
  pressurePlan(seqId: number, numTokens: number): PressurePlan {
    this.check();
    this.state(seqId);
    return this.control.pressurePlan(seqId, numTokens);
  }

  /** The most blocks a sequence of `promptTokens` holds until it reaches `finalTokens`, when
   *  compression under pressure keeps it at its budget (plus one block a head for the tokens
   *  since) and no one is preempted: admission's measure of room for growth. Its prefill's own
   *  uncompressed blocks are not included ({@link pressurePlan} covers those). */
  peakBlocks(seqId: number, promptTokens: number, finalTokens: number): number {
    this.check();
    this.state(seqId);
    return this.control.seqPeakBlocks(seqId, promptTokens, finalTokens);
  }

  /** Blocks reserve(seqId, numTokens) would take (0 when its blocks have room). */
  blocksToReserve(seqId: number, numTokens: number): number {
    this.check();
    this.state(seqId);
    return this.control.blocksToReserve(seqId, numTokens);
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
    if (seqIds.length === 0) throw new InvalidArgumentError("seqIds", "[]", "one or more live sequence ids");
    const first = this.state(seqIds[0]);
    const rows = first.prefilling ? first.numNew : seqIds.length;
    if (first.prefilling && seqIds.length !== 1) throw new InvalidArgumentError("seqIds", seqIds.length, "one sequence per prefill");
    if (first.prefilling) this.checkAppended(seqIds[0], first, layer);
    else this.checkDecodeRows(seqIds, layer);
    const bytes = 4 * rows * c.numQHeads * c.headSize;
    if (q.size < bytes || out.size < bytes) throw new InvalidArgumentError("q.size / out.size", `${q.size} / ${out.size}`, `≥ ${bytes} bytes`);
    const gpu = this.gpuPath();
    if (first.prefilling) gpu.encodePrefill(encoder, layer, seqIds[0], rows, q, out, { mode: options.metric === false ? 0 : metricModeOf(p.metric), obsWindow: p.obsWindow, poolWidth: p.poolWidth, groupReduce: p.groupReduce });
    else gpu.encodeDecode(encoder, layer, seqIds, q, out, p.decodeMetric ? metricModeOf(p.metric) : 0, p.groupReduce);
  }

  /** Whether a live sequence is past its prefill (its steps are one decode token each). */
  isDecoding(seqId: number): boolean {
    this.state(seqId);
    return this.control.isPastPrefill(seqId);
  }

  /**
   * Encodes one decode token of one sequence for one layer into the caller's compute pass: the
   * append of k, v (after RoPE) and attention of q into out, as encodeAppend + encodeAttention
   * do, without a pass of their own and without allocating (the decode hot path).
   * @param k - GPUBuffer f32 [numKvHeads, headSize]; v likewise; q, out f32 [numQHeads, headSize].
   */
  encodeDecodeStep(pass: GPUComputePassEncoder, layer: number, seqId: number, k: GPUBuffer, v: GPUBuffer, q: GPUBuffer, out: GPUBuffer): void {
    this.check();
    this.checkLayer(layer);
    const c = this.config, p = c.policy;
    if (!this.control.isActive(seqId)) this.state(seqId); // throws, naming the live ids
    if (this.control.numNewOf(seqId) !== 1 || !this.control.isPastPrefill(seqId)) {
      throw new InvalidArgumentError("seqId", seqId, "a decoding sequence with exactly one token reserved");
    }
    const kvBytes = 4 * c.numKvHeads * c.headSize, qBytes = 4 * c.numQHeads * c.headSize;
    if (k.size < kvBytes || v.size < kvBytes) throw new InvalidArgumentError("k.size / v.size", `${k.size} / ${v.size}`, `≥ numKvHeads·headSize·4 = ${kvBytes} bytes`);
    if (q.size < qBytes || out.size < qBytes) throw new InvalidArgumentError("q.size / out.size", `${q.size} / ${out.size}`, `≥ ${qBytes} bytes`);
    this.gpuPath().encodeDecodeStep(pass, layer, seqId, k, v, q, out, p.decodeMetric ? metricModeOf(p.metric) : 0, p.groupReduce);
    this.control.markAppended(seqId, layer);
  }

  private gpuPath(): NonNullable<KvBackend["gpu"]> {
    if (!this.backend.gpu) throw new KvCompressError("the GPU-buffer path needs the WebGPU backend; this cache runs on the CPU backend (use append/attend with typed arrays)");
    return this.backend.gpu;
  }

  /** Ends the step of these sequences after the last layer: a finished prefill is compressed
   *  to the budget; with the continual trigger, so is a decoding sequence over its budget. */
  async endStep(seqIds: readonly number[]): Promise<PassReport | null> {
    return this.exclusive(() => this.endStepNow(seqIds));
  }

  private async endStepNow(seqIds: readonly number[]): Promise<PassReport | null> {
    this.check();
    seqIds.forEach((s) => this.state(s)); // every id checked before any state changes
    // The control plane ends each step (the first ends the prefill) and says whether the policy
    // makes a pass due: a prompt just ended, or (continual) a sequence over its budget.
    const due = seqIds.filter((s) => this.control.endStep(s));
    return due.length ? this.compressNow(due) : null;
  }

  /**
   * Cancels the current step of a decoding sequence: the token reserved (and perhaps appended)
   * since its last endStep is dropped, and pool, tables and lengths are as before that reserve.
   * A pipelined decode submits step n + 1 before it knows step n's token; when that token ends
   * generation, the step it started is cancelled so stats() match the unpipelined run.
   * @throws InvalidArgumentError when the sequence is prefilling or has nothing reserved.
   */
  async cancelStep(seqId: number): Promise<void> {
    return this.cancelSteps(seqId, 1);
  }

  /**
   * Cancels the newest `count` decode tokens of a sequence: the open step (reserved, not ended),
   * if any, then ended ones, newest first, each restored as before its reserve. Exact only when
   * no compression pass ran since those tokens were reserved: a pipelined decode goes more than
   * one step deep only when none can ({@link passFreeSteps}).
   * @throws InvalidArgumentError while prefilling, or past the prompt.
   */
  async cancelSteps(seqId: number, count: number): Promise<void> {
    return this.exclusive(async () => {
      this.check();
      this.state(seqId);
      let n = count;
      if (n > 0 && this.control.numNewOf(seqId) > 0) { this.control.cancelStep(seqId); n--; }
      if (n > 0) this.control.rewindSteps(seqId, n);
      this.backend.syncTables([seqId]);
    });
  }

  /**
   * Whether the next `numTokens` decode steps of a decoding sequence can neither run a pass at
   * endStep (no budget, or the prefill trigger) nor compress in reserve (the pool has their
   * blocks free), nor add to a metric: then those steps may be ended before their tokens are known.
   */
  passFreeSteps(seqId: number, numTokens: number): boolean {
    const p = this.config.policy;
    if (p.decodeMetric || (p.budget && p.trigger === "continual")) return false;
    return this.control.isPastPrefill(seqId) && this.control.reserveFits(seqId, numTokens);
  }

  /**
   * Runs one compression pass over the given sequences (default: all), each to its own budget;
   * sequences never trade budget. A no-op for policy "full". Sequences still prefilling or
   * mid-step (tokens reserved, endStep not yet called) sit the pass out: their newest slots hold
   * no KV yet. Passes on one cache run one after another, never interleaved.
   */
  async compress(seqIds?: readonly number[]): Promise<PassReport> {
    return this.exclusive(() => {
      this.check();
      const ids = seqIds ?? this.liveByAge();
      ids.forEach((s) => this.state(s));
      return this.compressNow(ids.filter((s) => this.control.isBetweenSteps(s)));
    });
  }

  private async compressNow(seqIds: readonly number[]): Promise<PassReport> {
    this.check();
    const p = this.config.policy;
    const ids = seqIds.filter((s) => this.control.seqLens[s] > 0);
    if (!p.budget || ids.length === 0) return { seqIds: ids, evictedKvs: 0, blocksFreed: 0 };
    let evictedKvs = 0, blocksFreed = 0;
    // The wasm schedules under the policy it was given (budgets or layer caps of each sequence);
    // layerCaps are pool-wide, so per-layer rankings go one sequence at a time.
    for (const group of p.ranking === "global" ? [ids] : ids.map((s) => [s])) {
      const r = await this.pass(group);
      evictedKvs += r.evictedKvs; blocksFreed += r.blocksFreed;
    }
    return { seqIds: ids, evictedKvs, blocksFreed };
  }

  /** Runs `fn` after every earlier reserve/endStep/compress of this cache has settled. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** One pass over `ids`: the backend orders scores, the wasm schedules and plans, the backend moves. */
  private async pass(ids: number[]): Promise<{ evictedKvs: number; blocksFreed: number }> {
    for (const s of ids) this.inPass.add(s);
    try {
      return await this.passNow(ids);
    } finally {
      this.inPass.clear();
    }
  }

  /** TypeScript only couriers here: chunk keys from the backend into wasm memory, the schedule's
   *  counts and offsets (wasm-written) to the backend, its evicted indices back, the moves out.
   *  Crossings into the wasm: schedulePass, planMoves (which also counts the pass). */
  private async passNow(ids: number[]): Promise<{ evictedKvs: number; blocksFreed: number }> {
    const policy = this.config.policy;
    const prot: Protection = { protectedWindow: policy.protectedWindow, sinks: policy.sinks, queryAvg: policy.queryReduce === "avg", valueNorm: policy.valueNorm };
    // The device pass ranks by the score alone: value-aware ranking runs through the sorted path.
    if (this.backend.devicePass && !prot.valueNorm && ids.length <= MAX_BATCH_SEQS && this.control.passOnDevice()) return this.devicePassNow(ids, prot);
    await this.backend.chunkKeys(ids, prot, this.control.chunkKeys(ids.length));
    this.control.schedulePass(ids);
    // The schedule wrote the counts and their prefix sums; the last offset is the pass's total.
    const evicted = this.control.evictedOffsets(ids.length)[this.config.numLayers * ids.length * this.config.numKvHeads];
    if (evicted === 0) return { evictedKvs: 0, blocksFreed: 0 };
    // counts as a copy: the CPU backend may grow wasm memory while staging, which detaches views.
    await this.backend.evictedIndices(ids, prot, this.control.evictCounts(ids.length).slice(), this.control.evictedOffsets(ids.length), this.control.evictedIdx);
    const { numMoves, numFreed } = this.control.planMoves();
    this.backend.executeMoves(this.control.moves(numMoves), numMoves);
    this.backend.syncTables(ids);
    return { evictedKvs: evicted, blocksFreed: numFreed };
  }

  /** The pass decided on the device (WebGPU, global ranking): the wasm hands over each sequence's
   *  budget E and gets back only n per head, which it applies to its tables exactly as planMoves
   *  would; the evicted indices and the moves never leave the GPU. */
  private async devicePassNow(ids: number[], prot: Protection): Promise<{ evictedKvs: number; blocksFreed: number }> {
    const c = this.config;
    const budgets = this.control.passBudgets(ids).slice();
    const counts = new Int32Array(c.numLayers * ids.length * c.numKvHeads);
    const numMoves = await this.backend.devicePass!(ids, prot, budgets, counts);
    let evicted = 0;
    for (let i = 0; i < counts.length; i++) evicted += counts[i];
    if (evicted === 0) return { evictedKvs: 0, blocksFreed: 0 };
    const { numFreed } = this.control.applyEvictCounts(counts);
    this.backend.executeDeviceMoves!(numMoves);
    this.backend.syncTables(ids);
    return { evictedKvs: evicted, blocksFreed: numFreed };
  }

  /** Live sequences, oldest first (admission order). */
  private liveByAge(): number[] {
    const birth = this.control.seqBirth;
    return this.control.liveSeqIds().sort((a, b) => birth[a] - birth[b]);
  }

  /** Statistics of the whole cache and of every live sequence. */
  /** Statistics of the whole cache and of every live sequence (all from the control plane). */
  stats(): CacheStats {
    this.check();
    const cs = this.control.stats();
    const sequences: SequenceStats[] = cs.sequences.map((s) => ({ ...s }));
    return {
      policy: this.config.policy.name, backend: this.backend.kind, numBlocks: this.config.numBlocks, blocksInUse: cs.blocksInUse,
      freeBlocks: cs.freeBlocks, bytesInUse: cs.bytesInUse, bytesUncompressed: cs.bytesUncompressed,
      achievedRatio: cs.achievedRatio, passes: cs.passes, evictedKvs: cs.evictedKvs, sequences,
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
  /** The step state of a live sequence (read from the control plane). */
  private state(seqId: number): StepState {
    if (!this.control.isActive(seqId)) {
      throw new InvalidArgumentError("seqId", seqId, `a live sequence id (live: ${this.liveByAge().join(", ") || "none"})`);
    }
    return this.control.stepOf(seqId);
  }
  private checkAppended(seqId: number, st: StepState, layer: number): void {
    if (st.numNew === 0 || !this.control.isAppended(seqId, layer)) throw new InvalidArgumentError("seqId", seqId, `a sequence whose tokens of this step were appended in layer ${layer} (call append first)`);
  }
  /** A decode batch's rows, once per layer: no object per row (this runs for every row of every
   *  layer of a serving step; control plane checkDecodeRows). */
  private checkDecodeRows(seqIds: readonly number[], appendedIn: number): void {
    if (seqIds.length === 0) throw new InvalidArgumentError("seqIds", "[]", "one or more live sequence ids");
    const bad = this.control.checkDecodeRows(seqIds, appendedIn);
    if (!bad) return;
    if (!this.control.isActive(bad.seqId)) this.state(bad.seqId); // the message that lists the live ids
    throw new InvalidArgumentError(bad.field, bad.seqId, bad.must);
  }
  private checkLayer(layer: number): void {
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.config.numLayers) throw new InvalidArgumentError("layer", layer, `an integer in [0, ${this.config.numLayers})`);
  }
}

/**
 * K, V and Q from typed arrays: a Float32Array of exactly `want` elements with finite values.
 * One NaN or ±Inf would poison a softmax and the scores that rank KVs for eviction, and the two
 * backends would drop different KVs, so both reject it here, before anything is written.
 */
function checkFinite(field: "k" | "v" | "q", a: unknown, want: number): void {
  if (!(a instanceof Float32Array)) throw new InvalidArgumentError(field, describe(a), "a Float32Array");
  if (a.length !== want) throw new InvalidArgumentError(`${field}.length`, a.length, `numTokens·heads·headSize = ${want}`);
  for (let i = 0; i < a.length; i++) {
    // x − x is 0 for finite x and NaN for NaN and ±Inf: one compare per element.
    if (a[i] - a[i] !== 0) throw new InvalidArgumentError(`${field}[${i}]`, a[i], "a finite number (NaN and ±Inf are rejected)");
  }
}

function describe(a: unknown): string {
  if (a === null || typeof a !== "object") return String(a);
  return (a as object).constructor?.name ?? "an object";
}
