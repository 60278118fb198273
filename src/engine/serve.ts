// The request loop: many sequences on one engine and one KV pool (docs/SCALING.md, "One pool in
// the SDK"). Backends plug in as a ServeStepper: gpuStepper (batched decode) or cpuStepper.
//
// submit() queues a request and returns its token stream; one loop serves every request:
//   1. admit waiting requests in arrival order (preempted ones first) while a sequence slot is
//      free, the control plane's pressure plan says the prompt fits without preempting, and
//      (admission "peak", the default) the pool holds every running sequence and the new one
//      at their peaks (KvCache.peakBlocks), so that growth compresses and does not preempt;
//      each admitted prompt is prefilled at once (prefill-then-decode: no chunk of a prompt
//      shares a forward with the decode rows yet);
//   2. reserve one token for every running sequence, oldest first: KvCache.reserveMany carries out
//      the control plane's one pressure decision (assembly/pressure.ts): compress running
//      sequences toward their budgets, or refuse; on a refusal the loop preempts what the same
//      plan names (newest first: blocks freed, tokens kept) and tries again;
//   3. decode every reserved sequence in ONE batched forward (src/engine/gpuBatch.ts; the CPU
//      stepper runs them one by one), sample each row with its own settings, end the step (the
//      policy's compression: continual, or the prompt's pass),
//      stream the tokens, retire finished sequences and free their blocks.
// A preempted request is admitted again later: its prompt is prefilled as the first time and the
// tokens it had generated are fed again one per decode step (their samples discarded), so its
// cache is rebuilt from the same inputs by the same kernels: with policy full and greedy ids
// bit for bit (test/engine/serve.test.ts). Not claimed under a compressing policy: a pass under
// pressure may fall at another step than in the first run. Either way the decode attention's
// split of a long context depends on the batch size (chooseSplitKeys), so rows of sequences
// past ~1K tokens may differ in the last bits between batch shapes. Resume costs a row per token.
import type { KvCache, SequenceStats } from "../cache";
import { InvalidArgumentError, KvCompressError, KvPoolExhaustedError } from "../errors";
import type { AttentionCache } from "../model/attention";
import { CachedSequence } from "../model/cachedSequence";
import { createRng, sampleToken } from "../model/sample";
import type { ModelTokenizer } from "../model/types";
import { planChunks } from "./engine";
import type { GpuForward } from "./gpu";
import { AUTO_MATMUL_MIN_ROWS, type BatchRowsMode, GpuBatchDecode, type RowSampling, batchRowsFor } from "./gpuBatch";

/** Options of one request (Engine.submit). */
export interface SubmitOptions {
  /** Tokens to generate (fewer when a stop id comes). @default 128 */
  maxTokens?: number;
  /** 0 = greedy. @default 0 */
  temperature?: number;
  /** Nucleus mass in (0, 1]. @default 1 */
  topP?: number;
  /** PRNG seed for temperature > 0 (one draw per generated token). @default 0 */
  seed?: number;
  /** Generation ends after emitting one of these. @default [tokenizer.eosId] */
  stopIds?: readonly number[];
  /** Ends the request between steps: its stream throws the signal's reason, its blocks are freed. */
  signal?: AbortSignal;
  /** This request's own budget instead of the pool policy's value (the policy must have one):
   *  `ratio` on its prompt, or `maxCacheTokens` KVs per (layer, KV head). Protection, ranking
   *  and the observation window stay the pool policy's (see docs/SCALING.md). */
  budget?: { ratio: number } | { maxCacheTokens: number };
}

/** Statistics of one request. */
export interface RequestStats {
  readonly id: number;
  readonly state: "waiting" | "running" | "finished" | "aborted";
  readonly promptTokens: number;
  readonly generatedTokens: number;
  /** From submit to its first admission. */
  readonly queueWaitMs: number;
  /** From submit to its first token. */
  readonly firstTokenMs: number;
  /** Times its blocks were freed under pressure (then re-prefilled on re-admission). */
  readonly preemptions: number;
  /** Its sequence in the cache now (running), or when it retired; null while waiting. */
  readonly cache: SequenceStats | null;
}

