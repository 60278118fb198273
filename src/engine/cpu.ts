// The CPU forward pass: weights in wasm memory in their stored dtype (the cpu dense kernels,
// src/cpu/dense.ts: W·x, RMSNorm, SwiGLU, embedding in wasm SIMD), RoPE in TypeScript, attention
// through the CPU KvCache's typed-array path (CachedSequence), as LlamaModel.forward does in
// plain TypeScript on f32 copies (the straight-loop reference the tests compare against).
import type { CpuDense, DenseBuffer, DenseTensor } from "../cpu/dense";
import { InvalidArgumentError, ModelFormatError } from "../errors";
import type { AttentionCache } from "../model/attention";
import type { LlamaConfig } from "../model/llama";
import { applyRope, ropeInvFrequencies } from "../model/rope";
import type { RawTensor } from "./weights";

interface Acts { rows: number; x: DenseBuffer; xn: DenseBuffer; q: DenseBuffer; k: DenseBuffer; v: DenseBuffer; att: DenseBuffer; gate: DenseBuffer; up: DenseBuffer }

export class CpuForward {
  private readonly tensors = new Map<string, DenseTensor>();
  private readonly invFreq: Float64Array;
  private acts: Acts | null = null;
  private classifier = "embed";
  weightBytes = 0;

  constructor(private readonly dense: CpuDense, readonly config: Readonly<LlamaConfig>) {
    this.invFreq = ropeInvFrequencies(config.headSize, config.ropeTheta, config.ropeScaling);
  }

  /** Receives one tensor from the loader: copied once into wasm memory, in its dtype. */
  upload(t: RawTensor): void {
    this.tensors.set(t.role, this.dense.uploadTensor({ dtype: t.dtype, shape: t.shape, bytes: t.bytes, name: t.role }));
    this.weightBytes += t.bytes.byteLength;
  }

  finish(tied: boolean): void {
    this.classifier = tied ? "embed" : "classifier";
  }

  /** Runs `tokens` through the decoder over `cache` (appending and committing their K/V). */
  async forward(tokens: readonly number[], cache: AttentionCache, allLogits: boolean): Promise<Float32Array> {
    const c = this.config, n = tokens.length, d = this.dense;
    const qDim = c.numQHeads * c.headSize, kvDim = c.numKvHeads * c.headSize;
    const a = this.activations(n);
    const startPos = cache.seqLen;
    const w = (role: string) => {
      const t = this.tensors.get(role);
      if (!t) throw new ModelFormatError(role, "tensor was never uploaded");
      return t;
    };
    for (const id of tokens) if (!(id >= 0 && id < c.vocabSize)) throw new InvalidArgumentError("token id", id, `an integer in [0, ${c.vocabSize})`);
    d.embed(w("embed"), tokens, a.x);
    for (let l = 0; l < c.numLayers; l++) {
      const r = (k: string) => `layers.${l}.${k}`;
      d.rmsNorm(a.x, w(r("attnNorm")), n, a.xn, c.normEps);
      d.matmul(w(r("wq")), a.xn, n, a.q, { bias: this.tensors.get(r("bq")) });
      d.matmul(w(r("wk")), a.xn, n, a.k, { bias: this.tensors.get(r("bk")) });
      d.matmul(w(r("wv")), a.xn, n, a.v, { bias: this.tensors.get(r("bv")) });
      // Views are taken after the last dense call that could grow memory (none below allocates).
      const q = a.q.view().subarray(0, n * qDim), k = a.k.view().subarray(0, n * kvDim);
      applyRope(q, n, c.numQHeads, c.headSize, startPos, this.invFreq, c.ropeStyle);
      applyRope(k, n, c.numKvHeads, c.headSize, startPos, this.invFreq, c.ropeStyle);
      // The KV cache lives in another wasm instance: copies, since its calls may grow its memory, not ours.
      await cache.append(l, k.slice(), a.v.view().slice(0, n * kvDim), n);
      const att = await cache.attend(l, q.slice(), n);
      a.att.view().set(att);
      d.matmul(w(r("wo")), a.att, n, a.x, { accumulate: true });
      d.rmsNorm(a.x, w(r("ffnNorm")), n, a.xn, c.normEps);
      d.matmul(w(r("wGate")), a.xn, n, a.gate);
      d.matmul(w(r("wUp")), a.xn, n, a.up);
      d.swiglu(a.gate, a.up, a.gate, n * c.hiddenDim);
      d.matmul(w(r("wDown")), a.gate, n, a.x, { accumulate: true });
    }
    await cache.commit(n);
    const rows = allLogits ? n : 1;
    const last = a.x.view().slice((n - rows) * c.dim, n * c.dim);
    const xn = new Float32Array(rows * c.dim);
    d.rmsNorm(last, w("finalNorm"), rows, xn, c.normEps);
    const logits = new Float32Array(rows * c.vocabSize);
    d.matmul(w(this.classifier), xn, rows, logits);
    return logits;
  }

  /** Activation regions for n rows; grown by doubling (wasm regions are never given back). */
  private activations(n: number): Acts {
    if (this.acts && this.acts.rows >= n) return this.acts;
    const c = this.config, rows = Math.max(n, 2 * (this.acts?.rows ?? 16));
    const qDim = c.numQHeads * c.headSize, kvDim = c.numKvHeads * c.headSize, d = this.dense;
    this.acts = {
      rows, x: d.alloc(rows * c.dim), xn: d.alloc(rows * c.dim), q: d.alloc(rows * qDim), k: d.alloc(rows * kvDim),
      v: d.alloc(rows * kvDim), att: d.alloc(rows * qDim), gate: d.alloc(rows * c.hiddenDim), up: d.alloc(rows * c.hiddenDim),
    };
    return this.acts;
  }
}
