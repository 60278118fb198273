// control.ts — the TypeScript face of control.wasm (assembly/). The wasm owns the block pool,
// the per-head block tables and lengths, budgets, the schedule and the compaction plan; this
// class validates arguments (misuse → named error), and hands out typed-array views onto the
// wasm memory so the GPU side uploads tables and plans with queue.writeBuffer, no JS copy.
// Capacity shortfalls are return values (false / −1 / action fields), never exceptions.

import { controlLayoutBytes, PRESSURE_FIELDS, PRESSURE_HEADER_WORDS, SEQ_STEP_FIELDS, SEQ_STEP_WORDS } from "../contract";
import type { PolicyConfig } from "../policies";
import { ConfigError, InvalidArgumentError, WasmMemoryLimitError } from "../errors";
import { makeAbort, WasmMemoryViews, type F32View, type I32View, type U32View } from "./wasmMemory";
import type { ControlExports } from "./exports";
import { validateControlConfig, type ControlPlaneConfig } from "./config";

export type { ControlPlaneConfig } from "./config";
export type { F32View, I32View, U32View } from "./wasmMemory";

/** Answer of canAdmit(): `ok` is the verdict; the numbers say why. */
export interface AdmissionCheck {
  ok: boolean;
  blocksNeeded: number; // ceil(P / b) · numLayers · numKvHeads (a prompt arrives uncompressed)
  blocksFree: number;
  hasSeqSlot: boolean;
  /** false when the prompt could not fit even in an empty pool (or a table row). */
  everFits: boolean;
}

export interface ControlStats {
  freeBlocks: number;
  blocksInUse: number;
  /** [maxSeqs] blocks held per sequence slot (0 for free slots); a copy. */
  blocksPerSeq: Int32Array;
  bytesInUse: number;
  /** Bytes the same tokens would take uncompressed: ceil(seqLen/b) blocks per (layer, kvHead). */
  bytesUncompressed: number;
  /** KVs an uncompressed cache would hold ÷ KVs kept, over the live sequences (1 = none kept or no compression). */
  achievedRatio: number;
  /** Compression passes that evicted something, and the KVs they evicted, over the pool's life. */
  passes: number;
  evictedKvs: number;
  /** Every live sequence, by ascending seqId. */
  sequences: ControlSeqStats[];
}

/** One live sequence in ControlStats; keptPerHead is i32 [numLayers, numKvHeads] (a copy). */
export interface ControlSeqStats {
  seqId: number;
  seqLen: number;
  promptTokens: number;
  keptPerHead: Int32Array;
  keptKvs: number;
  blocksInUse: number;
  bytesInUse: number;
  bytesUncompressed: number;
  achievedRatio: number;
  passes: number;
  evictedKvs: number;
}

/** Where a sequence is in its step (the seqSteps region, assembly/steps.ts). */
export interface StepState {
  /** Tokens reserved this step; 0 between steps. */
  numNew: number;
  /** True until the first endStep (the prompt, maybe in chunks). */
  prefilling: boolean;
  /** Prompt length (0 before the first endStep). */
  promptTokens: number;
  passes: number;
  evictedKvs: number;
  /** Layers whose K/V of this step were appended. */
  numAppended: number;
}

/** The pressure plan (assembly/pressure.ts): what reserving needs when the pool is short. */
export interface PressurePlan {
  /** fits: nothing to do; compress: compress `compress` (each to its budget); preempt: that is
   *  short too, so also free `preempt` (newest first; the caller keeps their tokens). */
  action: "fits" | "compress" | "preempt";
  blocksNeeded: number;
  blocksFree: number;
  /** Blocks the `compress` sequences can give up (budget and protection bound). */
  blocksFreeable: number;
  /** Sequences to compress, oldest first. */
  compress: number[];
  /** Sequences to preempt, newest first (empty unless action is preempt). */
  preempt: number[];
}

/** The policy fields the control plane decides with (src/policies.ts PolicyConfig). */
export type ControlPolicy = Pick<PolicyConfig, "budget" | "protectedWindow" | "sinks" | "trigger" | "ranking" | "pyramidBeta">
  & Partial<Pick<PolicyConfig, "headFloor">>;

const I32_MAX = 2 ** 31 - 1;
const RANKINGS = ["global", "layer", "uniform", "pyramid"] as const;
const ACTIONS = ["fits", "compress", "preempt"] as const;
const STEP_AT = Object.fromEntries(SEQ_STEP_FIELDS.map((name, i) => [name, i])) as Record<(typeof SEQ_STEP_FIELDS)[number], number>;
const step = (name: (typeof SEQ_STEP_FIELDS)[number]) => STEP_AT[name];
const AT_NUM_NEW = step("numNew"), AT_PREFILLING = step("prefilling");
const planWord = (name: (typeof PRESSURE_FIELDS)[number]) => PRESSURE_FIELDS.indexOf(name);

