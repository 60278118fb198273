// The GPU forward pass: weights on the device in their stored precision, every dense layer a
// WGSL dispatch, attention through the KvCache's GPU-buffer path (encodeAppend/encodeAttention).
// A chunk (a prefill chunk or one decode token) is encoded into one command buffer whose only
// readback is the sampled token id (or, when asked, the logits rows).
import type { KvCache } from "../cache";
import { InvalidArgumentError, LimitTooLowError, ModelFormatError } from "../errors";
import type { LlamaConfig } from "../model/llama";
import { ropeInvFrequencies } from "../model/rope";
import type { RawTensor } from "./weights";
import { ARGMAX_WGSL, RMSNORM_WGSL, ROPE_WGSL, SWIGLU_WGSL, type WeightDtype, embedWgsl, matmulWgsl } from "./wgsl";

/** A matrix [rows, cols] on the device, split by rows into bindings of at most maxStorageBufferBindingSize. */
interface DeviceMatrix {
  dtype: WeightDtype;
  rows: number;
  cols: number;
  parts: { buffer: GPUBuffer; rowStart: number; rows: number }[];
}

/** What the caller wants out of a chunk. */
export type ChunkOutput = { kind: "token" } | { kind: "logits"; allRows: boolean } | { kind: "none" };

const STORAGE_DST = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
const STORAGE_RW = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

export class GpuForward {
  private readonly matrices = new Map<string, DeviceMatrix>();
  private readonly vectors = new Map<string, GPUBuffer>();
  private readonly owned: GPUBuffer[] = [];
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly maxBinding: number;
  /** Activations for up to maxChunk rows. */
  private act!: { tokens: GPUBuffer; x: GPUBuffer; xn: GPUBuffer; q: GPUBuffer; k: GPUBuffer; v: GPUBuffer; att: GPUBuffer; gate: GPUBuffer; up: GPUBuffer; logits1: GPUBuffer; result: GPUBuffer; readback: GPUBuffer; stepAll: GPUBuffer; stepHead: GPUBuffer; rope: GPUBuffer; dummy: GPUBuffer };
  private logitsAll: GPUBuffer | null = null;
  private layerGroups: { pre: [GPUComputePipeline, GPUBindGroup, [number, number]][]; post: [GPUComputePipeline, GPUBindGroup, [number, number]][] }[] = [];
  private embedGroups: [GPUComputePipeline, GPUBindGroup, number][] = [];
  private headGroups = new Map<string, [GPUComputePipeline, GPUBindGroup, [number, number]][]>();
  private argmaxGroup!: GPUBindGroup;
  /** Bytes of weights held on the device. */
  weightBytes = 0;

  constructor(readonly device: GPUDevice, readonly config: Readonly<LlamaConfig>, readonly maxChunk: number, readonly maxPositions: number) {
    this.maxBinding = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  }

  /** Receives one tensor from the loader: uploads it (split by rows if needed); the bytes can go. */
  upload(t: RawTensor): void {
    const isVector = t.shape.length === 1;
    if (isVector) {
      // Norm weights and biases are a few KB: kept f32 so their kernels need no dtype variants.
      const f32 = widen(t);
      const b = this.buffer(`w-${t.role}`, f32.byteLength, STORAGE_DST());
      this.device.queue.writeBuffer(b, 0, f32);
      this.vectors.set(t.role, b);
      this.weightBytes += f32.byteLength;
      return;
    }
    const [rows, cols] = t.shape as [number, number];
    if (t.dtype !== "f32" && cols % 2 !== 0) throw new ModelFormatError(t.role, `16-bit tensors need an even row length to pack in pairs, got ${cols}`);
    const rowBytes = cols * (t.dtype === "f32" ? 4 : 2);
    const rowsPerPart = Math.floor(this.maxBinding / rowBytes);
    if (rowsPerPart < 1) throw new LimitTooLowError("maxStorageBufferBindingSize", rowBytes, this.maxBinding);
    const m: DeviceMatrix = { dtype: t.dtype, rows, cols, parts: [] };
    for (let r = 0; r < rows; r += rowsPerPart) {
      const n = Math.min(rowsPerPart, rows - r);
      const bytes = t.bytes.subarray(r * rowBytes, (r + n) * rowBytes);
      const b = this.buffer(`w-${t.role}-${r}`, bytes.byteLength, STORAGE_DST());
      writeBytes(this.device, b, bytes);
      m.parts.push({ buffer: b, rowStart: r, rows: n });
    }
    this.matrices.set(t.role, m);
    this.weightBytes += rows * rowBytes;
  }

