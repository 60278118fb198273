// The GPU forward pass: weights on the device in their stored precision, every dense layer a
// model kernel (shaders/model, host wrappers in src/gpu/model), attention through the KvCache's
// GPU-buffer path (encodeAppend/encodeAttention).
//
// Every dispatch of a step is prepared once in finish(), for two batch shapes: a one-token step
// (decode: matrix × vector kernels) and a prefill chunk (tiled matrix × matrix kernels). A step
// then writes the token ids and one Step uniform, replays the prepared list into one command
// buffer, and reads back one token id (sampled on the device) or, when asked, logits.
import type { KvCache } from "../cache";
import { InvalidArgumentError, ModelFormatError } from "../errors";
import type { LlamaConfig } from "../model/llama";
import { ropeInvFrequencies } from "../model/rope";
import {
  type DeviceTensor, type Dispatch, type ModelKernels, STEP_BYTES, createModelKernels, createStepBuffer, ropeInvFreqBuffer,
  uploadTensor, writeStep,
} from "../gpu/model";
import type { RawTensor } from "./weights";

/** What the caller wants out of a chunk. Sampling: temperature 0 is greedy; r one uniform [0, 1) draw. */
export type ChunkOutput =
  | { kind: "token"; temperature: number; topP: number; r: number }
  | { kind: "logits"; allRows: boolean }
  | { kind: "none" };

const STORAGE_RW = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

/** What GpuForward lends a batched decode (src/engine/gpuBatch.ts). */
export interface GpuForwardShared {
  kernels: ModelKernels;
  matrix(role: string): DeviceTensor;
  matrixOrNull(role: string): DeviceTensor | null;
  bias(role: string): GPUBuffer | undefined;
  invFreq: GPUBuffer;
  classifierRole: string;
  /** The pair layout q and k have on the device (interleaved once rotate-half rows were permuted at upload). */
  ropeStyle: LlamaConfig["ropeStyle"];
}

/** The prepared dispatches of one batch shape. */
interface StepPlan {
  embed: Dispatch;
  layers: { pre: Dispatch[]; post: Dispatch[] }[];
}

export class GpuForward {
  private readonly matrices = new Map<string, DeviceTensor>();
  private readonly biases = new Map<string, GPUBuffer>();
  /** RMSNorm weights as f32, for the decode matvecs' fused norm. */
  private readonly normsF32 = new Map<string, GPUBuffer>();
  private readonly owned: GPUBuffer[] = [];
  private kernels!: ModelKernels;
  private act!: Record<"tokens" | "x" | "xn" | "q" | "k" | "v" | "att" | "gate" | "up" | "xLast" | "xnLast" | "logits1" | "result" | "readback" | "stepChunk" | "stepOne" | "invFreq", GPUBuffer>;
  /** MAP_READ buffers for pipelined decode, used in turn: up to three steps in flight and one being read. */
  private tokenReadbacks: GPUBuffer[] = [];
  private nextReadback = 0;
  /** Decode's embed from the device's last sampled id (`result`), for pipelined steps. */
  private embedFromDevice!: Dispatch;
  private decode!: StepPlan;
  private chunk!: StepPlan;
  /** Decode head (reads x row 0 under stepChunk) and chunk head (reads xLast under stepOne): norm + classifier. */
  private headDecode!: Dispatch[];
  private headChunk!: Dispatch[];
  private headAll: Dispatch[] | null = null;
  private logitsAll: GPUBuffer | null = null;
  private argmax!: Dispatch;
  private sample!: Dispatch;
  private classifierRole = "embed";
  // Hot-path scratch, allocated once.
  private readonly tokenWords: Uint32Array<ArrayBuffer>;
  private readonly stepWords = new Uint32Array(STEP_BYTES / 4);
  private readonly seqIds = [0];
  /** Bytes of weights held on the device. */
  weightBytes = 0;

  constructor(readonly device: GPUDevice, readonly config: Readonly<LlamaConfig>, readonly maxChunk: number, readonly maxPositions: number) {
    this.tokenWords = new Uint32Array(maxChunk);
  }