/** Bytes are compiled here; a precompiled Module (workerd's `.wasm` imports) is only instantiated.
 *  Both overloads of WebAssembly.instantiate are used on purpose: their results differ in shape. */
export async function instantiateWasm(wasm: Uint8Array | WebAssembly.Module, imports: WebAssembly.Imports): Promise<WebAssembly.Instance> {
  if (wasm instanceof WebAssembly.Module) return WebAssembly.instantiate(wasm, imports);
  return (await WebAssembly.instantiate(wasm as BufferSource, imports)).instance;
}

export class ControlPlane {
  readonly config: Readonly<ControlPlaneConfig>;
  private readonly mem: WasmMemoryViews;
  private passK = 0;

  private constructor(private readonly wasm: ControlExports, config: Readonly<ControlPlaneConfig>) {
    this.config = config;
    this.mem = new WasmMemoryViews(wasm.memory, wasm.layoutOffsets());
  }

  /** Instantiates control.wasm from its bytes or a precompiled module (never a path) and sizes
   *  the pool. A module is what wasm-restricted hosts (Cloudflare Workers) hand out: they refuse
   *  to compile bytes at run time and give `import x from "./control.wasm"` as a Module.
   *  @throws ConfigError for a bad field, WasmMemoryLimitError when the layout does not fit. */
  static async create(wasmBytes: Uint8Array | WebAssembly.Module, cfg: ControlPlaneConfig): Promise<ControlPlane> {
    const config = validateControlConfig(cfg);
    let memory: WebAssembly.Memory | undefined;
    const instance = await instantiateWasm(wasmBytes, { env: { abort: makeAbort(() => memory) } });
    const wasm = instance.exports as unknown as ControlExports;
    memory = wasm.memory;
    return ControlPlane.initialized(wasm, config);
  }

  /** Same as create(), synchronously (fine for this small module; browsers cap sync compiles). */
  static createSync(wasmBytes: Uint8Array | WebAssembly.Module, cfg: ControlPlaneConfig): ControlPlane {
    const config = validateControlConfig(cfg);
    let memory: WebAssembly.Memory | undefined;
    const module = wasmBytes instanceof WebAssembly.Module ? wasmBytes : new WebAssembly.Module(wasmBytes as BufferSource);
    const instance = new WebAssembly.Instance(module, { env: { abort: makeAbort(() => memory) } });
    const wasm = instance.exports as unknown as ControlExports;
    memory = wasm.memory;
    return ControlPlane.initialized(wasm, config);
  }

  private static initialized(wasm: ControlExports, c: Readonly<ControlPlaneConfig>): ControlPlane {
    const rc = wasm.init(c.numLayers, c.numKvHeads, c.blockSize, c.numBlocks, c.maxSeqs, c.maxBlocksPerHead);
    if (rc === -2) throw new ConfigError("config", "every size must be a positive integer");
    if (rc === -1) throw new WasmMemoryLimitError(controlLayoutBytes(c), 2 ** 32 - 2 ** 16);
    return new ControlPlane(wasm, c);
  }

  // ── views onto wasm memory (shapes in [layer, seq, kvHead, block] order) ──