  /** After the last tensor: builds pipelines, activations and every bind group once. */
  async finish(tied: boolean): Promise<void> {
    const c = this.config, T = this.maxChunk;
    const qDim = c.numQHeads * c.headSize, kvDim = c.numKvHeads * c.headSize;
    const f = 4;
    const u = () => GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;
    this.act = {
      tokens: this.buffer("tokens", 4 * T, STORAGE_DST()),
      x: this.buffer("x", f * T * c.dim, STORAGE_RW()), xn: this.buffer("xn", f * T * c.dim, STORAGE_RW()),
      q: this.buffer("q", f * T * qDim, STORAGE_RW()), k: this.buffer("k", f * T * kvDim, STORAGE_RW()),
      v: this.buffer("v", f * T * kvDim, STORAGE_RW()), att: this.buffer("att", f * T * qDim, STORAGE_RW()),
      gate: this.buffer("gate", f * T * c.hiddenDim, STORAGE_RW()), up: this.buffer("up", f * T * c.hiddenDim, STORAGE_RW()),
      logits1: this.buffer("logits", f * c.vocabSize, STORAGE_RW()), result: this.buffer("result", 16, STORAGE_RW()),
      readback: this.device.createBuffer({ label: "engine-readback", size: Math.max(16, f * c.vocabSize), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
      stepAll: this.buffer("step-all", 16, u()), stepHead: this.buffer("step-head", 16, u()),
      rope: this.buffer("rope", 8 * this.maxPositions * (c.headSize / 2), STORAGE_DST()),
      dummy: this.buffer("dummy", 16, STORAGE_DST()),
    };
    this.owned.push(this.act.readback);
    this.device.queue.writeBuffer(this.act.rope, 0, ropeTable(c, this.maxPositions));

    const kinds = new Set([...this.matrices.values()].map((m) => m.dtype));
    const build = async (key: string, code: string) => {
      const module = this.device.createShaderModule({ label: `engine-${key}`, code });
      this.pipelines.set(key, await this.device.createComputePipelineAsync({ label: `engine-${key}`, layout: "auto", compute: { module, entryPoint: "main" } }));
    };
    await Promise.all([
      ...[...kinds].flatMap((d) => [build(`mm-${d}`, matmulWgsl(d)), build(`embed-${d}`, embedWgsl(d))]),
      build("rmsnorm", RMSNORM_WGSL), build("rope", ROPE_WGSL), build("swiglu", SWIGLU_WGSL), build("argmax", ARGMAX_WGSL),
    ]);

    const a = this.act;
    const embed = this.matrices.get("embed")!;
    for (const p of embed.parts) {
      const pl = this.pipelines.get(`embed-${embed.dtype}`)!;
      this.embedGroups.push([pl, this.group(pl, [a.stepAll, this.uniform([c.dim, p.rowStart, p.rows, 0]), a.tokens, p.buffer, a.x]), Math.ceil(c.dim / 64)]);
    }
    const norm = (step: GPUBuffer, x: GPUBuffer, w: GPUBuffer, out: GPUBuffer): [GPUComputePipeline, GPUBindGroup, [number, number]] => {
      const pl = this.pipelines.get("rmsnorm")!;
      const un = new ArrayBuffer(16);
      new Uint32Array(un)[0] = c.dim;
      new Float32Array(un)[1] = c.normEps;
      return [pl, this.group(pl, [step, this.uniform(un), x, w, out]), [-1, 1]];
    };
    const rope = (x: GPUBuffer, heads: number): [GPUComputePipeline, GPUBindGroup, [number, number]] => {
      const pl = this.pipelines.get("rope")!;
      return [pl, this.group(pl, [a.stepAll, this.uniform([heads, c.headSize, c.ropeStyle === "interleaved" ? 0 : 1, 0]), a.rope, x]), [Math.ceil((heads * c.headSize / 2) / 64), -1]];
    };
    for (let l = 0; l < c.numLayers; l++) {
      const r = (k: string) => `layers.${l}.${k}`;
      const pre = [
        norm(a.stepAll, a.x, this.vectors.get(r("attnNorm"))!, a.xn),
        ...this.mm(a.stepAll, r("wq"), a.xn, a.q, this.vectors.get(r("bq")), false, qDim),
        ...this.mm(a.stepAll, r("wk"), a.xn, a.k, this.vectors.get(r("bk")), false, kvDim),
        ...this.mm(a.stepAll, r("wv"), a.xn, a.v, this.vectors.get(r("bv")), false, kvDim),
        rope(a.q, c.numQHeads), rope(a.k, c.numKvHeads),
      ];
      const sw = this.pipelines.get("swiglu")!;
      const post = [
        ...this.mm(a.stepAll, r("wo"), a.att, a.x, undefined, true, c.dim),
        norm(a.stepAll, a.x, this.vectors.get(r("ffnNorm"))!, a.xn),
        ...this.mm(a.stepAll, r("wGate"), a.xn, a.gate, undefined, false, c.hiddenDim),
        ...this.mm(a.stepAll, r("wUp"), a.xn, a.up, undefined, false, c.hiddenDim),
        [sw, this.group(sw, [a.stepAll, this.uniform([c.hiddenDim, 0, 0, 0]), a.up, a.gate]), [Math.ceil(c.hiddenDim / 64), -1]] as [GPUComputePipeline, GPUBindGroup, [number, number]],
        ...this.mm(a.stepAll, r("wDown"), a.gate, a.x, undefined, true, c.dim),
      ];
      this.layerGroups.push({ pre, post });
    }
    this.classifierRole = tied ? "embed" : "classifier";
    this.headGroups.set("one", [norm(a.stepHead, a.x, this.vectors.get("finalNorm")!, a.xn), ...this.mm(a.stepHead, this.classifierRole, a.xn, a.logits1, undefined, false, c.vocabSize)]);
    const am = this.pipelines.get("argmax")!;
    this.argmaxGroup = this.group(am, [this.uniform([c.vocabSize, 0, 0, 0]), a.logits1, a.result]);
  }
  private classifierRole = "embed";

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
    q.writeBuffer(a.tokens, 0, Uint32Array.from(tokens));
    const allRows = out.kind === "logits" && out.allRows;
    q.writeBuffer(a.stepAll, 0, new Uint32Array([T, startPos, 0, 0]));
    q.writeBuffer(a.stepHead, 0, new Uint32Array([T, startPos, allRows ? 0 : T - 1, 0]));
    const headRows = allRows ? T : 1;
    let head = this.headGroups.get("one")!;
    let logits = a.logits1;
    if (allRows) {
      if (!this.logitsAll) {
        this.logitsAll = this.buffer("logits-all", 4 * this.maxChunk * c.vocabSize, STORAGE_RW());
        this.headGroups.set("all", [head[0]!, ...this.mm(a.stepHead, this.classifierRole, a.xn, this.logitsAll, undefined, false, c.vocabSize)]);
      }
      head = this.headGroups.get("all")!;
      logits = this.logitsAll;
    }
    const enc = this.device.createCommandEncoder({ label: "engine-step" });
    let pass = enc.beginComputePass();
    for (const [pl, g, gx] of this.embedGroups) { pass.setPipeline(pl); pass.setBindGroup(0, g); pass.dispatchWorkgroups(gx, T); }
    const dispatchAll = (list: [GPUComputePipeline, GPUBindGroup, [number, number]][], rows: number) => {
      for (const [pl, g, [x, y]] of list) {
        pass.setPipeline(pl);
        pass.setBindGroup(0, g);
        pass.dispatchWorkgroups(x === -1 ? rows : x, y === -1 ? T : y);
      }
    };
    for (let l = 0; l < c.numLayers; l++) {
      const lg = this.layerGroups[l]!;
      dispatchAll(lg.pre, T);
      pass.end();
      cache.encodeAppend(enc, l, seqId, a.k, a.v);
      cache.encodeAttention(enc, l, [seqId], a.q, a.att, { metric });
      pass = enc.beginComputePass();
      dispatchAll(lg.post, T);
    }
    if (out.kind !== "none") dispatchAll(head, headRows);
    if (out.kind === "token") {
      pass.setPipeline(this.pipelines.get("argmax")!);
      pass.setBindGroup(0, this.argmaxGroup);
      pass.dispatchWorkgroups(1);
    }
    pass.end();
    let bytes = 0;
    if (out.kind === "token") { bytes = 4; enc.copyBufferToBuffer(a.result, 0, a.readback, 0, 4); }
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
    const copy = rb.getMappedRange(0, bytes).slice(0);
    rb.unmap();
    big?.destroy();
    return out.kind === "token" ? new Uint32Array(copy)[0]! : new Float32Array(copy);
  }

  destroy(): void {
    for (const b of this.owned) b.destroy();
    this.owned.length = 0;
  }

  /** Dispatch entries of out (+)= W·x (+ bias), one per row part of W. */
  private mm(step: GPUBuffer, role: string, x: GPUBuffer, out: GPUBuffer, bias: GPUBuffer | undefined, accumulate: boolean, outStride: number): [GPUComputePipeline, GPUBindGroup, [number, number]][] {
    const m = this.matrices.get(role);
    if (!m) throw new ModelFormatError(role, "tensor was never uploaded");
    const pl = this.pipelines.get(`mm-${m.dtype}`)!;
    return m.parts.map((p) => {
      const gridX = Math.min(p.rows, 32768), gridY = Math.ceil(p.rows / gridX);
      const flags = (bias ? 1 : 0) | (accumulate ? 2 : 0);
      const uni = this.uniform([m.cols, p.rowStart, p.rows, outStride, flags, gridX, 0, 0]);
      return [pl, this.group(pl, [step, uni, x, p.buffer, bias ?? this.act.dummy, out]), [gridX, gridY]];
    });
  }

  private group(pl: GPUComputePipeline, buffers: GPUBuffer[]): GPUBindGroup {
    return this.device.createBindGroup({ layout: pl.getBindGroupLayout(0), entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })) });
  }

  private uniform(data: number[] | ArrayBuffer): GPUBuffer {
    const words = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(Uint32Array.from(data).buffer);
    const b = this.buffer("uniform", Math.max(16, words.byteLength), GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    this.device.queue.writeBuffer(b, 0, words);
    return b;
  }

  private buffer(label: string, size: number, usage: number): GPUBuffer {
    const b = this.device.createBuffer({ label: `engine-${label}`, size: Math.max(16, Math.ceil(size / 16) * 16), usage });
    this.owned.push(b);
    return b;
  }
}

