// One model API over both backends: generate() streams token ids as an async iterator; a
// lower-level sequence handle (prefill / step → logits) serves the evaluator. The GPU backend
// runs the whole forward pass on the device (src/engine/gpu.ts) in prompt chunks; the CPU
// backend runs the f32 TypeScript forward (src/model/llama.ts) over the CPU cache until the
// wasm SIMD dense kernels are wired in.
import type { CacheStats, KvCache } from "../cache";
import type { PolicyInput } from "../policies";
import type { KvStorage } from "../config";
import { InvalidArgumentError, KvCompressError } from "../errors";
import type { LlamaConfig, LlamaModel } from "../model/llama";
import { type SamplingOptions, createRng, sampleToken } from "../model/sample";
import type { ModelTokenizer } from "../model/types";
import { CachedSequence } from "../model/cachedSequence";
import type { CpuForward } from "./cpu";
import type { GpuForward } from "./gpu";
import type { BatchRowsMode } from "./gpuBatch";
import { type PoolStats, type ServeRequest, type ServeStepper, Server, type ServerOptions, type SubmitOptions, cpuStepper, gpuStepper } from "./serve";

export interface EngineGenerateOptions extends SamplingOptions {
  /** Tokens to generate (fewer when a stop id comes). @default 128 */
  maxTokens?: number;
  /** PRNG seed for temperature > 0. @default 0 */
  seed?: number;
  /** Generation ends after emitting one of these. @default [tokenizer.eosId] */
  stopIds?: readonly number[];
  /** Stops generation between steps with the signal's reason. */
  signal?: AbortSignal;
  /**
   * GPU backend: submit decode step n + 1 before step n's id is read back (the id feeds the next
   * embed on the device). Same ids and stats() as one step at a time; a step started past a
   * stop id is cancelled. Off for policies whose decode adds to the metric (that step's attention
   * would count). @default true
   */
  pipelined?: boolean;
}

/** Timings of the last generate(). */
export interface EngineTimings {
  promptTokens: number;
  generatedTokens: number;
  prefillMs: number;
  decodeMs: number;
}

/** One sequence of the engine's cache, driven step by step (the evaluator's interface). */
export interface EngineSequence {
  readonly seqId: number;
  /** Runs prompt tokens; logits of the last one [vocab], or of every one [n, vocab] with allLogits. */
  prefill(ids: readonly number[], options?: { allLogits?: boolean }): Promise<Float32Array>;
  /** Runs one more token; its logits [vocab]. */
  step(id: number): Promise<Float32Array>;
  /** Frees the sequence's blocks. */
  close(): void;
}

/** How a token is drawn: temperature 0 greedy; else temperature + top-p with one rng() draw per token. */
interface Sampling { temperature: number; topP: number; rng: () => number }
const GREEDY: Sampling = { temperature: 0, topP: 1, rng: () => 0 };

/** How a backend runs chunks of a sequence. Returns a token id (sampled on the device for the GPU) or logits. */
interface Runner {
  run(seqId: number, ids: readonly number[], want: "token" | "logits" | "all", prompt: boolean, sampling?: Sampling): Promise<number | Float32Array>;
  close(seqId: number): void;
  destroy(): void;
  /** The model over any sequence of any cache on the same backend (the evaluator's per-policy caches). */
  forwardOn(seq: CachedSequence, ids: readonly number[], allLogits: boolean): Promise<Float32Array>;
  /** The request loop's prompt and decode steps (batched on the GPU; a sequence at a time on the CPU). */
  stepper?(maxRows: number): ServeStepper;
  /** Pipelined decode (GPU): reserves and submits one decode step fed with the device's last sampled
   *  id, or `hostId`; `id` resolves to the id it samples. The step stays open until endStep or cancelStep. */
  submitStep?(seqId: number, sampling: Sampling, hostId: number | null): Promise<{ id: Promise<number> }>;
  endStep?(seqId: number): Promise<void>;
  /** Cancels the newest `count` decode steps of the sequence (the open one and ended ones). */
  cancelStep?(seqId: number, count: number): Promise<void>;
}