  /** i32 [numLayers, maxSeqs, numKvHeads, maxBlocksPerHead]; −1 where unused. */
  get blockTables(): I32View {
    const c = this.config;
    return this.mem.view<I32View>(Int32Array, "blockTables", c.numLayers * c.maxSeqs * c.numKvHeads * c.maxBlocksPerHead);
  }
  /** i32 [numLayers, maxSeqs, numKvHeads]: KVs held per head (also the per-head stats). */
  get ctxLens(): I32View {
    return this.mem.view<I32View>(Int32Array, "ctxLens", this.numRows(this.config.maxSeqs));
  }
  /** i32 [maxSeqs]: tokens appended per sequence (positions 0..seqLen−1). */
  get seqLens(): I32View {
    return this.mem.view<I32View>(Int32Array, "seqLens", this.config.maxSeqs);
  }
  /** i32 [maxSeqs]: admission order of each live sequence (larger = newer); −1 for a free slot. */
  get seqBirth(): I32View {
    return this.mem.view<I32View>(Int32Array, "seqBirth", this.config.maxSeqs);
  }
  /** i32 [maxSeqs, SEQ_STEP_WORDS]: each sequence's step state (src/contract.ts SEQ_STEP_FIELDS). */
  get seqSteps(): I32View {
    return this.mem.view<I32View>(Int32Array, "seqSteps", this.config.maxSeqs * SEQ_STEP_WORDS);
  }
  /** i32 [maxSeqs, numLayers]: 1 where this step's K/V of that layer were appended. */
  get seqAppended(): I32View {
    return this.mem.view<I32View>(Int32Array, "seqAppended", this.config.maxSeqs * this.config.numLayers);
  }
  /** i32 [numLayers]: tokens per head allowed in each layer (scheduleByLayer/Uniform read it). */
  get layerCaps(): I32View {
    return this.mem.view<I32View>(Int32Array, "layerCaps", this.config.numLayers);
  }
  /** f32 [numLayers, k, numKvHeads, maxBlocksPerHead]: chunk keys input for a pass of k seqs. */
  chunkKeys(k: number): F32View {
    this.checkPassSize(k);
    return this.mem.view<F32View>(Float32Array, "chunkKeys", this.numRows(k) * this.config.maxBlocksPerHead);
  }
  /** i32 [numLayers, k, numKvHeads]: blocks to free per head (schedule output). */
  evictBlocks(k = this.passK): I32View {
    return this.mem.view<I32View>(Int32Array, "evictBlocks", this.numRows(k));
  }
  /** i32 [numLayers, k, numKvHeads]: KVs to evict per head, n = (e − 1)·b + a. */
  evictCounts(k = this.passK): I32View {
    return this.mem.view<I32View>(Int32Array, "evictCounts", this.numRows(k));
  }
  /** u32 [numLayers·k·numKvHeads + 1]: CSR offsets into evictedIdx (planMoves input). */
  evictedOffsets(k = this.passK): U32View {
    return this.mem.view<U32View>(Uint32Array, "evictedOffsets", this.numRows(k) + 1);
  }
  /** u32 [numBlocks·b]: ascending evicted logical indices per head, CSR (planMoves input). */
  get evictedIdx(): U32View {
    return this.mem.view<U32View>(Uint32Array, "evictedIdx", this.config.numBlocks * this.config.blockSize);
  }
  /** u32 [numLayers·k·numKvHeads + 1]: CSR offsets into moves, counted in pairs. */
  moveOffsets(k = this.passK): U32View {
    return this.mem.view<U32View>(Uint32Array, "moveOffsets", this.numRows(k) + 1);
  }
  /** u32 [numMoves, 2]: (dstSlot, srcSlot) pairs of the last planMoves(). */
  moves(numMoves: number): U32View {
    return this.mem.view<U32View>(Uint32Array, "moves", 2 * numMoves);
  }
  /** i32 [numFreed]: blocks released by the last planMoves(), [layer, k, kvHead] then table order. */
  freedBlocks(): I32View {
    return this.mem.view<I32View>(Int32Array, "freedBlocks", this.wasm.lastNumFreed());
  }
  /** Byte offset of each region in wasm memory (the same header the views use). */
  regionOffset(region: Parameters<WasmMemoryViews["offsetOf"]>[0]): number {
    return this.mem.offsetOf(region);
  }
  /** The module's exports. cpu.wasm is this control plane plus the CPU backend's kernels in
   *  one instance, so the CPU backend reaches its kernels here (src/cpu/backend.ts). */
  get instanceExports(): WebAssembly.Exports {
    return this.wasm as unknown as WebAssembly.Exports;
  }
  get memory(): WebAssembly.Memory {
    return this.wasm.memory;
  }

  // ── sequences and the pool ──

  /** Takes a sequence slot. Returns its seqId, or −1 when maxSeqs are in use. */
  addSequence(): number {
    return this.wasm.addSequence();
  }
  /** Releases every block of the sequence and its slot. @throws InvalidArgumentError */
  removeSequence(seqId: number): void {
    this.checkSeq(seqId);
    this.wasm.removeSequence(seqId);
  }
  /** Appends numTokens slots to every (layer, kvHead) of the sequence, all-or-nothing.
   *  false: the pool is short and nothing changed. @throws InvalidArgumentError when a head
   *  would pass maxBlocksPerHead (the context the tables were sized for). */
  reserve(seqId: number, numTokens: number): boolean {
    return this.reserveWith((s, n) => this.wasm.reserve(s, n), seqId, numTokens);
  }
  private reserveWith(call: (seqId: number, numTokens: number) => number, seqId: number, numTokens: number): boolean {
    this.checkSeq(seqId);
    checkCount("numTokens", numTokens);
    const rc = call(seqId, numTokens);
    if (rc === -3) {
      const maxCtx = this.config.maxBlocksPerHead * this.config.blockSize;
      throw new InvalidArgumentError("numTokens", numTokens, `a head may hold at most maxBlocksPerHead·blockSize = ${maxCtx} KVs`);
    }
    return rc >= 0;
  }
  /** Blocks reserve(seqId, numTokens) would take. */
  blocksToReserve(seqId: number, numTokens: number): number {
    this.checkSeq(seqId);
    checkCount("numTokens", numTokens);
    return this.wasm.blocksToReserve(seqId, numTokens);
  }
  /** Drops the last numTailBlocks blocks of one head and the KVs in them (ctxLen becomes
   *  (blocks − e)·b). @throws InvalidArgumentError */
  freeTailBlocks(seqId: number, layer: number, kvHead: number, numTailBlocks: number): void {
    this.checkHead(seqId, layer, kvHead);
    const held = Math.ceil(this.ctxLens[this.rowOf(layer, seqId, kvHead)] / this.config.blockSize);
    checkIndex("numTailBlocks", numTailBlocks, held + 1);
    this.wasm.freeTailBlocks(seqId, layer, kvHead, numTailBlocks);
  }
  get numFreeBlocks(): number {
    return this.wasm.numFreeBlocks();
  }
  /** Free block ids in the order they will be handed out (FIFO; released blocks go last). */
  freeBlockIds(): number[] {
    const ring = this.mem.view<I32View>(Int32Array, "freeRing", this.config.numBlocks);
    const head = this.wasm.freeRingHead();
    const ids: number[] = [];
    for (let i = 0; i < this.wasm.numFreeBlocks(); i++) ids.push(ring[(head + i) % ring.length]);
    return ids;
  }
  isActive(seqId: number): boolean {
    return Number.isInteger(seqId) && this.wasm.isActive(seqId) === 1;
  }
  /** Live sequence ids, ascending. */
  liveSeqIds(): number[] {
    const ids: number[] = [];
    for (let s = 0; s < this.config.maxSeqs; s++) if (this.wasm.isActive(s) === 1) ids.push(s);
    return ids;
  }