/** Statistics of the loop and its pool. */
export interface PoolStats {
  readonly waiting: number;
  readonly running: number;
  readonly finished: number;
  /** Decode steps run (each one batched forward). */
  readonly decodeSteps: number;
  /** Prompts prefilled (re-admissions included). */
  readonly prefills: number;
  /** Mean sequences per decode step. */
  readonly meanBatch: number;
  readonly generatedTokens: number;
  /** Rows fed again after a preemption (tokens whose samples were discarded). */
  readonly replayedTokens: number;
  readonly preemptions: number;
  /** Compression passes of the pool (every sequence's, since it was created). */
  readonly compressionPasses: number;
  readonly evictedKvs: number;
  readonly blocksInUse: number;
  readonly numBlocks: number;
  readonly bytesInUse: number;
  readonly peakBytesInUse: number;
  /** Time in decode steps (reserve, forward, endStep) and in prefills. */
  readonly decodeMs: number;
  readonly prefillMs: number;
  /** KVs held per (layer, KV head), summed over the running sequences. */
  readonly keptKvsPerHead: number;
}

/** Options of a request loop (Engine.serveOn). */
export interface ServerOptions {
  /**
   * "peak": admit a request only when the pool holds it and every running sequence at their
   * peak (KvCache.peakBlocks: the whole request uncompressed without a budget; under one, the
   * budget plus a block a head, which compression under pressure can always return to), so
   * growth compresses but never preempts. "now": admit whatever fits now; growth may then
   * preempt the newest (and re-prefill it later). @default "peak"
   */
  admission?: "peak" | "now";
  /** Blocks per (layer, KV head) left free for the running sequences' next tokens when a prompt
   *  is admitted (both modes). 0 with admission "now" is the tests' way to force preemption. @default 1 */
  spareBlocksPerHead?: number;
}

/** A submitted request: its token stream and its statistics. */
export interface ServeRequest extends AsyncIterable<number> {
  readonly id: number;
  stats(): RequestStats;
}

/** How the loop runs one prompt and one batched decode step. */
export interface ServeStepper {
  readonly maxRows: number;
  /** Prefills `ids` into the (fresh) sequence, reserving chunk by chunk; returns the sampled next id. */
  prefill(cache: KvCache, seqId: number, ids: readonly number[], sampling: RowSampling): Promise<number>;
  /** One decode step of sequences that each have one token reserved. */
  decode(cache: KvCache, seqIds: readonly number[], tokens: ArrayLike<number>, positions: ArrayLike<number>, sampling: readonly RowSampling[]): Promise<Uint32Array>;
  destroy(): void;
}

/** The GPU stepper: GpuForward chunks for prompts, GpuBatchDecode for the decode rows (under
 *  "auto" two of them, matvec rows below AUTO_MATMUL_MIN_ROWS and matmul rows from there; a row's
 *  bits then depend on which side of that line its step's batch falls). */
export function gpuStepper(gpu: GpuForward, maxRows: number, rows: BatchRowsMode = "matvec"): ServeStepper {
  const matvec = rows === "matmul" ? null : new GpuBatchDecode(gpu, rows === "auto" ? Math.min(maxRows, AUTO_MATMUL_MIN_ROWS - 1) : maxRows, "matvec");
  const matmul = rows === "matvec" || maxRows < AUTO_MATMUL_MIN_ROWS && rows === "auto" ? null : new GpuBatchDecode(gpu, maxRows, "matmul");
  return {
    maxRows,
    async prefill(cache, seqId, ids, s) {
      const plan = planChunks(ids.length, gpu.maxChunk, cache.config.policy.obsWindow);
      let tok = 0;
      for (let i = 0; i < plan.length; i++) {
        const [start, n, scores] = plan[i]!;
        const last = i === plan.length - 1;
        await cache.reserve(seqId, n);
        const out = last ? { kind: "token" as const, temperature: s.temperature, topP: s.topP, r: s.temperature > 0 ? s.r : 0 } : { kind: "none" as const };
        const r = await gpu.run(cache, seqId, ids.slice(start, start + n), start, out, scores);
        if (last) tok = r as number;
      }
      await cache.endStep([seqId]); // one prefill for the policy: its pass after the last chunk
      return tok;
    },
    decode: (cache, seqIds, tokens, positions, sampling) =>
      (batchRowsFor(rows, seqIds.length) === "matmul" ? matmul! : matvec!).run(cache, seqIds, tokens, positions, sampling),
    destroy: () => { matvec?.destroy(); matmul?.destroy(); },
  };
}

