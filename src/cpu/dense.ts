// dense.ts — the CPU backend's dense layers (issue 13): the weights of a Llama-family model
// stay in their stored dtype (f32, f16, bf16) in wasm linear memory, uploaded ONCE, and the
// W·x / RMSNorm / SwiGLU / embedding math runs in wasm SIMD (assembly/cpu/dense.ts).
// RoPE stays in TypeScript (src/model/rope.ts).
//
// ── API (stable; list any change under API CHANGES) ─────────────────────────────────────
//   createCpuDense(options: CpuDenseOptions): Promise<CpuDense>
//     options.wasm: cpu.wasm bytes (a fresh instance) or the exports of a live cpu.wasm
//       instance (tensors then share its memory with the KV pool; both take regions from the
//       top of memory, so either order works).
//   dense.uploadTensor({ dtype: "f32"|"f16"|"bf16", shape: number[], bytes: Uint8Array, name? })
//     → DenseTensor   copies the stored bytes once (no widening); never freed (top-of-memory
//                     regions cannot be given back), so upload a model once per instance.
//   dense.alloc(floats) → DenseBuffer   an f32 activation region in wasm memory;
//     buf.view() is a Float32Array over it, re-derived after memory growth (never keep a view
//     across a dense.* call that may allocate: uploadTensor, alloc, and calls given plain
//     Float32Arrays larger than before).
//   Activation arguments (x, out, gate, up) are a DenseBuffer (used in place, no copy) or a
//   Float32Array (staged into wasm memory and, for outputs, copied back).
//   dense.matmul(w, x, n, out, { bias?: DenseTensor, accumulate?: boolean })
//     out[t, o] (+)= Σ_i w[o, i]·x[t, i] + bias[o]; w [outDim, inDim]; x ≥ n·inDim floats,
//     out ≥ n·outDim floats; accumulate adds into out (residual). x and out must not overlap.
//   dense.rmsNorm(x, weight, n, out, eps, { addOne? })  out[t] = x[t]/rms(x[t])·(weight + addOne)
//     weight [dim]; out may be x.
//   dense.swiglu(gate, up, out, count)   out = silu(gate)·up; out may be gate or up.
//   dense.embed(table, ids, out)   out[k] = f32(table[ids[k]]); table [vocab, dim].
//   dense.memoryBytes()   current wasm memory size; dense.exports   the raw wasm exports.
// Errors: InvalidArgumentError naming the field and bound for any size/shape/dtype misuse;
// WasmMemoryLimitError when wasm memory cannot grow (4 GiB wasm32 cap or runtime refusal).
//
// API CHANGES: (none yet)
import { InvalidArgumentError, KvCompressError, WasmMemoryLimitError } from "../errors";
import { makeAbort } from "../control/wasmMemory";

export type DenseDtype = "f32" | "f16" | "bf16";

/** The dense kernels' wasm ABI (assembly/cpu/dense.ts), part of cpu.wasm's exports. */
export interface CpuDenseExports {
  memory: WebAssembly.Memory;
  cpuDenseAlloc(bytes: number): number;
  cpuDenseAllocError(): number;
  cpuDenseMatmul(w: number, dt: number, inDim: number, outDim: number, x: number, n: number, out: number,
    bias: number, biasDt: number, acc: number): number;
  cpuDenseHalvesFinite(p: number, n: number): number;
  cpuDenseRmsNorm(x: number, weight: number, dt: number, n: number, dim: number, eps: number, out: number, addOne: number): void;
  cpuDenseSwiglu(gate: number, up: number, out: number, count: number): void;
  cpuDenseEmbed(table: number, dt: number, dim: number, ids: number, count: number, out: number): void;
  cpuStreamRead(p: number, bytes: number): number;
}

export interface CpuDenseOptions {
  /** cpu.wasm bytes (`kvcompress:wasm/cpu`) or the exports of an existing cpu.wasm instance. */
  wasm: Uint8Array | CpuDenseExports;
}

export interface UploadTensorArgs {
  dtype: DenseDtype;
  /** Row-major; a weight matrix is [outDim, inDim], a norm weight / bias [dim]. */
  shape: readonly number[];
  /** The stored little-endian bytes, exactly prod(shape)·(4 or 2) of them. */
  bytes: Uint8Array;
  /** For error messages only. */
  name?: string;
}