  // ── the step of each sequence (assembly/steps.ts) ──

  /** The step state of a live sequence, read from the seqSteps view. @throws InvalidArgumentError */
  stepOf(seqId: number): StepState {
    this.checkSeq(seqId);
    const w = this.seqSteps, at = seqId * SEQ_STEP_WORDS;
    return {
      numNew: w[at + step("numNew")], prefilling: w[at + step("prefilling")] === 1, promptTokens: w[at + step("promptTokens")],
      passes: w[at + step("passes")], numAppended: w[at + step("numAppended")],
      evictedKvs: (w[at + step("evictedHi")] >>> 0) * 2 ** 32 + (w[at + step("evictedLo")] >>> 0),
    };
  }
  /** Whether this step's K/V of `layer` were appended for the sequence. */
  isAppended(seqId: number, layer: number): boolean {
    return this.seqAppended[seqId * this.config.numLayers + layer] === 1;
  }
  /** reserve() that also starts the step: numNew = numTokens, no layer appended yet. */
  reserveStep(seqId: number, numTokens: number): boolean {
    return this.reserveWith((s, n) => this.wasm.reserveStep(s, n), seqId, numTokens);
  }
  /**
   * The decode-batch check of KvCache's GPU-buffer path, once per layer of every step, without
   * an object per row: each id live, past its prefill, exactly one token reserved, distinct, and
   * (appendedIn ≥ 0) this step's K/V appended in that layer. Returns the first offending id,
   * the field to name (the batch, or the one id not yet appended) and what it must be; or null.
   */
  checkDecodeRows(seqIds: readonly number[], appendedIn: number): { field: "seqIds" | "seqId"; seqId: number; must: string } | null {
    const w = this.seqSteps, app = this.seqAppended, L = this.config.numLayers, M = this.config.maxSeqs;
    const seen = this.rowSeen.length === M ? this.rowSeen : (this.rowSeen = new Uint32Array(M));
    const stamp = ++this.rowStamp;
    for (const s of seqIds) {
      if (!this.isActive(s)) return { field: "seqIds", seqId: s, must: "live sequence ids" };
      if (w[s * SEQ_STEP_WORDS + AT_NUM_NEW] !== 1 || w[s * SEQ_STEP_WORDS + AT_PREFILLING] === 1) return { field: "seqIds", seqId: s, must: "decoding sequences with exactly one token reserved" };
      if (seen[s] === stamp) return { field: "seqIds", seqId: s, must: "distinct sequence ids" };
      seen[s] = stamp;
      if (appendedIn >= 0 && app[s * L + appendedIn] !== 1) return { field: "seqId", seqId: s, must: `a sequence whose tokens of this step were appended in layer ${appendedIn} (call append first)` };
    }
    return null;
  }
  private rowSeen = new Uint32Array(0);
  private rowStamp = 0;
  /** markAppended for the rows of a batch checkDecodeRows passed (one wasm call each). */
  markAppendedRows(seqIds: readonly number[], layer: number): void {
    checkIndex("layer", layer, this.config.numLayers);
    for (const s of seqIds) if (this.wasm.markAppended(s, layer) < 0) throw new InvalidArgumentError("seqId", s, "a sequence with tokens reserved this step");
  }
  /** Records that this step's K/V of `layer` were appended. @throws InvalidArgumentError without a reservation. */
  markAppended(seqId: number, layer: number): void {
    this.checkSeq(seqId);
    checkIndex("layer", layer, this.config.numLayers);
    if (this.wasm.markAppended(seqId, layer) < 0) throw new InvalidArgumentError("seqId", seqId, "a sequence with tokens reserved this step");
  }
  /** Undoes the reserved, never-ended step of a decoding sequence (its blocks go back to the
   *  front of the ring in reverse order). @throws InvalidArgumentError while prefilling or with nothing reserved. */
  cancelStep(seqId: number): void {
    this.checkSeq(seqId);
    if (this.wasm.cancelStep(seqId) < 0) throw new InvalidArgumentError("seqId", seqId, "a decoding sequence with a token reserved this step");
  }
  /** Undoes the newest n ended decode tokens, newest first. @throws InvalidArgumentError past the prompt or mid-step. */
  rewindSteps(seqId: number, n: number): void {
    this.checkSeq(seqId);
    if (this.wasm.rewindSteps(seqId, n) < 0) throw new InvalidArgumentError("n", n, "at most the decode tokens of a sequence between steps");
  }
  /** Blocks a reserve of numTokens would take from the pool, and the pool's free blocks. */
  reserveFits(seqId: number, numTokens: number): boolean {
    return this.wasm.blocksToReserve(seqId, numTokens) <= this.wasm.numFreeBlocks();
  }
  /** Past its prefill (stepOf's !prefilling without the object). */
  isPastPrefill(seqId: number): boolean {
    return this.seqSteps[seqId * SEQ_STEP_WORDS + step("prefilling")] === 0;
  }
  /** Tokens reserved this step (0 between steps): stepOf's numNew without the object. */
  numNewOf(seqId: number): number {
    return this.seqSteps[seqId * SEQ_STEP_WORDS + step("numNew")];
  }
  /** Ends the step (the first ends the prefill); true when the policy makes a pass due. */
  endStep(seqId: number): boolean {
    this.checkSeq(seqId);
    return this.wasm.endStep(seqId) === 1;
  }
  /** Past its prefill and between steps: the only sequences a pass may touch. */
  isBetweenSteps(seqId: number): boolean {
    return this.wasm.isBetweenSteps(seqId) === 1;
  }