  /** Receives one tensor from the loader: uploads it in its stored precision; the bytes can go. */
  upload(t: RawTensor): void {
    const leaf = t.role.slice(t.role.lastIndexOf(".") + 1);
    if (leaf === "attnNorm" || leaf === "ffnNorm" || t.role === "finalNorm") {
      // The fused RMSNorm of the decode matvecs reads its weight as f32 (dim floats); the
      // stored-precision copy below serves the prefill's rms_norm.wgsl.
      const f32 = widen(t);
      const b = this.buffer(`w-${t.role}-f32`, f32.byteLength, STORAGE_RW());
      this.device.queue.writeBuffer(b, 0, f32);
      this.normsF32.set(t.role, b);
    }
    if (this.qkvFusable(t) && (leaf === "wq" || leaf === "wk" || leaf === "wv" || leaf === "bq" || leaf === "bk" || leaf === "bv")) {
      this.uploadQkv(t, leaf);
      if (leaf[0] === "w") return;
      // Biases are kept apart too, for the prefill's three products (permuted as the rows are).
      if (leaf !== "bv" && this.config.ropeStyle === "rotate-half") t = { ...t, bytes: permuteHalves(t.bytes, t.shape[0]!, t.dtype === "f32" ? 4 : 2, this.config.headSize) };
    }
    if (t.shape.length === 1 && (leaf === "bq" || leaf === "bk" || leaf === "bv")) {
      // Biases are read by the matmul epilogues as f32: a few KB per layer.
      const f32 = widen(t);
      const b = this.buffer(`w-${t.role}`, f32.byteLength, STORAGE_RW());
      this.device.queue.writeBuffer(b, 0, f32);
      this.biases.set(t.role, b);
      this.weightBytes += f32.byteLength;
      return;
    }
    const m = uploadTensor(this.device, t, { label: `engine-w-${t.role}` });
    for (const p of m.parts) this.owned.push(p.buffer);
    this.matrices.set(t.role, m);
    this.weightBytes += t.bytes.byteLength;
  }

  /** q, k and v of a layer go into one [qDim + 2·kvDim, dim] weight (and one bias) for decode's
   *  single q/k/v matvec, when that matvec can run on them: rows of whole 16-byte chunks, one binding. */
  private qkvFusable(_t: RawTensor): boolean {
    const c = this.config, rows = (c.numQHeads + 2 * c.numKvHeads) * c.headSize;
    // Sized as f32 whatever the dtype: the same answer for a layer's biases (which may come
    // first, and in another dtype) as for its weights.
    return c.dim % 8 === 0 && c.headSize % 2 === 0 && rows * c.dim * 4 <= this.device.limits.maxStorageBufferBindingSize;
  }

  /** The pair layout q and k have on the device: interleaved once rotate-half rows were permuted. */
  private ropeStyle(): LlamaConfig["ropeStyle"] {
    return this.matrices.has("layers.0.wqkv") ? "interleaved" : this.config.ropeStyle;
  }

