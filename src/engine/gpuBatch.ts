// The batched decode step on the GPU: one forward over B decoding sequences, one token each
// (row i = sequence seqIds[i] at its own position), in one command buffer with one readback of
// B token ids sampled on the device, each row with its own settings.
//
// Dense layers run over the B rows as one product (`rows: "matvec"`: the decode matvec kernels
// over B rows, bit for bit the single-sequence decode step; `"matmul"`: the tiled f32 matmul,
// which reads each weight once per 64 rows instead of once per row, split-K where a weight has
// few row tiles so that a small batch still fills the device; its splits depend on the weight's
// shape only, so a row's result does not depend on which rows share its step). RoPE reads a position per
// row (rope_rows.wgsl); the K/V append and the paged decode attention take the batch's sequence
// ids (KvCache.encodeAppendBatch / encodeAttention). Sampling: argmax of every row, then the
// per-row top-p sampler over the rows at temperature > 0 (sampleRows).
import type { KvCache } from "../cache";
import { InvalidArgumentError } from "../errors";
import type { LlamaConfig } from "../model/llama";
import { f32Bits } from "../contract";
import { type Dispatch, STEP_BYTES, createStepBuffer, matmulSplits, writeStep } from "../gpu/model";
import type { GpuForward } from "./gpu";

/** Dense kernels of a batched step (see the header). */
export type BatchRows = "matvec" | "matmul";
/** A serving loop's choice: one kernel always, or "auto", per step by its number of rows. */
export type BatchRowsMode = BatchRows | "auto";

/** Rows from which "auto" takes the matmul: on an H200 (1B shape, docs/BENCHMARKS.md, serving)
 *  a step of 16 rows took 14.5 ms on the matvec rows and 20.6 ms on the matmul (its smallest tile
 *  is 64 rows), one of 128 rows 81.0 and 34.6 ms; the two crossed near 32 rows on 2026-12-02. */
export const AUTO_MATMUL_MIN_ROWS = 32;

/** The kernel a step of `numRows` rows runs under `mode`. */
export function batchRowsFor(mode: BatchRowsMode, numRows: number): BatchRows {
  return mode === "auto" ? (numRows >= AUTO_MATMUL_MIN_ROWS ? "matmul" : "matvec") : mode;
}

/** One row's sampling: temperature 0 greedy; r one uniform [0, 1) draw. */
export interface RowSampling { temperature: number; topP: number; r: number }

const STORAGE_RW = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

export class GpuBatchDecode {
  private readonly owned: GPUBuffer[] = [];
  private readonly buf: Record<"tokens" | "positions" | "rowParams" | "x" | "xn" | "q" | "k" | "v" | "att" | "gate" | "up" | "logits" | "result" | "readback" | "step", GPUBuffer>;
  private readonly embed: Dispatch;
  private readonly layers: { pre: Dispatch[]; post: Dispatch[] }[] = [];
  private readonly head: Dispatch[];
  private readonly argmax: Dispatch;
  private readonly sample: Dispatch;
  private readonly tokenWords: Uint32Array<ArrayBuffer>;
  private readonly posWords: Uint32Array<ArrayBuffer>;
  private readonly paramWords: Uint32Array<ArrayBuffer>;
  private readonly stepWords = new Uint32Array(STEP_BYTES / 4);
  private readonly device: GPUDevice;
  private readonly config: Readonly<LlamaConfig>;