/** A forward pass over a CachedSequence: what the evaluator's window runner drives. */
export interface WindowModel {
  readonly config: Readonly<LlamaConfig>;
  forward(tokens: readonly number[], seq: CachedSequence, options?: { allLogits?: boolean }): Promise<Float32Array>;
}

/** Makes another cache on the engine's backend and device (same model shape). */
/** storage: this cache's KV storage instead of the engine's (eval keeps its f32 reference). */
/** pool: a serving pool (maxSeqs sequences over capacityTokens per head) instead of one sequence. */
export type EngineCacheFactory = (policy: PolicyInput, maxContextTokens: number, blockSize?: number, storage?: KvStorage,
  pool?: { maxSeqs: number; capacityTokens: number }) => Promise<KvCache>;

export class Engine {
  private lastSeq: number | null = null;
  private destroyed = false;
  private running = false;
  private server: Server | null = null;
  /** Timings of the last generate(). */
  timings: EngineTimings = { promptTokens: 0, generatedTokens: 0, prefillMs: 0, decodeMs: 0 };

  /** @internal Use loadEngine() from the SDK. */
  constructor(readonly config: Readonly<LlamaConfig>, readonly tokenizer: ModelTokenizer, readonly cache: KvCache,
    private readonly runner: Runner, readonly format: string, readonly architecture: string,
    /** Weight bytes held by the backend (the device, or f32 copies on the CPU path today). */
    readonly weightBytes: number,
    /** Another cache on the same backend and device: the evaluator runs one per policy. */
    readonly createCache: EngineCacheFactory) {}

  /** The forward pass over caller-made sequences (see {@link createCache}). */
  windowModel(): WindowModel {
    return { config: this.config, forward: (tokens, seq, o = {}) => this.runner.forwardOn(seq, tokens, !!o.allLogits) };
  }

  get backend(): "gpu" | "cpu" { return this.cache.backendKind; }
  get adapterName(): string { return this.cache.adapterName; }
  get maxContextTokens(): number { return this.cache.config.maxContextTokens; }