  private uploadQkv(t: RawTensor, leaf: string): void {
    const c = this.config, qDim = c.numQHeads * c.headSize, kvDim = c.numKvHeads * c.headSize;
    const layer = t.role.slice(0, t.role.lastIndexOf("."));
    const row0 = leaf[1] === "q" ? 0 : leaf[1] === "k" ? qDim : qDim + kvDim;
    const rows = qDim + 2 * kvDim;
    if (leaf[0] === "b") {
      let b = this.biases.get(`${layer}.bqkv`);
      if (!b) { b = this.buffer(`w-${layer}.bqkv`, 4 * rows, STORAGE_RW()); this.biases.set(`${layer}.bqkv`, b); }
      const f = widen(t);
      this.device.queue.writeBuffer(b, 4 * row0, leaf[1] !== "v" && this.config.ropeStyle === "rotate-half" ? new Float32Array(permuteHalves(new Uint8Array(f.buffer), f.length, 4, this.config.headSize).buffer) : f);
      return;
    }
    let m = this.matrices.get(`${layer}.wqkv`);
    if (!m) {
      const size = Math.ceil((rows * c.dim * (t.dtype === "f32" ? 4 : 2)) / 16) * 16;
      const buffer = this.device.createBuffer({ label: `engine-w-${layer}.wqkv`, size, usage: STORAGE_RW() });
      this.owned.push(buffer);
      m = { dtype: t.dtype, shape: [rows, c.dim], rows, cols: c.dim, parts: [{ buffer, rowStart: 0, rowCount: rows }] };
      this.matrices.set(`${layer}.wqkv`, m);
    }
    const n = leaf[1] === "q" ? qDim : kvDim;
    if (m.dtype !== t.dtype) throw new ModelFormatError(t.role, `dtype ${t.dtype}; q, k and v of a layer must share one dtype (${m.dtype})`);
    if (t.shape[0] !== n || t.bytes.byteLength !== n * c.dim * (t.dtype === "f32" ? 4 : 2)) throw new ModelFormatError(t.role, `shape [${t.shape}], want [${n}, ${c.dim}]`);
    const buffer = m.parts[0]!.buffer;
    const eb = t.dtype === "f32" ? 4 : 2;
    // Rotate-half q and k rows are permuted to interleaved pairs (row j and j + d/2 of a head →
    // rows 2j, 2j + 1): q·k is unchanged (both permuted alike), and the decode matvec ropes each
    // pair inside one workgroup. The prefill ropes them interleaved too (ropeStyle below).
    const src = leaf[1] !== "v" && this.config.ropeStyle === "rotate-half" ? permuteHalves(t.bytes, n, c.dim * eb, c.headSize)
      : t.bytes.byteOffset % 4 === 0 ? t.bytes : t.bytes.slice();
    this.device.queue.writeBuffer(buffer, row0 * c.dim * (t.dtype === "f32" ? 4 : 2), src.buffer as ArrayBuffer, src.byteOffset, src.byteLength);
    // The prefill's matmuls read q, k, v as views into the one buffer (rows from bufferRow).
    this.matrices.set(t.role, { dtype: t.dtype, shape: [n, c.dim], rows: n, cols: c.dim, parts: [{ buffer, rowStart: 0, rowCount: n, bufferRow: row0 }] });
    this.weightBytes += t.bytes.byteLength;
  }