/** A tensor resident in wasm memory (immutable after upload). */
export interface DenseTensor {
  readonly dtype: DenseDtype;
  readonly shape: readonly number[];
  readonly name: string;
  /** Byte offset in wasm memory. */
  readonly ptr: number;
  readonly byteLength: number;
  /** Wasm dtype code (f16 tensors with no inf/NaN get the faster finite code). */
  readonly code: number;
}

/** An f32 activation region in wasm memory. */
export interface DenseBuffer {
  readonly ptr: number;
  readonly length: number;
  /** A Float32Array over the region for the current memory buffer. */
  view(): Float32Array;
}

export type Activation = DenseBuffer | Float32Array;

export interface MatmulOptions {
  bias?: DenseTensor;
  /** Add W·x (+ bias) into out instead of overwriting it (residual stream). */
  accumulate?: boolean;
}

export interface CpuDense {
  readonly exports: CpuDenseExports;
  uploadTensor(args: UploadTensorArgs): DenseTensor;
  alloc(floats: number): DenseBuffer;
  matmul(w: DenseTensor, x: Activation, n: number, out: Activation, options?: MatmulOptions): void;
  rmsNorm(x: Activation, weight: DenseTensor, n: number, out: Activation, eps: number, options?: { addOne?: boolean }): void;
  swiglu(gate: Activation, up: Activation, out: Activation, count: number): void;
  embed(table: DenseTensor, ids: ArrayLike<number>, out: Activation): void;
  memoryBytes(): number;
}

const DT_F32 = 0, DT_F16 = 1, DT_BF16 = 2, DT_F16_FINITE = 3;
const ESIZE: Record<DenseDtype, number> = { f32: 4, f16: 2, bf16: 2 };

/**
 * Instantiates (or attaches to) cpu.wasm for the dense kernels.
 * @throws KvCompressError when the wasm has no dense exports (not a current cpu.wasm).
 */
export async function createCpuDense(options: CpuDenseOptions): Promise<CpuDense> {
  const src = options?.wasm;
  let ex: CpuDenseExports;
  if (src instanceof Uint8Array) {
    let memory: WebAssembly.Memory | undefined;
    const { instance } = await WebAssembly.instantiate(src as BufferSource, { env: { abort: makeAbort(() => memory) } });
    ex = instance.exports as unknown as CpuDenseExports;
    memory = ex.memory;
  } else if (src !== undefined && src !== null && typeof src === "object") {
    ex = src;
  } else {
    throw new InvalidArgumentError("options.wasm", src, "cpu.wasm bytes or a cpu.wasm instance's exports");
  }
  if (typeof ex.cpuDenseMatmul !== "function") throw new KvCompressError("createCpuDense: the wasm is not a cpu.wasm with the dense kernels (no cpuDenseMatmul export)");
  return new DenseImpl(ex);
}

function checkCount(field: string, v: number, bound = "a positive integer"): void {
  if (!Number.isInteger(v) || v <= 0) throw new InvalidArgumentError(field, v, bound);
}

class DenseImpl implements CpuDense {
  /** Staging regions for plain Float32Array arguments, one per argument slot. */
  private stage: { ptr: number; floats: number }[] = [];
  private idsStage = { ptr: 0, ints: 0 };

  constructor(readonly exports: CpuDenseExports) {}

  memoryBytes(): number { return this.exports.memory.buffer.byteLength; }

  /** Bump arena for small regions (norm weights, biases, staging): wasm regions are whole 64 KiB pages. */
  private arena = { ptr: 0, left: 0 };

  private allocBytes(bytes: number): number {
    if (bytes <= 8192) {
      const need = (Math.max(bytes, 1) + 15) & ~15; // 16-B aligned for v128 loads
      if (this.arena.left < need) this.arena = { ptr: this.allocPages(1 << 16), left: 1 << 16 };
      const p = this.arena.ptr;
      this.arena.ptr += need; this.arena.left -= need;
      return p;
    }
    return this.allocPages(bytes);
  }