  /**
   * Generates after `prompt` (token ids, or text the tokenizer encodes with BOS), yielding each new
   * id as soon as it is sampled. The last id is not fed back (its K/V would serve no token).
   * The sequence stays in the cache, for {@link stats}, until the next generate or destroy.
   */
  async *generate(prompt: readonly number[] | string, options: EngineGenerateOptions = {}): AsyncGenerator<number, void, undefined> {
    this.check();
    if (this.running) throw new KvCompressError("generate() is already running on this engine; one stream at a time");
    if (this.server?.busy) throw new KvCompressError("submitted requests are running on this engine; generate() runs alone (submit() this one too)");
    const ids = typeof prompt === "string" ? this.tokenizer.encode(prompt) : [...prompt];
    if (ids.length === 0) throw new InvalidArgumentError("prompt", "[]", "at least one token (usually BOS)");
    const maxTokens = options.maxTokens ?? 128;
    if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new InvalidArgumentError("maxTokens", maxTokens, "an integer ≥ 0");
    if (ids.length + maxTokens > this.maxContextTokens) throw new InvalidArgumentError("maxTokens", maxTokens, `prompt (${ids.length}) + maxTokens ≤ maxContextTokens (${this.maxContextTokens})`);
    const temperature = options.temperature ?? 0;
    const stop = new Set(options.stopIds ?? [this.tokenizer.eosId]);
    const rng = createRng(options.seed ?? 0);
    const topP = options.topP ?? 1;
    if (!(temperature >= 0)) throw new InvalidArgumentError("temperature", temperature, "≥ 0 (0 = greedy)");
    if (!(topP > 0 && topP <= 1)) throw new InvalidArgumentError("topP", topP, "in (0, 1]");
    const sampling: Sampling = { temperature, topP, rng };
    const pick = (r: number | Float32Array) => typeof r === "number" ? r : sampleToken(r, options, rng);
    this.running = true;
    try {
      if (this.lastSeq !== null) { this.runner.close(this.lastSeq); this.cache.removeSequence(this.lastSeq); this.lastSeq = null; }
      const seqId = this.cache.addSequence();
      this.lastSeq = seqId;
      this.timings = { promptTokens: ids.length, generatedTokens: 0, prefillMs: 0, decodeMs: 0 };
      options.signal?.throwIfAborted();
      const t0 = performance.now();
      let r = await this.runner.run(seqId, ids, "token", true, sampling);
      this.timings.prefillMs = performance.now() - t0;
      const t1 = performance.now();
      const runner = this.runner;
      if (maxTokens > 0 && (options.pipelined ?? true) && runner.submitStep && !this.cache.config.policy.decodeMetric) {
        // Pipelined: the step fed with token e + 1 is submitted before token e + 1 is known (the
        // device feeds it its id); a step counts once its input token was yielded, is no stop id
        // and no abort came; at the end the steps past that are cancelled, so the cache ends as
        // one step at a time leaves it. Two steps deep where no pass can run between them
        // (cache.passFreeSteps: the steps are then ended before their input is known), else one.
        let tok = r as number;
        const pending: Promise<number>[] = []; // ids of the steps fed with tokens e .. s, oldest first
        let s = 0; // steps submitted: fed with tokens 1 .. s
        let open = false; // the newest submitted step is not ended yet
        let e = 0; // tokens yielded
        const submit = async (hostId: number | null) => {
          if (open) { open = false; await runner.endStep!(seqId); }
          const { id } = await runner.submitStep!(seqId, sampling, hostId);
          id.catch(() => undefined); // awaited in turn, or drained at the end
          pending.push(id);
          s++;
          open = true;
        };
        let failed = false;
        try {
          for (;;) {
            e++;
            this.timings.generatedTokens++;
            this.timings.decodeMs = performance.now() - t1;
            yield tok;
            if (stop.has(tok) || e === maxTokens) break;
            options.signal?.throwIfAborted();
            // Token e counts: the step fed with it is kept (ended now if it is the open one).
            if (s < e) await submit(tok);
            if (open && s === e) { open = false; await runner.endStep!(seqId); }
            const depth = this.cache.passFreeSteps(seqId, 2) ? 2 : 1;
            while (s - e < depth && s + 1 < maxTokens) await submit(null);
            tok = await pending.shift()!;
          }
        } catch (err) {
          failed = true;
          throw err;
        } finally {
          // Steps fed with tokens e .. s never count: cancel them (the open one and any ended).
          const extra = s - e + 1;
          if (extra > 0) {
            try { await runner.cancelStep!(seqId, extra); } catch (err) { if (!failed) throw err; }
          }
          await Promise.allSettled(pending); // their readbacks unmapped before the buffers serve again
          this.timings.decodeMs = performance.now() - t1;
        }
        return;
      }
      for (let i = 0; i < maxTokens; i++) {
        const tok = pick(r);
        this.timings.generatedTokens++;
        this.timings.decodeMs = performance.now() - t1;
        yield tok;
        if (stop.has(tok) || i + 1 === maxTokens) break;
        options.signal?.throwIfAborted();
        r = await this.runner.run(seqId, [tok], "token", false, sampling);
      }
      this.timings.decodeMs = performance.now() - t1;
    } finally {
      this.running = false;
    }
  }

  /**
   * Queues a request on the engine's pool and returns its token stream at once; any number of
   * submits interleave, decoded together in one batched forward per step (src/engine/serve.ts).
   * The pool holds `maxSeqs` sequences and `capacityTokens` KVs per head (loadEngine options);
   * under memory pressure running sequences are compressed toward their budgets, then the newest
   * is preempted and later resumed. On the CPU backend the same loop runs one forward per sequence.
   * @example
   * ```ts
   * const a = engine.submit("Once upon a time", { maxTokens: 32 }), b = engine.submit([1, 42], { temperature: 0.8, seed: 7 });
   * for await (const id of a) process.stdout.write(dec.push(id));
   * ```
   */
  submit(prompt: readonly number[] | string, options: SubmitOptions = {}): ServeRequest {
    this.check();
    if (this.running) throw new KvCompressError("generate() is running on this engine; submit after it ends");
    if (!this.server) {
      if (!this.runner.stepper) throw new KvCompressError("submit() needs a backend with a request loop");
      this.server = new Server(this.cache, this.runner.stepper(this.cache.config.maxSeqs), this.tokenizer);
    }
    if (this.lastSeq !== null) { this.runner.close(this.lastSeq); this.cache.removeSequence(this.lastSeq); this.lastSeq = null; }
    return this.server.submit(prompt, options);
  }