/**
 * The CPU stepper: the same loop with one forward per sequence (the CPU backend has no batched
 * kernel); a prompt through CachedSequence (which reserves and ends the step), a decode row over
 * the slot the loop reserved. Sampling on the host with sampleToken and the row's draw.
 */
export function cpuStepper(forward: (ids: readonly number[], seq: AttentionCache) => Promise<Float32Array>, maxRows: number): ServeStepper {
  const pick = (logits: Float32Array, s: RowSampling) => sampleToken(logits, { temperature: s.temperature, topP: s.topP }, () => s.r);
  return {
    maxRows,
    async prefill(cache, seqId, ids, s) {
      return pick(await forward(ids, new CachedSequence(cache, seqId)), s);
    },
    async decode(cache, seqIds, tokens, positions, sampling) {
      const out = new Uint32Array(seqIds.length);
      for (let i = 0; i < seqIds.length; i++) {
        const seqId = seqIds[i]!;
        // Reserved by the loop, ended by the loop (endStep over the batch): append and attend only.
        const row: AttentionCache = {
          seqLen: positions[i]!,
          append: (layer, k, v) => cache.append(layer, seqId, k, v),
          attend: (layer, q) => cache.attend(layer, seqId, q),
          commit: () => {},
        };
        out[i] = pick(await forward([tokens[i]!], row), sampling[i]!);
      }
      return out;
    },
    destroy() {},
  };
}

interface Req {
  id: number;
  ids: number[]; // prompt, then every generated id
  promptLen: number;
  maxTokens: number;
  stop: Set<number>;
  temperature: number;
  topP: number;
  rng: () => number;
  signal?: AbortSignal;
  budget: SubmitOptions["budget"] | null;
  seqId: number | null;
  /** Tokens whose K/V the cache holds (the next one fed is ids[fed]). */
  fed: number;
  state: RequestStats["state"];
  submitted: number;
  admitted: number;
  firstToken: number;
  preemptions: number;
  last: SequenceStats | null;
  // the stream
  queue: number[];
  ended: boolean;
  error: unknown;
  wake: (() => void) | null;
  /** Set by a reader that stopped: the loop ends the request between steps. */
  cancel: { reason: unknown } | null;
}

/** The loop over one cache (see the header). */
export class Server {
  private readonly waiting: Req[] = [];
  private readonly running: Req[] = []; // admission order: oldest first
  private nextId = 0;
  private looping = false;
  private finished = 0;
  private decodeSteps = 0;
  private rowsDecoded = 0;
  private prefills = 0;
  private generated = 0;
  private replayed = 0;
  private preemptions = 0;
  private peakBytes = 0;
  private decodeMs = 0;
  private prefillMs = 0;

  /** @param options - admission (see {@link ServerOptions}). */
  constructor(readonly cache: KvCache, private readonly stepper: ServeStepper, private readonly tokenizer: ModelTokenizer,
    private readonly options: ServerOptions = {}) {}

  /** True while a request waits or runs. */
  get busy(): boolean { return this.waiting.length + this.running.length > 0; }