  // ── the policy, budgets under it, and the pressure plan (assembly/pressure.ts) ──

  /** Sets the policy the budgets, passDue, schedulePass and pressurePlan use (default: no budget). */
  setPolicy(p: ControlPolicy): void {
    const b = p.budget;
    const kind = b === null ? 0 : b.kind === "tokens" ? 1 : 2;
    // Caps past i32 mean "no limit" either way; the wasm works in i32.
    const value = b === null ? 0 : b.kind === "tokens" ? Math.min(b.maxTokensPerHead, I32_MAX) : Math.min(Math.round(b.ratio * 1000), I32_MAX);
    const minTokens = b !== null && b.kind === "ratio" ? Math.min(b.minTokens, I32_MAX) : 0;
    const rc = this.wasm.setPolicy(kind, value, minTokens, Math.min(p.protectedWindow, I32_MAX), Math.min(p.sinks, I32_MAX),
      p.trigger === "continual" ? 1 : 0, RANKINGS.indexOf(p.ranking), Math.min(Math.round(p.pyramidBeta), I32_MAX));
    if (rc < 0) throw new ConfigError("policy", "budget, protection, ranking or pyramidBeta out of the control plane's range");
    this.setHeadFloor(p.headFloor ?? 0);
  }
  /** Every head of a global or per-layer ranking keeps at least `share` (0 … 1) of the mean
   *  per-head share of the blocks the ranking leaves (assembly/schedule.ts, head floor). */
  setHeadFloor(share: number): void {
    const milli = Math.round(share * 1000);
    if (!(milli >= 0 && milli <= 1000) || this.wasm.setHeadFloor(milli) < 0) throw new ConfigError("policy.headFloor", `must be in [0, 1], got ${String(share)}`);
  }
  /** A sequence's own budget instead of the policy's value (the policy must have a budget):
   *  max tokens per head, or a ratio on its prompt; null: the policy's again. */
  setSeqBudget(seqId: number, budget: { maxTokensPerHead: number } | { ratio: number } | null): void {
    this.checkSeq(seqId);
    const value = budget === null ? 0 : "ratio" in budget ? -Math.min(Math.round(budget.ratio * 1000), I32_MAX) : Math.min(budget.maxTokensPerHead, I32_MAX);
    if (budget !== null && ("ratio" in budget ? !(value <= -1000) : !(Number.isInteger(value) && value >= 1))) {
      throw new ConfigError("budget", `${JSON.stringify(budget)}: a ratio ≥ 1 or an integer count of tokens ≥ 1`);
    }
    if (this.wasm.setSeqBudget(seqId, value) < 0) throw new ConfigError("budget", `${JSON.stringify(budget)} for sequence ${seqId}`);
  }
  /** Per-head budget C of a sequence under the policy (2^31 − 1 without a budget). */
  seqCapTokens(seqId: number): number {
    this.checkSeq(seqId);
    return this.wasm.seqCapTokens(seqId);
  }
  /** The most blocks the sequence holds up to `finalTokens` under the policy, compression
   *  counted, preemption not (assembly/pressure.ts seqPeakBlocks). */
  seqPeakBlocks(seqId: number, promptTokens: number, finalTokens: number): number {
    this.checkSeq(seqId);
    if (!(Number.isInteger(promptTokens) && promptTokens >= 1)) throw new InvalidArgumentError("promptTokens", promptTokens, "an integer ≥ 1");
    if (!(Number.isInteger(finalTokens) && finalTokens >= promptTokens)) throw new InvalidArgumentError("finalTokens", finalTokens, `an integer ≥ promptTokens (${promptTokens})`);
    const n = this.wasm.seqPeakBlocks(seqId, promptTokens, finalTokens);
    if (n < 0) throw new InvalidArgumentError("seqId", seqId, "a live sequence");
    return n;
  }
  /** E under the policy: blocks the sequence holds beyond its budget. */
  seqBudgetBlocks(seqId: number): number {
    this.checkSeq(seqId);
    return this.wasm.seqBudgetBlocks(seqId);
  }
  /** The one memory-pressure decision for reserving numTokens more of seqId (pure: changes nothing). */
  pressurePlan(seqId: number, numTokens: number): PressurePlan {
    this.checkSeq(seqId);
    checkCount("numTokens", numTokens);
    const action = this.wasm.pressurePlan(seqId, numTokens);
    const w = this.mem.view<I32View>(Int32Array, "pressure", PRESSURE_HEADER_WORDS + this.config.maxSeqs);
    const nc = w[planWord("numCompress")], np = w[planWord("numPreempt")];
    const ids = Array.from(w.subarray(PRESSURE_HEADER_WORDS, PRESSURE_HEADER_WORDS + nc + np));
    return {
      action: ACTIONS[action], blocksNeeded: w[planWord("blocksNeeded")], blocksFree: w[planWord("blocksFree")],
      blocksFreeable: w[planWord("blocksFreeable")], compress: ids.slice(0, nc), preempt: ids.slice(nc),
    };
  }