  /**
   * A request loop of its own over another cache of this engine's backend (made with
   * {@link createCache} and a `pool`), sharing the weights: e.g. one pool per policy. Destroy
   * the server, then the cache, when done.
   */
  serveOn(cache: KvCache, options: ServerOptions = {}): Server {
    this.check();
    if (!this.runner.stepper) throw new KvCompressError("serveOn() needs a backend with a request loop");
    return new Server(cache, this.runner.stepper(cache.config.maxSeqs), this.tokenizer, options);
  }

  /** Statistics of the request loop and its pool (null before the first submit). */
  serveStats(): PoolStats | null {
    this.check();
    return this.server?.stats() ?? null;
  }

  /** A fresh sequence driven by the caller (evaluation); close it when done. */
  openSequence(): EngineSequence {
    this.check();
    const seqId = this.cache.addSequence();
    let prefilled = false;
    const asLogits = (r: number | Float32Array) => {
      if (typeof r === "number") throw new KvCompressError("internal: a logits run returned a token");
      return r;
    };
    return {
      seqId,
      prefill: async (ids, options = {}) => {
        if (prefilled) throw new KvCompressError("prefill() runs once per sequence; use step()");
        prefilled = true;
        return asLogits(await this.runner.run(seqId, ids, options.allLogits ? "all" : "logits", true));
      },
      step: async (id) => asLogits(await this.runner.run(seqId, [id], "logits", false)),
      close: () => { this.runner.close(seqId); this.cache.removeSequence(seqId); },
    };
  }

  /** The cache's statistics (policy, blocks, achieved ratio, per-sequence kept KVs). */
  stats(): CacheStats {
    this.check();
    return this.cache.stats();
  }