  submit(prompt: readonly number[] | string, o: SubmitOptions = {}): ServeRequest {
    const ids = typeof prompt === "string" ? this.tokenizer.encode(prompt) : [...prompt];
    if (ids.length === 0) throw new InvalidArgumentError("prompt", "[]", "at least one token (usually BOS)");
    const maxTokens = o.maxTokens ?? 128, max = this.cache.config.maxContextTokens;
    if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new InvalidArgumentError("maxTokens", maxTokens, "an integer ≥ 0");
    if (ids.length + maxTokens > max) throw new InvalidArgumentError("maxTokens", maxTokens, `prompt (${ids.length}) + maxTokens ≤ maxContextTokens (${max})`);
    const temperature = o.temperature ?? 0, topP = o.topP ?? 1;
    if (!(temperature >= 0)) throw new InvalidArgumentError("temperature", temperature, "≥ 0 (0 = greedy)");
    if (!(topP > 0 && topP <= 1)) throw new InvalidArgumentError("topP", topP, "in (0, 1]");
    o.signal?.throwIfAborted();
    if (o.budget && !this.cache.config.policy.budget) throw new InvalidArgumentError("budget", JSON.stringify(o.budget), `a pool policy with a budget (this pool's is "${this.cache.config.policy.name}")`);
    if (o.budget && !("ratio" in o.budget ? o.budget.ratio >= 1 : Number.isInteger(o.budget.maxCacheTokens) && o.budget.maxCacheTokens >= 1)) {
      throw new InvalidArgumentError("budget", JSON.stringify(o.budget), "{ ratio ≥ 1 } or { maxCacheTokens: an integer ≥ 1 }");
    }
    const r: Req = {
      id: this.nextId++, ids, promptLen: ids.length, maxTokens, stop: new Set(o.stopIds ?? [this.tokenizer.eosId]), temperature, topP,
      rng: createRng(o.seed ?? 0), signal: o.signal, budget: o.budget ?? null, seqId: null, fed: 0, state: "waiting", submitted: performance.now(), admitted: -1,
      firstToken: -1, preemptions: 0, last: null, queue: [], ended: false, error: undefined, wake: null, cancel: null,
    };
    if (maxTokens === 0) this.finish(r, "finished");
    else {
      this.waiting.push(r);
      void this.loop();
    }
    return { id: r.id, stats: () => this.requestStats(r), [Symbol.asyncIterator]: () => this.stream(r) };
  }

  stats(): PoolStats {
    const cs = this.cache.stats(), c = this.cache.config;
    const heads = c.numLayers * c.numKvHeads;
    return {
      waiting: this.waiting.length, running: this.running.length, finished: this.finished, decodeSteps: this.decodeSteps, prefills: this.prefills,
      meanBatch: this.decodeSteps ? this.rowsDecoded / this.decodeSteps : 0, generatedTokens: this.generated, replayedTokens: this.replayed,
      preemptions: this.preemptions, compressionPasses: cs.passes, evictedKvs: cs.evictedKvs, blocksInUse: cs.blocksInUse, numBlocks: cs.numBlocks,
      bytesInUse: cs.bytesInUse, peakBytesInUse: this.peakBytes, decodeMs: this.decodeMs, prefillMs: this.prefillMs,
      keptKvsPerHead: cs.sequences.reduce((x, s) => x + s.keptKvs, 0) / heads,
    };
  }

  private requestStats(r: Req): RequestStats {
    const live = r.seqId !== null ? this.cache.stats().sequences.find((s) => s.seqId === r.seqId) ?? null : null;
    return {
      id: r.id, state: r.state, promptTokens: r.promptLen, generatedTokens: r.ids.length - r.promptLen,
      queueWaitMs: r.admitted < 0 ? performance.now() - r.submitted : r.admitted - r.submitted,
      firstTokenMs: r.firstToken < 0 ? -1 : r.firstToken - r.submitted, preemptions: r.preemptions, cache: live ?? r.last,
    };
  }

  private async *stream(r: Req): AsyncGenerator<number, void, undefined> {
    let i = 0;
    try {
      while (true) {
        if (i < r.queue.length) { yield r.queue[i++]!; continue; }
        if (r.ended) {
          if (r.error !== undefined) throw r.error;
          return;
        }
        await new Promise<void>((res) => { r.wake = res; });
        r.wake = null;
      }
    } finally {
      // A reader that stops reading ends its request (between steps: a step may be in flight).
      if (!r.ended) {
        r.cancel = { reason: new KvCompressError("the request's stream was closed by its reader") };
        if (r.seqId === null) this.abort(r, r.cancel.reason);
      }
    }
  }