  /** After the last tensor: builds pipelines, activations and every dispatch of both batch shapes once. */
  async finish(tied: boolean): Promise<void> {
    const c = this.config, T = this.maxChunk;
    const qDim = c.numQHeads * c.headSize, kvDim = c.numKvHeads * c.headSize;
    const f = 4, u = GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;
    this.kernels = await createModelKernels(this.device, {
      dtypes: [...new Set([...this.matrices.values()].map((m) => m.dtype))], inDims: [c.dim, qDim, c.hiddenDim],
    });
    this.act = {
      tokens: this.buffer("tokens", 4 * T, STORAGE_RW()),
      x: this.buffer("x", f * T * c.dim, STORAGE_RW()), xn: this.buffer("xn", f * T * c.dim, STORAGE_RW()),
      q: this.buffer("q", f * T * qDim, STORAGE_RW()), k: this.buffer("k", f * T * kvDim, STORAGE_RW()),
      v: this.buffer("v", f * T * kvDim, STORAGE_RW()), att: this.buffer("att", f * T * qDim, STORAGE_RW()),
      gate: this.buffer("gate", f * T * c.hiddenDim, STORAGE_RW()), up: this.buffer("up", f * T * c.hiddenDim, STORAGE_RW()),
      xLast: this.buffer("x-last", f * c.dim, STORAGE_RW()), xnLast: this.buffer("xn-last", f * c.dim, STORAGE_RW()),
      logits1: this.buffer("logits", f * c.vocabSize, STORAGE_RW()), result: this.buffer("result", 16, STORAGE_RW()),
      readback: this.device.createBuffer({ label: "engine-readback", size: Math.max(16, f * c.vocabSize), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
      stepChunk: createStepBuffer(this.device, "engine-step"), stepOne: createStepBuffer(this.device, "engine-step-one"),
      invFreq: ropeInvFreqBuffer(this.device, ropeInvFrequencies(c.headSize, c.ropeTheta, c.ropeScaling)),
    };
    this.owned.push(this.act.readback, this.act.stepChunk, this.act.stepOne, this.act.invFreq);
    for (let i = 0; i < 4; i++) {
      const rb = this.device.createBuffer({ label: `engine-readback-token-${i}`, size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      this.owned.push(rb);
      this.tokenReadbacks.push(rb);
    }
    writeStep(this.device.queue, this.act.stepOne, 1, 0, 0, 1, 0, this.stepWords);
    this.classifierRole = tied ? "embed" : "classifier";
    this.decode = this.plan(true);
    this.chunk = this.plan(false);
    const a = this.act, k = this.kernels;
    // Decode's head: the final norm fused into the classifier matvec where rows are whole chunks.
    this.headDecode = c.dim % 8 === 0
      ? [k.matvec.prepare({ step: a.stepChunk, x: a.x, weight: this.matrix(this.classifierRole), y: a.logits1, inDim: c.dim, outDim: c.vocabSize,
        norm: { weight: this.normsF32.get("finalNorm")!, eps: c.normEps } })]
      : this.head(a.stepChunk, a.x, a.xn, a.logits1, true);
    this.headChunk = this.head(a.stepOne, a.xLast, a.xnLast, a.logits1, true);
    this.argmax = k.argmax.prepare({ logits: a.logits1, out: a.result, vocab: c.vocabSize });
    this.sample = k.sample.prepare({ step: a.stepChunk, logits: a.logits1, out: a.result, vocab: c.vocabSize });
    this.embedFromDevice = k.embed.prepare({ step: a.stepChunk, ids: a.result, table: this.matrix("embed"), out: a.x, dim: c.dim });
  }

  /** Every layer's dispatches for one batch shape: decode (one token: matvec) or a chunk (tiled matmul). */
  private plan(decode: boolean): StepPlan {
    const c = this.config, a = this.act, k = this.kernels, step = a.stepChunk;
    const qDim = c.numQHeads * c.headSize, kvDim = c.numKvHeads * c.headSize;
    const mat = decode ? k.matvec : k.matmul;
    const mm = (role: string, x: GPUBuffer, y: GPUBuffer, inDim: number, outDim: number, accumulate: boolean, biasRole?: string) =>
      mat.prepare({ step, x, weight: this.matrix(role), y, inDim, outDim, bias: biasRole ? this.biases.get(biasRole) : undefined, accumulate });
    const norm = (role: string) => k.rmsNorm.prepare({ step, x: a.x, weight: this.matrix(role), out: a.xn, dim: c.dim, eps: c.normEps });
    // Decode: gate, up and SwiGLU in one pass over both weights where the row length allows.
    const ffnIn = (l: number): Dispatch[] => {
      const r = (key: string) => `layers.${l}.${key}`;
      const fused = decode ? k.matvecSwiglu.prepare({ step, x: a.xn, gate: this.matrix(r("wGate")), up: this.matrix(r("wUp")), y: a.gate, inDim: c.dim, outDim: c.hiddenDim }) : null;
      return fused ? [fused] : [
        mm(r("wGate"), a.xn, a.gate, c.dim, c.hiddenDim, false),
        mm(r("wUp"), a.xn, a.up, c.dim, c.hiddenDim, false),
        k.swiglu.prepare({ step, gate: a.gate, up: a.up, width: c.hiddenDim }),
      ];
    };
    const layers: StepPlan["layers"] = [];
    const nrm = (role: string) => ({ weight: this.normsF32.get(role)!, eps: c.normEps });
    for (let l = 0; l < c.numLayers; l++) {
      const r = (key: string) => `layers.${l}.${key}`;
      const qkv = this.matrices.get(r("wqkv"));
      if (decode && qkv) {
        // Decode, fused: attention norm in the q/k/v matvec (one pass over the concatenated
        // weight, rows split into q, k, v), ffn norm in the gate/up/SwiGLU matvec.
        const glu = k.matvecSwiglu.prepare({ step, x: a.x, gate: this.matrix(r("wGate")), up: this.matrix(r("wUp")), y: a.gate, inDim: c.dim, outDim: c.hiddenDim, norm: nrm(r("ffnNorm")) });
        layers.push({
          pre: [
            k.matvec.prepare({ step, x: a.x, weight: qkv, y: a.q, inDim: c.dim, outDim: qDim + 2 * kvDim, bias: this.biases.get(r("bqkv")),
              norm: nrm(r("attnNorm")), split: { y2: a.k, y3: a.v, split1: qDim, split2: qDim + kvDim }, rope: { invFreq: a.invFreq, headSize: c.headSize } }),
          ],
          post: [
            mm(r("wo"), a.att, a.x, qDim, c.dim, true),
            ...(glu ? [glu] : [norm(r("ffnNorm")), ...ffnIn(l)]),
            mm(r("wDown"), a.gate, a.x, c.hiddenDim, c.dim, true),
          ],
        });
        continue;
      }
      layers.push({
        pre: [
          norm(r("attnNorm")),
          mm(r("wq"), a.xn, a.q, c.dim, qDim, false, r("bq")),
          mm(r("wk"), a.xn, a.k, c.dim, kvDim, false, r("bk")),
          mm(r("wv"), a.xn, a.v, c.dim, kvDim, false, r("bv")),
          k.rope.prepare({ step, x: a.q, invFreq: a.invFreq, heads: c.numQHeads, headSize: c.headSize, style: this.ropeStyle() }),
          k.rope.prepare({ step, x: a.k, invFreq: a.invFreq, heads: c.numKvHeads, headSize: c.headSize, style: this.ropeStyle() }),
        ],
        post: [
          mm(r("wo"), a.att, a.x, qDim, c.dim, true),
          norm(r("ffnNorm")),
          ...ffnIn(l),
          mm(r("wDown"), a.gate, a.x, c.hiddenDim, c.dim, true),
        ],
      });
    }
    return { embed: k.embed.prepare({ step, ids: a.tokens, table: this.matrix("embed"), out: a.x, dim: c.dim }), layers };
  }

  /** Final norm + classifier over x → logits (matvec for one row, matmul for many). */
  private head(step: GPUBuffer, x: GPUBuffer, xn: GPUBuffer, logits: GPUBuffer, oneRow: boolean): Dispatch[] {
    const c = this.config, k = this.kernels;
    return [
      k.rmsNorm.prepare({ step, x, weight: this.matrix("finalNorm"), out: xn, dim: c.dim, eps: c.normEps }),
      (oneRow ? k.matvec : k.matmul).prepare({ step, x: xn, weight: this.matrix(this.classifierRole), y: logits, inDim: c.dim, outDim: c.vocabSize }),
    ];
  }

  /**
   * Encodes and submits the chunk `tokens` (positions startPos..) of `seqId`, whose slots are
   * already reserved in `cache`; then waits on the one readback `out` asks for.
   * @param metric - false: skip the prefill metric for this chunk (not the prompt's last queries).
   */
  async run(cache: KvCache, seqId: number, tokens: ArrayLike<number>, startPos: number, out: ChunkOutput, metric = true): Promise<number | Float32Array | null> {
    const c = this.config, a = this.act, T = tokens.length;
    if (T < 1 || T > this.maxChunk) throw new InvalidArgumentError("tokens.length", T, `in [1, ${this.maxChunk}] (prefillChunkTokens)`);
    if (startPos + T > this.maxPositions) throw new InvalidArgumentError("position", startPos + T, `≤ maxContextTokens (${this.maxPositions})`);
    const q = this.device.queue;
    for (let i = 0; i < T; i++) this.tokenWords[i] = tokens[i]!;
    q.writeBuffer(a.tokens, 0, this.tokenWords, 0, T);
    const tok = out.kind === "token" ? out : null;
    writeStep(q, a.stepChunk, T, startPos, tok?.temperature ?? 0, tok?.topP ?? 1, tok?.temperature ? tok.r : 0, this.stepWords);
    const allRows = out.kind === "logits" && out.allRows;
    const plan = T === 1 ? this.decode : this.chunk;
    this.seqIds[0] = seqId;
    const options = metric ? METRIC_ON : METRIC_OFF;

    const enc = this.device.createCommandEncoder(STEP_ENCODER);
    if (T === 1 && !allRows && cache.isDecoding(seqId)) {
      // A decode step: one compute pass, the cache's append and attention inside it.
      const pass = enc.beginComputePass();
      this.encodeDecode(pass, cache, seqId, plan.embed);
      if (out.kind !== "none") {
        for (const d of this.headDecode) d.encode(pass, 1);
        if (tok) (tok.temperature === 0 ? this.argmax : this.sample).encode(pass, 1);
      }
      pass.end();
      return this.finishStep(enc, out);
    }
    let pass = enc.beginComputePass();
    plan.embed.encode(pass, T);
    for (let l = 0; l < c.numLayers; l++) {
      const lg = plan.layers[l]!;
      for (const d of lg.pre) d.encode(pass, T);
      pass.end();
      cache.encodeAppend(enc, l, seqId, a.k, a.v);
      cache.encodeAttention(enc, l, this.seqIds, a.q, a.att, options);
      pass = enc.beginComputePass();
      for (const d of lg.post) d.encode(pass, T);
    }
    let logits = a.logits1;
    if (allRows) {
      for (const d of this.allRowsHead()) d.encode(pass, T);
      logits = this.logitsAll!;
    } else if (out.kind !== "none") {
      if (T === 1) for (const d of this.headDecode) d.encode(pass, 1);
      else {
        pass.end();
        enc.copyBufferToBuffer(a.x, 4 * (T - 1) * c.dim, a.xLast, 0, 4 * c.dim);
        pass = enc.beginComputePass();
        for (const d of this.headChunk) d.encode(pass, 1);
      }
      if (tok) (tok.temperature === 0 ? this.argmax : this.sample).encode(pass, 1);
    }
    pass.end();
    let bytes = 0;
    if (tok) { bytes = 4; enc.copyBufferToBuffer(a.result, 0, a.readback, 0, 4); }
    else if (out.kind === "logits" && !allRows) { bytes = 4 * c.vocabSize; enc.copyBufferToBuffer(logits, 0, a.readback, 0, bytes); }
    let big: GPUBuffer | null = null;
    if (allRows) {
      bytes = 4 * T * c.vocabSize;
      big = this.device.createBuffer({ label: "engine-readback-all", size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      enc.copyBufferToBuffer(logits, 0, big, 0, bytes);
    }
    q.submit([enc.finish()]);
    if (bytes === 0) return null;
    const rb = big ?? a.readback;
    await rb.mapAsync(GPUMapMode.READ, 0, bytes);
    if (tok) {
      const id = new Uint32Array(rb.getMappedRange(0, 4))[0]!;
      rb.unmap();
      return id;
    }
    const copy = rb.getMappedRange(0, bytes).slice(0);
    rb.unmap();
    big?.destroy();
    return new Float32Array(copy);
  }

  /** @internal What a batched decode (src/engine/gpuBatch.ts) prepares its own dispatches from:
   *  the kernels, the weights, the RoPE table. Valid after finish(). */
  shared(): GpuForwardShared {
    return { kernels: this.kernels, matrix: (role) => this.matrix(role), matrixOrNull: (role) => this.matrices.get(role) ?? null, bias: (role) => this.biases.get(role), invFreq: this.act.invFreq, classifierRole: this.classifierRole, ropeStyle: this.ropeStyle() };
  }

  /** Every layer of a one-token step into `pass`, after `embed` (from host ids or the device's last id). */
  private encodeDecode(pass: GPUComputePassEncoder, cache: KvCache, seqId: number, embed: Dispatch): void {
    const a = this.act, layers = this.decode.layers;
    embed.encode(pass, 1);
    for (let l = 0; l < layers.length; l++) {
      const lg = layers[l]!;
      for (const d of lg.pre) d.encode(pass, 1);
      cache.encodeDecodeStep(pass, l, seqId, a.k, a.v, a.q, a.att);
      for (const d of lg.post) d.encode(pass, 1);
    }
  }

  /** Copies a one-token step's id or logits out, submits, and waits on that one readback. */
  private async finishStep(enc: GPUCommandEncoder, out: ChunkOutput): Promise<number | Float32Array | null> {
    const a = this.act, bytes = out.kind === "token" ? 4 : out.kind === "logits" ? 4 * this.config.vocabSize : 0;
    if (bytes) enc.copyBufferToBuffer(out.kind === "token" ? a.result : a.logits1, 0, a.readback, 0, bytes);
    this.device.queue.submit([enc.finish()]);
    if (bytes === 0) return null;
    await a.readback.mapAsync(GPUMapMode.READ, 0, bytes);
    if (out.kind === "token") {
      const id = new Uint32Array(a.readback.getMappedRange(0, 4))[0]!;
      a.readback.unmap();
      return id;
    }
    const copy = a.readback.getMappedRange(0, bytes).slice(0);
    a.readback.unmap();
    return new Float32Array(copy);
  }

  /**
   * Pipelined decode: encodes and submits one decode step of `seqId` at `pos` (its slot already
   * reserved in `cache`) whose input is the id the device sampled last (the previous step's or
   * the prompt's, still in `result`), without waiting; `id` resolves to the id this step samples.
   * The caller may submit the next step before awaiting it: the id never visits the host first.
   * Steps read back through four buffers in turn: at most three may be in flight unread.
   */
  submitDecode(cache: KvCache, seqId: number, pos: number, temperature: number, topP: number, r: number): { id: Promise<number> } {
    if (pos + 1 > this.maxPositions) throw new InvalidArgumentError("position", pos + 1, `≤ maxContextTokens (${this.maxPositions})`);
    const a = this.act, q = this.device.queue;
    writeStep(q, a.stepChunk, 1, pos, temperature, topP, r, this.stepWords);
    const enc = this.device.createCommandEncoder(STEP_ENCODER);
    const pass = enc.beginComputePass();
    this.encodeDecode(pass, cache, seqId, this.embedFromDevice);
    for (const d of this.headDecode) d.encode(pass, 1);
    (temperature === 0 ? this.argmax : this.sample).encode(pass, 1);
    pass.end();
    const rb = this.tokenReadbacks[this.nextReadback]!;
    this.nextReadback = (this.nextReadback + 1) % this.tokenReadbacks.length;
    enc.copyBufferToBuffer(a.result, 0, rb, 0, 4);
    q.submit([enc.finish()]);
    return {
      id: rb.mapAsync(GPUMapMode.READ, 0, 4).then(() => {
        const id = new Uint32Array(rb.getMappedRange(0, 4))[0]!;
        rb.unmap();
        return id;
      }),
    };
  }

  destroy(): void {
    for (const b of this.owned) b.destroy();
    this.owned.length = 0;
    this.kernels?.destroy();
  }

  /** The head over every row of a chunk (the evaluator's all-logits path), prepared on first use. */
  private allRowsHead(): Dispatch[] {
    if (!this.headAll) {
      const a = this.act;
      this.logitsAll = this.buffer("logits-all", 4 * this.maxChunk * this.config.vocabSize, STORAGE_RW());
      this.headAll = this.head(a.stepChunk, a.x, a.xn, this.logitsAll, false);
    }
    return this.headAll;
  }

  private matrix(role: string): DeviceTensor {
    const m = this.matrices.get(role);
    if (!m) throw new ModelFormatError(role, "tensor was never uploaded");
    return m;
  }

  private buffer(label: string, size: number, usage: number): GPUBuffer {
    const b = this.device.createBuffer({ label: `engine-${label}`, size: Math.max(16, Math.ceil(size / 16) * 16), usage });
    this.owned.push(b);
    return b;
  }
}

const STEP_ENCODER = { label: "engine-step" } as const;
const METRIC_ON = { metric: true } as const;
const METRIC_OFF = { metric: false } as const;

/** Rows [n, rowBytes / elemBytes] of heads of size d: within each head, row j → 2j and row
 *  j + d/2 → 2j + 1 (rotate-half pairs as interleaved ones). A copy; elemBytes·cols = rowBytes. */
function permuteHalves(bytes: Uint8Array, n: number, rowBytes: number, d: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n * rowBytes), half = d / 2;
  for (let r = 0; r < n; r++) {
    const h = Math.floor(r / d), j = r % d;
    const to = h * d + (j < half ? 2 * j : 2 * (j - half) + 1);
    out.set(bytes.subarray(r * rowBytes, (r + 1) * rowBytes), to * rowBytes);
  }
  return out;
}

/** A small tensor (a bias) as f32. */
function widen(t: RawTensor): Float32Array<ArrayBuffer> {
  const n = t.shape.reduce((x, y) => x * y, 1);
  const out = new Float32Array(n);
  const view = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  const bits = new Uint32Array(1), asF32 = new Float32Array(bits.buffer);
  for (let i = 0; i < n; i++) {
    if (t.dtype === "f32") out[i] = view.getFloat32(4 * i, true);
    else if (t.dtype === "bf16") { bits[0] = view.getUint16(2 * i, true) << 16; out[i] = asF32[0]!; }
    else out[i] = halfToFloat(view.getUint16(2 * i, true));
  }
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1, e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m === 0 ? sign * Infinity : NaN;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}