/** writeBuffer needs a 4-byte multiple; a tail of 2 bytes (odd number of 16-bit weights) is padded. */
function writeBytes(device: GPUDevice, b: GPUBuffer, bytes: Uint8Array): void {
  if (bytes.byteLength % 4 === 0 && bytes.byteOffset % 4 === 0) {
    device.queue.writeBuffer(b, 0, bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return;
  }
  const copy = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
  copy.set(bytes);
  device.queue.writeBuffer(b, 0, copy);
}

/** A small tensor (norm weight, bias) as f32. */
function widen(t: RawTensor): Float32Array<ArrayBuffer> {
  const n = t.shape.reduce((x, y) => x * y, 1);
  const out = new Float32Array(n);
  const view = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  for (let i = 0; i < n; i++) {
    if (t.dtype === "f32") out[i] = view.getFloat32(4 * i, true);
    else if (t.dtype === "bf16") out[i] = new Float32Array(new Uint32Array([view.getUint16(2 * i, true) << 16]).buffer)[0]!;
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

/** cos/sin of pos · invFreq[j] for every position, angles in f64 (as the reference's applyRope). */
function ropeTable(c: LlamaConfig, maxPositions: number): Float32Array<ArrayBuffer> {
  const inv = ropeInvFrequencies(c.headSize, c.ropeTheta, c.ropeScaling);
  const half = c.headSize / 2;
  const out = new Float32Array(2 * maxPositions * half);
  for (let p = 0; p < maxPositions; p++) for (let j = 0; j < half; j++) {
    const angle = p * inv[j]!;
    out[2 * (p * half + j)] = Math.cos(angle);
    out[2 * (p * half + j) + 1] = Math.sin(angle);
  }
  return out;
}