  private allocPages(bytes: number): number {
    const p = this.exports.cpuDenseAlloc(Math.max(bytes, 1));
    if (p === 0) {
      const have = this.memoryBytes();
      throw new WasmMemoryLimitError(have + bytes, this.exports.cpuDenseAllocError() === 1 ? 2 ** 32 : have);
    }
    return p >>> 0;
  }

  uploadTensor(args: UploadTensorArgs): DenseTensor {
    const name = args.name ?? "tensor";
    const es = ESIZE[args.dtype];
    if (es === undefined) throw new InvalidArgumentError("dtype", args.dtype, "one of f32, f16, bf16");
    if (!Array.isArray(args.shape) && !ArrayBuffer.isView(args.shape)) throw new InvalidArgumentError("shape", args.shape, "an array of dimensions");
    let count = 1;
    for (const d of args.shape) {
      if (!Number.isInteger(d) || d <= 0) throw new InvalidArgumentError("shape", `[${args.shape.join(", ")}] (${name})`, "positive integer dimensions");
      count *= d;
    }
    if (!(args.bytes instanceof Uint8Array)) throw new InvalidArgumentError("bytes", typeof args.bytes, "a Uint8Array");
    if (args.bytes.length !== count * es) {
      throw new InvalidArgumentError("bytes", `${args.bytes.length} bytes (${name})`, `exactly ${count * es} = prod(shape [${args.shape.join(", ")}]) · ${es} for ${args.dtype}`);
    }
    const ptr = this.allocBytes(count * es);
    new Uint8Array(this.exports.memory.buffer, ptr, count * es).set(args.bytes);
    let code = args.dtype === "f32" ? DT_F32 : args.dtype === "bf16" ? DT_BF16 : DT_F16;
    // f16 with no inf/NaN (every real checkpoint) can skip the exponent-31 fix-up per chunk
    if (code === DT_F16 && this.exports.cpuDenseHalvesFinite(ptr, count) === 1) code = DT_F16_FINITE;
    return Object.freeze({ dtype: args.dtype, shape: Object.freeze([...args.shape]), name, ptr, byteLength: count * es, code });
  }

  alloc(floats: number): DenseBuffer {
    checkCount("floats", floats);
    const ptr = this.allocBytes(floats * 4);
    const mem = this.exports.memory;
    let cache: Float32Array | null = null;
    return Object.freeze({
      ptr, length: floats,
      view(): Float32Array {
        // memory.grow detaches the old ArrayBuffer: re-derive the view when it changed
        if (cache === null || cache.buffer !== mem.buffer) cache = new Float32Array(mem.buffer, ptr, floats);
        return cache;
      },
    });
  }

  /** Pointer of an activation argument with at least `need` floats; stages a Float32Array in. */
  private inPtr(field: string, a: Activation, need: number, slot: number, copyIn: boolean): number {
    if (a instanceof Float32Array) {
      if (a.length < need) throw new InvalidArgumentError(field, `length ${a.length}`, `at least ${need} floats`);
      let s = this.stage[slot];
      if (s === undefined || s.floats < need) {
        // doubling keeps the abandoned regions (top-of-memory, never freed) under 2x the peak
        const floats = Math.max(need, (s?.floats ?? 0) * 2, 16);
        s = { ptr: this.allocBytes(floats * 4), floats };
        this.stage[slot] = s;
      }
      if (copyIn) new Float32Array(this.exports.memory.buffer, s.ptr, need).set(a.length === need ? a : a.subarray(0, need));
      return s.ptr;
    }
    if (a === null || typeof a !== "object" || typeof (a as DenseBuffer).ptr !== "number") {
      throw new InvalidArgumentError(field, a, "a Float32Array or a DenseBuffer from alloc()");
    }
    if (a.length < need) throw new InvalidArgumentError(field, `length ${a.length}`, `at least ${need} floats`);
    return a.ptr;
  }

  private copyOut(a: Activation, ptr: number, floats: number): void {
    if (a instanceof Float32Array) a.set(new Float32Array(this.exports.memory.buffer, ptr, floats));
  }