  /** @param maxRows - the most sequences one step decodes. */
  constructor(gpu: GpuForward, readonly maxRows: number, readonly rows: BatchRows = "matvec") {
    if (!Number.isInteger(maxRows) || maxRows < 1) throw new InvalidArgumentError("maxRows", maxRows, "an integer ≥ 1");
    const c = gpu.config, B = maxRows, dev = gpu.device, sh = gpu.shared(), k = sh.kernels;
    this.device = dev;
    this.config = c;
    const qDim = c.numQHeads * c.headSize, kvDim = c.numKvHeads * c.headSize;
    const mk = (label: string, bytes: number) => {
      const b = dev.createBuffer({ label: `engine-batch-${label}`, size: Math.max(16, Math.ceil(bytes / 16) * 16), usage: STORAGE_RW() });
      this.owned.push(b);
      return b;
    };
    const readback = dev.createBuffer({ label: "engine-batch-readback", size: Math.max(16, 4 * B), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const step = createStepBuffer(dev, "engine-batch-step");
    this.owned.push(readback, step);
    this.buf = {
      tokens: mk("tokens", 4 * B), positions: mk("positions", 4 * B), rowParams: mk("row-params", 16 * B),
      x: mk("x", 4 * B * c.dim), xn: mk("xn", 4 * B * c.dim), q: mk("q", 4 * B * qDim), k: mk("k", 4 * B * kvDim), v: mk("v", 4 * B * kvDim),
      att: mk("att", 4 * B * qDim), gate: mk("gate", 4 * B * c.hiddenDim), up: mk("up", 4 * B * c.hiddenDim),
      logits: mk("logits", 4 * B * c.vocabSize), result: mk("result", 4 * B), readback, step,
    };
    this.tokenWords = new Uint32Array(B);
    this.posWords = new Uint32Array(B);
    this.paramWords = new Uint32Array(4 * B);
    const a = this.buf, mat = rows === "matvec" ? k.matvec : k.matmul;
    // Split-K partials: one scratch for every product of the step (they run one after another).
    let scratchBytes = 16;
    if (rows === "matmul") {
      const roles = ["embed", sh.classifierRole, ...Array.from({ length: c.numLayers }, (_, l) => ["wq", "wk", "wv", "wo", "wGate", "wUp", "wDown"].map((x) => `layers.${l}.${x}`)).flat()];
      for (const role of roles) {
        const w = sh.matrixOrNull(role);
        for (const p of w?.parts ?? []) scratchBytes = Math.max(scratchBytes, 4 * matmulSplits(p.rowCount, w!.cols).splits * B * p.rowCount);
      }
    }
    const scratch = rows === "matmul" ? mk("splitk-scratch", scratchBytes) : null;
    const mm = (role: string, x: GPUBuffer, y: GPUBuffer, inDim: number, outDim: number, accumulate: boolean, biasRole?: string) =>
      mat.prepare({ step, x, weight: sh.matrix(role), y, inDim, outDim, bias: biasRole ? sh.bias(biasRole) : undefined, accumulate,
        ...(scratch ? { splitK: { scratch, maxTokens: B } } : {}) });
    const norm = (role: string, x = a.x, out = a.xn) => k.rmsNorm.prepare({ step, x, weight: sh.matrix(role), out, dim: c.dim, eps: c.normEps });
    for (let l = 0; l < c.numLayers; l++) {
      const r = (key: string) => `layers.${l}.${key}`;
      // The single-sequence decode step's fused gate/up/SwiGLU where it applies (same kernels, same sums).
      // q/k/v: where the forward concatenated them (src/engine/gpu.ts), the matvec rows read that one
      // weight with a split output (its q/k views serve only the matmul); RoPE stays per row below.
      const qkv = rows === "matvec" ? sh.matrixOrNull(r("wqkv")) : null;
      const fused = rows === "matvec" ? k.matvecSwiglu.prepare({ step, x: a.xn, gate: sh.matrix(r("wGate")), up: sh.matrix(r("wUp")), y: a.gate, inDim: c.dim, outDim: c.hiddenDim }) : null;
      this.layers.push({
        pre: [
          norm(r("attnNorm")),
          ...(qkv ? [k.matvec.prepare({ step, x: a.xn, weight: qkv, y: a.q, inDim: c.dim, outDim: qDim + 2 * kvDim, bias: sh.bias(r("bqkv")),
            split: { y2: a.k, y3: a.v, split1: qDim, split2: qDim + kvDim } })] : [
            mm(r("wq"), a.xn, a.q, c.dim, qDim, false, r("bq")),
            mm(r("wk"), a.xn, a.k, c.dim, kvDim, false, r("bk")),
            mm(r("wv"), a.xn, a.v, c.dim, kvDim, false, r("bv")),
          ]),
          k.ropeRows.prepare({ step, x: a.q, invFreq: sh.invFreq, positions: a.positions, heads: c.numQHeads, headSize: c.headSize, style: sh.ropeStyle }),
          k.ropeRows.prepare({ step, x: a.k, invFreq: sh.invFreq, positions: a.positions, heads: c.numKvHeads, headSize: c.headSize, style: sh.ropeStyle }),
        ],
        post: [
          mm(r("wo"), a.att, a.x, qDim, c.dim, true),
          norm(r("ffnNorm")),
          ...(fused ? [fused] : [
            mm(r("wGate"), a.xn, a.gate, c.dim, c.hiddenDim, false),
            mm(r("wUp"), a.xn, a.up, c.dim, c.hiddenDim, false),
            k.swiglu.prepare({ step, gate: a.gate, up: a.up, width: c.hiddenDim }),
          ]),
          mm(r("wDown"), a.gate, a.x, c.hiddenDim, c.dim, true),
        ],
      });
    }
    this.embed = k.embed.prepare({ step, ids: a.tokens, table: sh.matrix("embed"), out: a.x, dim: c.dim });
    this.head = [norm("finalNorm"), mat.prepare({ step, x: a.xn, weight: sh.matrix(sh.classifierRole), y: a.logits, inDim: c.dim, outDim: c.vocabSize,
      ...(scratch ? { splitK: { scratch, maxTokens: B } } : {}) })];
    this.argmax = k.argmax.prepare({ logits: a.logits, out: a.result, vocab: c.vocabSize });
    this.sample = k.sampleRows.prepare({ logits: a.logits, out: a.result, rowParams: a.rowParams, vocab: c.vocabSize });
  }

  /**
   * One decode step of `seqIds` (each with one token reserved in `cache`): row i feeds tokens[i]
   * at positions[i]; returns the B sampled ids (a view valid until the next run).
   */
  async run(cache: KvCache, seqIds: readonly number[], tokens: ArrayLike<number>, positions: ArrayLike<number>, sampling: readonly RowSampling[]): Promise<Uint32Array> {
    const B = seqIds.length, c = this.config, a = this.buf, q = this.device.queue;
    if (B < 1 || B > this.maxRows) throw new InvalidArgumentError("seqIds.length", B, `in [1, ${this.maxRows}] (maxSeqs)`);
    let sampled = false;
    for (let i = 0; i < B; i++) {
      this.tokenWords[i] = tokens[i]!;
      this.posWords[i] = positions[i]!;
      const s = sampling[i]!;
      if (!(s.temperature >= 0)) throw new InvalidArgumentError("temperature", s.temperature, "≥ 0 (0 = greedy)");
      this.paramWords[4 * i] = s.temperature > 0 ? f32Bits(s.temperature) : 0;
      this.paramWords[4 * i + 1] = f32Bits(s.topP);
      this.paramWords[4 * i + 2] = f32Bits(s.temperature > 0 ? s.r : 0);
      if (s.temperature > 0) sampled = true;
    }
    q.writeBuffer(a.tokens, 0, this.tokenWords, 0, B);
    q.writeBuffer(a.positions, 0, this.posWords, 0, B);
    if (sampled) q.writeBuffer(a.rowParams, 0, this.paramWords, 0, 4 * B);
    writeStep(q, a.step, B, 0, 0, 1, 0, this.stepWords);
    const enc = this.device.createCommandEncoder({ label: "engine-batch-step" });
    let pass = enc.beginComputePass();
    this.embed.encode(pass, B);
    for (let l = 0; l < c.numLayers; l++) {
      const lg = this.layers[l]!;
      for (const d of lg.pre) d.encode(pass, B);
      pass.end();
      cache.encodeAppendBatch(enc, l, seqIds, a.k, a.v);
      cache.encodeAttention(enc, l, seqIds, a.q, a.att);
      pass = enc.beginComputePass();
      for (const d of lg.post) d.encode(pass, B);
    }
    for (const d of this.head) d.encode(pass, B);
    this.argmax.encode(pass, B);
    if (sampled) this.sample.encode(pass, B);
    pass.end();
    enc.copyBufferToBuffer(a.result, 0, a.readback, 0, 4 * B);
    q.submit([enc.finish()]);
    await a.readback.mapAsync(GPUMapMode.READ, 0, 4 * B);
    const ids = new Uint32Array(a.readback.getMappedRange(0, 4 * B).slice(0));
    a.readback.unmap();
    return ids;
  }

  destroy(): void {
    for (const b of this.owned) b.destroy();
    this.owned.length = 0;
  }
}