  /** Flat index into ctxLens / blockTables rows: (layer · maxSeqs + seqId) · numKvHeads + kvHead. */
  rowOf(layer: number, seqId: number, kvHead: number): number {
    return (layer * this.config.maxSeqs + seqId) * this.config.numKvHeads + kvHead;
  }

  // ── budgets (docs/METHOD.md §2.4) ──

  /** Max-tokens mode: E = max(0, allocated − ceil(C/b)·L·H) blocks for this sequence. */
  budgetMaxTokens(seqId: number, capTokens: number): number {
    this.checkSeq(seqId);
    checkCount("capTokens", capTokens);
    return this.wasm.budgetMaxTokens(seqId, capTokens);
  }
  /** Ratio mode: C = max(minTokens, floor_b(P/R − 1)) tokens per head, R to 1/1000.
   *  The achieved ratio is P / C at most (less when protection stops the schedule). */
  capTokensForRatio(promptTokens: number, ratio: number, minTokens = 128): number {
    checkCount("promptTokens", promptTokens);
    checkCount("minTokens", minTokens);
    const ratioMilli = Math.round(ratio * 1000);
    if (!(ratioMilli >= 1000 && ratioMilli <= 2 ** 31 - 1)) throw new InvalidArgumentError("ratio", ratio, "a number ≥ 1");
    return this.wasm.capTokensForRatio(promptTokens, ratioMilli, minTokens);
  }
  /** Ratio-mode budget of one sequence; promptTokens defaults to its seqLen. */
  budgetRatio(seqId: number, ratio: number, minTokens = 128, promptTokens?: number): { capTokens: number; blocks: number } {
    this.checkSeq(seqId);
    const capTokens = this.capTokensForRatio(promptTokens ?? this.seqLens[seqId], ratio, minTokens);
    return { capTokens, blocks: this.wasm.budgetMaxTokens(seqId, capTokens) };
  }
  /** Sets every layer's cap to capTokens; returns the layerCaps view. */
  uniformLayerCaps(capTokens: number): I32View {
    checkCount("capTokens", capTokens);
    this.wasm.uniformLayerCaps(capTokens);
    return this.layerCaps;
  }
  /** PyramidKV caps decreasing with depth (beta = 20 as in PyramidKV); returns layerCaps. */
  pyramidLayerCaps(capTokens: number, beta = 20): I32View {
    checkCount("capTokens", capTokens);
    if (!Number.isInteger(beta) || beta < 1) throw new InvalidArgumentError("beta", beta, "an integer ≥ 1");
    this.wasm.pyramidLayerCaps(capTokens, beta);
    return this.layerCaps;
  }
  /** Most blocks a pass can free from this sequence with the window and sinks protected. */
  maxFreeableBlocks(seqId: number, protectedWindow: number, sinks = 0): number {
    this.checkSeq(seqId);
    return this.wasm.seqMaxFreeable(seqId, protectedWindow, sinks);
  }