  /** Releases the device buffers and the cache. Later calls throw. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.server?.destroy();
    this.cache.destroy();
    this.runner.destroy(); // last: it may destroy the device the cache ran on
  }

  private check(): void {
    if (this.destroyed) throw new KvCompressError("this Engine was destroyed");
  }
}

/**
 * Splits a prompt of n tokens into chunks of at most `chunk`, making the last one hold at least
 * the last `obsWindow` queries (0 = every query scores; then every chunk scores), so the
 * observation-window metric comes from the end of the WHOLE prompt. Returns [start, length, scores].
 */
export function planChunks(n: number, chunk: number, obsWindow: number): [number, number, boolean][] {
  if (n <= chunk) return [[0, n, true]];
  let last = n % chunk || chunk;
  if (obsWindow > 0 && last < Math.min(obsWindow, n)) last = Math.min(obsWindow, n, chunk);
  const out: [number, number, boolean][] = [];
  for (let s = 0; s < n - last; s += chunk) out.push([s, Math.min(chunk, n - last - s), obsWindow === 0]);
  out.push([n - last, last, true]);
  return out;
}

/** The GPU runner: chunked prefill and one-command-buffer decode steps. */
export function gpuRunner(cache: KvCache, gpu: GpuForward, chunk: number, batchRows: BatchRowsMode = "matvec"): Runner {
  const obsWindow = cache.config.policy.obsWindow;
  const positions = new Map<number, number>(); // tokens each sequence holds (its next position)
  return {
    async run(seqId, ids, want, prompt, sampling = GREEDY) {
      const startPos = positions.get(seqId) ?? 0;
      positions.set(seqId, startPos + ids.length);
      const plan = prompt ? planChunks(ids.length, chunk, obsWindow) : [[0, 1, true] as [number, number, boolean]];
      const rows: Float32Array[] = [];
      let result: number | Float32Array = 0;
      for (let i = 0; i < plan.length; i++) {
        const [s, n, scores] = plan[i]!;
        const lastChunk = i === plan.length - 1;
        await cache.reserve(seqId, n);
        const out = want === "all" ? { kind: "logits" as const, allRows: true }
          : !lastChunk ? { kind: "none" as const }
          : want === "token" ? { kind: "token" as const, temperature: sampling.temperature, topP: sampling.topP, r: sampling.temperature > 0 ? sampling.rng() : 0 }
          : { kind: "logits" as const, allRows: false };
        const r = await gpu.run(cache, seqId, ids.slice(s, s + n), startPos + s, out, scores);
        if (want === "all") rows.push(r as Float32Array);
        else if (lastChunk) result = r as number | Float32Array;
        // A prompt is one prefill for the policy: compression runs once after its last chunk.
        if (!prompt || lastChunk) await cache.endStep([seqId]);
      }
      if (want === "all") {
        const V = gpu.config.vocabSize;
        const all = new Float32Array(ids.length * V);
        let off = 0;
        for (const r of rows) { all.set(r, off); off += r.length; }
        return all;
      }
      return result;
    },
    async submitStep(seqId, sampling, hostId) {
      const pos = positions.get(seqId) ?? 0;
      await cache.reserve(seqId, 1);
      positions.set(seqId, pos + 1);
      const r = sampling.temperature > 0 ? sampling.rng() : 0;
      if (hostId === null) return gpu.submitDecode(cache, seqId, pos, sampling.temperature, sampling.topP, r);
      const out = { kind: "token" as const, temperature: sampling.temperature, topP: sampling.topP, r };
      return { id: gpu.run(cache, seqId, [hostId], pos, out) as Promise<number> };
    },
    async endStep(seqId) { await cache.endStep([seqId]); },
    async cancelStep(seqId, count) {
      await cache.cancelSteps(seqId, count);
      positions.set(seqId, (positions.get(seqId) ?? count) - count);
    },
    close(seqId) { positions.delete(seqId); },
    destroy() { gpu.destroy(); },
    stepper: (maxRows) => gpuStepper(gpu, maxRows, batchRows),
    async forwardOn(seq, ids, allLogits) {
      const c = seq.cache, plan = planChunks(ids.length, gpu.maxChunk, c.config.policy.obsWindow);
      const rows: Float32Array[] = [];
      for (let i = 0; i < plan.length; i++) {
        const [s, n, scores] = plan[i]!;
        const lastChunk = i === plan.length - 1;
        await c.reserve(seq.seqId, n);
        const out = allLogits ? { kind: "logits" as const, allRows: true } : lastChunk ? { kind: "logits" as const, allRows: false } : { kind: "none" as const };
        const r = await gpu.run(c, seq.seqId, ids.slice(s, s + n), seq.seqLen + s, out, scores);
        if (r instanceof Float32Array) rows.push(r);
      }
      await seq.commit(ids.length); // the prompt's one endStep (compression) after its last chunk
      if (rows.length === 1) return rows[0]!;
      const all = new Float32Array(rows.reduce((x, r) => x + r.length, 0));
      let off = 0;
      for (const r of rows) { all.set(r, off); off += r.length; }
      return all;
    },
  };
}

/** The CPU runner: the wasm SIMD dense forward (CpuForward) or the f32 TypeScript one (LlamaModel). */
export function cpuRunner(cache: KvCache, model: LlamaModel | CpuForward): Runner {
  const seqs = new Map<number, CachedSequence>();
  return {
    async run(seqId, ids, want, _prompt, sampling = GREEDY) {
      let seq = seqs.get(seqId);
      if (!seq) { seq = new CachedSequence(cache, seqId); seqs.set(seqId, seq); }
      const logits = "weights" in model ? await model.forward(ids, seq, { allLogits: want === "all" }) : await model.forward(ids, seq, want === "all");
      if (want === "token") return sampleToken(logits, sampling, sampling.rng);
      return logits;
    },
    close(seqId) { seqs.delete(seqId); },
    destroy() {},
    stepper: (maxRows) => cpuStepper((ids, seq) => "weights" in model ? model.forward(ids, seq) : model.forward(ids, seq, false), maxRows),
    forwardOn(seq, ids, allLogits) {
      return "weights" in model ? model.forward(ids, seq, { allLogits }) : model.forward(ids, seq, allLogits);
    },
  };
}