  private emit(r: Req, tok: number): void {
    r.ids.push(tok);
    r.queue.push(tok);
    this.generated++;
    if (r.firstToken < 0) r.firstToken = performance.now();
    r.wake?.();
    const n = r.ids.length - r.promptLen;
    if (r.stop.has(tok) || n >= r.maxTokens) this.finish(r, "finished");
  }

  private finish(r: Req, state: "finished" | "aborted", error?: unknown): void {
    if (r.ended) return;
    if (r.seqId !== null) this.release(r);
    for (const list of [this.waiting, this.running]) {
      const at = list.indexOf(r);
      if (at >= 0) list.splice(at, 1);
    }
    r.state = state;
    r.ended = true;
    r.error = error;
    if (state === "finished") this.finished++;
    r.wake?.();
  }

  private abort(r: Req, reason: unknown): void { this.finish(r, "aborted", reason); }

  /** Frees the request's sequence (its stats kept). */
  private release(r: Req): void {
    const seqId = r.seqId!;
    r.last = this.cache.stats().sequences.find((s) => s.seqId === seqId) ?? null;
    this.cache.removeSequence(seqId);
    r.seqId = null;
    r.fed = 0;
  }

  private preempt(seqId: number): void {
    const r = this.running.find((x) => x.seqId === seqId);
    if (!r) throw new KvCompressError(`internal: the pressure plan named sequence ${seqId}, which no running request holds`);
    this.release(r);
    this.running.splice(this.running.indexOf(r), 1);
    r.state = "waiting";
    r.preemptions++;
    this.preemptions++;
    this.waiting.unshift(r); // first in line again
  }

  private sampling(r: Req, fresh: boolean): RowSampling {
    // A replayed row's sample is discarded: no draw, so the stream of draws stays the request's own.
    return fresh && r.temperature > 0 ? { temperature: r.temperature, topP: r.topP, r: r.rng() } : { temperature: 0, topP: 1, r: 0 };
  }

  private async loop(): Promise<void> {
    if (this.looping) return;
    this.looping = true;
    try {
      while (this.busy) {
        for (const r of [...this.waiting, ...this.running]) {
          if (r.signal?.aborted) this.abort(r, r.signal.reason);
          else if (r.cancel) this.abort(r, r.cancel.reason);
        }
        await this.admit();
        await this.decodeStep();
        this.peakBytes = Math.max(this.peakBytes, this.cache.stats().bytesInUse);
        // Let consumers run (and new submits arrive) between steps.
        await new Promise<void>((res) => setTimeout(res, 0));
      }
    } catch (err) {
      for (const r of [...this.waiting, ...this.running]) this.abort(r, err);
    } finally {
      this.looping = false;
    }
  }