  // ── schedule and plan: a pass over k sequences; write chunkKeys(k) first ──

  /** Sets the pass (k = seqIds.length) that chunkKeys(k), the schedule and planMoves() use;
   *  budgets (E per sequence) only for scheduleKvCompress. Checks everything before writing.
   *  @throws InvalidArgumentError for an inactive or repeated seqId or a bad budget. */
  setPass(seqIds: readonly number[], budgets?: readonly number[]): void {
    this.checkPassSize(seqIds.length);
    seqIds.forEach((s, i) => {
      this.checkSeq(s);
      if (seqIds.indexOf(s) !== i) throw new InvalidArgumentError(`seqIds[${i}]`, s, "distinct sequence ids");
    });
    if (budgets !== undefined) {
      if (budgets.length !== seqIds.length) throw new InvalidArgumentError("budgets.length", budgets.length, `= seqIds.length (${seqIds.length})`);
      budgets.forEach((e, i) => checkCount(`budgets[${i}]`, e));
      this.mem.view<I32View>(Int32Array, "passBudgets", this.config.maxSeqs).set(budgets);
    }
    this.mem.view<I32View>(Int32Array, "passSeqIds", this.config.maxSeqs).set(seqIds);
    this.passK = seqIds.length;
  }
  /** kvcompress: all (layer, kvHead) of each sequence rank together for that sequence's own
   *  E (budgets[i] for seqIds[i]). Returns blocks scheduled; read evictBlocks()/evictCounts(). */
  scheduleKvCompress(seqIds: readonly number[], budgets: readonly number[]): number {
    this.setPass(seqIds, budgets);
    return this.wasm.scheduleKvCompress(seqIds.length);
  }
  /** Ablation: heads rank only within their layer, for that layer's share of layerCaps. */
  scheduleByLayer(seqIds: readonly number[]): number {
    this.setPass(seqIds);
    return this.wasm.scheduleByLayer(seqIds.length);
  }
  /** Uniform policies: each head of layer l keeps ceil(layerCaps[l] / b) blocks. */
  scheduleUniform(seqIds: readonly number[]): number {
    this.setPass(seqIds);
    return this.wasm.scheduleUniform(seqIds.length);
  }
  /** Schedules a pass over seqIds under the policy (setPolicy), each sequence to its own
   *  budget, in one call: the wasm computes E or the layer caps itself. Per-layer rankings take
   *  one sequence per pass. Returns blocks scheduled; read evictCounts()/evictedOffsets(). */
  schedulePass(seqIds: readonly number[]): number {
    this.setPass(seqIds);
    const rc = this.wasm.schedulePass(seqIds.length);
    if (rc < 0) throw new InvalidArgumentError("seqIds.length", seqIds.length, "1 for a per-layer or uniform ranking (layer caps are pool-wide)");
    return rc;
  }
  /** Plans the moves of the current pass from evictedOffsets()/evictedIdx, then applies
   *  ctxLen −= n and frees the tail blocks. @throws InvalidArgumentError on a bad CSR. */
  planMoves(): { numMoves: number; numFreed: number } {
    const rc = this.wasm.planMoves(this.passK);
    if (rc === -1) throw new InvalidArgumentError("passSeqIds", this.passK, "a pass of distinct active sequences; schedule first");
    if (rc === -2) {
      const head = this.wasm.lastBadHead();
      throw new InvalidArgumentError(`evictedIdx[head ${head}]`, this.evictedOffsets()[head], "ascending indices < ctxLen, offsets non-decreasing");
    }
    return { numMoves: rc, numFreed: this.wasm.lastNumFreed() };
  }

  /** Whether the policy's pass may be decided on the device (the global ranking; see
   *  assembly/pressure.ts passOnDevice): then passBudgets + applyEvictCounts replace the
   *  chunk keys, schedulePass and planMoves. */
  passOnDevice(): boolean {
    return this.wasm.passOnDevice() === 1;
  }
  /** Sets the pass and returns E of each sequence under the policy (i32 [k], a view). */
  passBudgets(seqIds: readonly number[]): I32View {
    this.setPass(seqIds);
    this.wasm.writePassBudgets(seqIds.length);
    return this.mem.view<I32View>(Int32Array, "passBudgets", seqIds.length);
  }
  /** Applies a pass decided on the device: `counts` is n per head, i32 [numLayers, k, numKvHeads]
   *  of the current pass. Applies ctxLen −= n, frees the tail blocks and counts the pass, as
   *  planMoves does. @throws InvalidArgumentError for a bad n (nothing changes then). */
  applyEvictCounts(counts: ArrayLike<number>): { numFreed: number } {
    const k = this.passK;
    if (counts.length !== this.numRows(k)) throw new InvalidArgumentError("counts.length", counts.length, `numLayers·k·numKvHeads = ${this.numRows(k)}`);
    this.evictCounts(k).set(counts);
    const rc = this.wasm.applyEvictCounts(k);
    if (rc === -1) throw new InvalidArgumentError("passSeqIds", k, "a pass of distinct active sequences; set the pass first");
    if (rc === -2) {
      const head = this.wasm.lastBadHead();
      throw new InvalidArgumentError(`counts[${head}]`, counts[head], "0 ≤ n ≤ ctxLen with ctxLen − n a whole number of blocks");
    }
    return { numFreed: rc };
  }