  private checkTensor(field: string, t: DenseTensor, rank: number): void {
    if (t === null || typeof t !== "object" || typeof t.ptr !== "number" || t.shape?.length !== rank) {
      throw new InvalidArgumentError(field, t === null || typeof t !== "object" ? t : `shape [${t.shape?.join(", ")}] (${t.name})`, `a DenseTensor of rank ${rank}`);
    }
  }

  matmul(w: DenseTensor, x: Activation, n: number, out: Activation, options: MatmulOptions = {}): void {
    this.checkTensor("w", w, 2);
    checkCount("n", n);
    const [outDim, inDim] = w.shape as [number, number];
    let biasPtr = 0, biasCode = 0;
    if (options.bias !== undefined) {
      this.checkTensor("bias", options.bias, 1);
      if (options.bias.shape[0] !== outDim) throw new InvalidArgumentError("bias", `shape [${options.bias.shape[0]}] (${options.bias.name})`, `[${outDim}] = w.shape[0] (${w.name})`);
      biasPtr = options.bias.ptr; biasCode = options.bias.code;
    }
    const acc = options.accumulate === true;
    if (x === out) throw new InvalidArgumentError("out", "the same array as x", "a different region (the kernel reads x while writing out)");
    const xp = this.inPtr("x", x, n * inDim, 0, true);
    const op = this.inPtr("out", out, n * outDim, 1, acc);
    if (!(x instanceof Float32Array) && !(out instanceof Float32Array)) {
      const xa = xp, xb = xp + n * inDim * 4, oa = op, ob = op + n * outDim * 4;
      if (xa < ob && oa < xb) throw new InvalidArgumentError("out", `region at ${op}`, "not overlapping x");
    }
    this.exports.cpuDenseMatmul(w.ptr, w.code, inDim, outDim, xp, n, op, biasPtr, biasCode, acc ? 1 : 0);
    this.copyOut(out, op, n * outDim);
  }

  rmsNorm(x: Activation, weight: DenseTensor, n: number, out: Activation, eps: number, options: { addOne?: boolean } = {}): void {
    this.checkTensor("weight", weight, 1);
    checkCount("n", n);
    if (!(eps >= 0) || !Number.isFinite(eps)) throw new InvalidArgumentError("eps", eps, "a finite number ≥ 0");
    const dim = weight.shape[0]!;
    const xp = this.inPtr("x", x, n * dim, 0, true);
    const op = x === out ? xp : this.inPtr("out", out, n * dim, 1, false);
    this.exports.cpuDenseRmsNorm(xp, weight.ptr, weight.code, n, dim, eps, op, options.addOne ? 1 : 0);
    this.copyOut(out, op, n * dim);
  }

  swiglu(gate: Activation, up: Activation, out: Activation, count: number): void {
    checkCount("count", count);
    const gp = this.inPtr("gate", gate, count, 0, true);
    const up_ = up === gate ? gp : this.inPtr("up", up, count, 1, true);
    const op = out === gate ? gp : out === up ? up_ : this.inPtr("out", out, count, 2, false);
    this.exports.cpuDenseSwiglu(gp, up_, op, count);
    this.copyOut(out, op, count);
  }

  embed(table: DenseTensor, ids: ArrayLike<number>, out: Activation): void {
    this.checkTensor("table", table, 2);
    const [vocab, dim] = table.shape as [number, number];
    const count = ids.length;
    checkCount("ids.length", count);
    for (let k = 0; k < count; k++) {
      const id = ids[k]!;
      if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new InvalidArgumentError(`ids[${k}]`, id, `an integer in [0, ${vocab}) (${table.name} rows)`);
    }
    if (this.idsStage.ints < count) this.idsStage = { ptr: this.allocBytes(Math.max(count, this.idsStage.ints * 2, 16) * 4), ints: Math.max(count, this.idsStage.ints * 2, 16) };
    const op = this.inPtr("out", out, count * dim, 1, false);
    new Int32Array(this.exports.memory.buffer, this.idsStage.ptr, count).set(ids);
    this.exports.cpuDenseEmbed(table.ptr, table.code, dim, this.idsStage.ptr, count, op);
    this.copyOut(out, op, count * dim);
  }
}