  /** Admits waiting requests whose prompt fits (see the header). */
  private async admit(): Promise<void> {
    const c = this.cache.config;
    while (this.waiting.length && this.running.length < Math.min(c.maxSeqs, this.stepper.maxRows)) {
      const r = this.waiting[0]!;
      const seqId = this.cache.addSequence();
      if (r.budget) this.cache.setSequenceBudget(seqId, r.budget);
      const plan = this.cache.pressurePlan(seqId, r.promptLen);
      // Room for the prompt, without preempting anyone, and one block per head to spare for the
      // running sequences' next tokens. An empty pool admits anything it can hold.
      const spare = this.running.length ? (this.options.spareBlocksPerHead ?? 1) * c.numLayers * c.numKvHeads : 0;
      const fits = plan.action !== "preempt" && plan.blocksFree + plan.blocksFreeable - plan.blocksNeeded >= spare && this.fitsAtPeak(r, seqId);
      if (!fits) {
        this.cache.removeSequence(seqId);
        if (!this.running.length) throw new KvPoolExhaustedError(`a prompt of ${r.promptLen} tokens does not fit the pool (${plan.blocksNeeded} blocks needed, ${c.numBlocks} in all)`, plan.blocksNeeded, plan.blocksFree);
        return;
      }
      this.waiting.shift();
      r.seqId = seqId;
      r.state = "running";
      if (r.admitted < 0) r.admitted = performance.now();
      const fresh = r.ids.length === r.promptLen;
      const t0 = performance.now();
      let tok: number;
      try {
        tok = await this.stepper.prefill(this.cache, seqId, r.ids.slice(0, r.promptLen), this.sampling(r, fresh));
      } catch (err) {
        if (!(err instanceof KvPoolExhaustedError)) throw err;
        // A chunk did not fit after all: back to the front of the line.
        this.cache.removeSequence(seqId);
        r.seqId = null;
        r.state = "waiting";
        this.waiting.unshift(r);
        return;
      }
      this.prefillMs += performance.now() - t0;
      this.prefills++;
      r.fed = r.promptLen;
      this.running.push(r);
      if (fresh) this.emit(r, tok);
      else this.replayed++;
    }
  }

  /** Admission "peak": the new request and every running one fit the pool at their peaks
   *  (final length: prompt + maxTokens, an upper bound when a stop id ends it sooner). */
  private fitsAtPeak(r: Req, seqId: number): boolean {
    if ((this.options.admission ?? "peak") === "now" || !this.running.length) return true;
    const peak = (q: Req, s: number) => this.cache.peakBlocks(s, q.promptLen, q.promptLen + q.maxTokens);
    let sum = peak(r, seqId);
    for (const q of this.running) sum += peak(q, q.seqId!);
    return sum <= this.cache.config.numBlocks;
  }

  /** One batched decode step over every running sequence. */
  private async decodeStep(): Promise<void> {
    if (!this.running.length) return;
    const t0 = performance.now();
    const batch: Req[] = [];
    // Oldest first, all in one reserveMany; where one does not fit, preempt what the plan names
    // (newest first: maybe rows already reserved, maybe the refused one itself) and go on.
    let rest = [...this.running];
    while (rest.length) {
      const n = await this.cache.reserveMany(rest.map((r) => r.seqId!));
      batch.push(...rest.slice(0, n));
      rest = rest.slice(n);
      if (!rest.length) break;
      const r = rest[0]!;
      const plan = this.cache.pressurePlan(r.seqId!, 1);
      if (plan.action !== "preempt" || plan.preempt.length === 0) {
        throw new KvPoolExhaustedError(`internal: sequence ${r.seqId}'s decode token did not fit, and the pressure plan names no one to preempt`, plan.blocksNeeded, plan.blocksFree);
      }
      for (const s of plan.preempt) {
        const v = this.running.find((x) => x.seqId === s)!;
        for (const list of [batch, rest]) {
          const at = list.indexOf(v);
          if (at >= 0) list.splice(at, 1);
        }
        this.preempt(s);
      }
    }
    if (batch.length) {
      const seqIds = batch.map((r) => r.seqId!), tokens = batch.map((r) => r.ids[r.fed]!), positions = batch.map((r) => r.fed);
      const fresh = batch.map((r) => r.fed + 1 === r.ids.length);
      const ids = await this.stepper.decode(this.cache, seqIds, tokens, positions, batch.map((r, i) => this.sampling(r, fresh[i]!)));
      await this.cache.endStep(seqIds);
      this.decodeSteps++;
      this.rowsDecoded += batch.length;
      for (let i = 0; i < batch.length; i++) {
        const r = batch[i]!;
        r.fed++;
        if (fresh[i]) this.emit(r, ids[i]!);
        else this.replayed++;
      }
    }
    this.decodeMs += performance.now() - t0;
  }

  destroy(): void {
    for (const r of [...this.waiting, ...this.running]) this.abort(r, new KvCompressError("the engine was destroyed"));
    this.stepper.destroy();
  }
}