  // ── admission, pressure, stats ──

  canAdmit(promptTokens: number): AdmissionCheck {
    checkCount("promptTokens", promptTokens);
    const c = this.config;
    const blocksNeeded = Math.ceil(promptTokens / c.blockSize) * c.numLayers * c.numKvHeads; // f64: no i32 overflow
    const blocksFree = this.wasm.numFreeBlocks();
    let hasSeqSlot = false;
    for (let s = 0; s < c.maxSeqs && !hasSeqSlot; s++) hasSeqSlot = this.wasm.isActive(s) === 0;
    const everFits = blocksNeeded <= c.numBlocks && promptTokens <= c.maxBlocksPerHead * c.blockSize;
    return { ok: hasSeqSlot && everFits && blocksNeeded <= blocksFree, blocksNeeded, blocksFree, hasSeqSlot, everFits };
  }
  /** Everything stats report, from the wasm's tables, lengths and step state (one source). */
  stats(): ControlStats {
    const c = this.config;
    const blocksInUse = this.wasm.computeSeqBlocks();
    const bpb = c.bytesPerBlock;
    const blocksPerSeq = this.mem.view<I32View>(Int32Array, "seqBlocks", c.maxSeqs).slice();
    const ctx = this.ctxLens, seqLens = this.seqLens;
    const sequences: ControlSeqStats[] = [];
    let keptAll = 0, fullAll = 0;
    for (const seqId of this.liveSeqIds()) {
      const keptPerHead = new Int32Array(c.numLayers * c.numKvHeads);
      let keptKvs = 0;
      for (let l = 0; l < c.numLayers; l++) for (let h = 0; h < c.numKvHeads; h++) {
        const n = ctx[this.rowOf(l, seqId, h)];
        keptPerHead[l * c.numKvHeads + h] = n;
        keptKvs += n;
      }
      const seqLen = seqLens[seqId], fullKvs = seqLen * c.numLayers * c.numKvHeads, st = this.stepOf(seqId);
      keptAll += keptKvs; fullAll += fullKvs;
      sequences.push({
        seqId, seqLen, promptTokens: st.promptTokens, keptPerHead, keptKvs, blocksInUse: blocksPerSeq[seqId],
        bytesInUse: blocksPerSeq[seqId] * bpb, bytesUncompressed: Math.ceil(seqLen / c.blockSize) * c.numLayers * c.numKvHeads * bpb,
        achievedRatio: keptKvs ? fullKvs / keptKvs : 1, passes: st.passes, evictedKvs: st.evictedKvs,
      });
    }
    const pool = this.mem.view<I32View>(Int32Array, "poolCounts", 4);
    return {
      freeBlocks: this.wasm.numFreeBlocks(), blocksInUse, blocksPerSeq, bytesInUse: blocksInUse * bpb,
      bytesUncompressed: this.wasm.uncompressedBlocks() * bpb, achievedRatio: keptAll ? fullAll / keptAll : 1,
      passes: pool[0], evictedKvs: (pool[2] >>> 0) * 2 ** 32 + (pool[1] >>> 0), sequences,
    };
  }

  // ── argument checks (misuse → InvalidArgumentError with the bound) ──

  private checkPassSize(k: number): void {
    checkIndex("k", k, this.config.maxSeqs + 1);
  }
  private checkSeq(seqId: number): void {
    if (!this.isActive(seqId)) throw new InvalidArgumentError("seqId", seqId, `an active sequence id in [0, ${this.config.maxSeqs})`);
  }
  private checkHead(seqId: number, layer: number, kvHead: number): void {
    this.checkSeq(seqId);
    checkIndex("layer", layer, this.config.numLayers);
    checkIndex("kvHead", kvHead, this.config.numKvHeads);
  }
  private numRows(k: number): number {
    return this.config.numLayers * k * this.config.numKvHeads;
  }
}

function checkIndex(field: string, value: number, end: number): void {
  if (!Number.isInteger(value) || value < 0 || value >= end) throw new InvalidArgumentError(field, value, `an integer in [0, ${end})`);
}
function checkCount(field: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 2 ** 31 - 1) throw new InvalidArgumentError(field, value, "an integer in [0, 2^31)");
}


