// The engine (issue 13) on both backends: the shared models reproduce reference.json greedy ids,
// the 512-token window NLL to 1e-3 through chunked prefill, bf16 weights stay close to f32, and a
// decode step on the GPU maps at most one buffer.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { loadEngine, sourceFromFiles, type Engine } from "../../sdk/index";
import { planChunks } from "../../src/engine/engine";
import { readShared, readSharedText, sharedModelSource, testDevice } from "../harness/env";

const MODELS = {
  stories260K: { llama2c: { checkpoint: "stories260K.bin", tokenizer: "tok512.bin" } },
  "tinystories-656K": { llama2c: undefined },
} as const;
type Id = keyof typeof MODELS;

async function engineFor(id: Id, backend: "gpu" | "cpu", extra: { maxContextTokens?: number; prefillChunkTokens?: number } = {}): Promise<Engine> {
  return loadEngine(sharedModelSource(id), {
    ...(backend === "gpu" ? { device: await testDevice() } : { backend: "cpu" as const }),
    llama2c: MODELS[id].llama2c, policy: { name: "full" }, maxContextTokens: extra.maxContextTokens ?? 64, prefillChunkTokens: extra.prefillChunkTokens,
  });
}

async function collect(it: AsyncIterable<number>): Promise<number[]> {
  const out: number[] = [];
  for await (const x of it) out.push(x);
  return out;
}

function meanNll(logits: Float32Array, ids: number[], V: number): number {
  let nll = 0;
  for (let t = 0; t < ids.length - 1; t++) {
    const row = logits.subarray(t * V, (t + 1) * V);
    let mx = -Infinity;
    for (const x of row) mx = Math.max(mx, x);
    let z = 0;
    for (const x of row) z += Math.exp(x - mx);
    nll += Math.log(z) + mx - row[ids[t + 1]];
  }
  return nll / (ids.length - 1);
}

const u = suite("engine chunk plan");
u("the last chunk holds the last obsWindow queries; only the scoring chunks are flagged", () => {
  assert.equal(planChunks(10, 512, 8), [[0, 10, true]]);
  const p = planChunks(1030, 512, 8);
  assert.equal(p[p.length - 1], [1022, 8, true]);
  assert.is(p.reduce((a, [, n]) => a + n, 0), 1030);
  assert.ok(p.every(([s, n], i) => i === 0 || s === p[i - 1][0] + p[i - 1][1]), "contiguous");
  assert.ok(p.slice(0, -1).every(([, n, scores]) => n <= 512 && !scores));
  assert.ok(planChunks(1030, 512, 0).every(([, , scores]) => scores), "obsWindow 0: every query scores");
  assert.equal(planChunks(1024, 512, 32), [[0, 512, false], [512, 512, true]]);
});
u.run();

for (const backend of ["gpu", "cpu"] as const) {
  const t = suite(`engine (${backend})`);
  for (const id of Object.keys(MODELS) as Id[]) {
    t(`${id}: greedy generation reproduces the reference ids`, async () => {
      const ref = JSON.parse(await readSharedText(`models/${id}/reference.json`));
      const engine = await engineFor(id, backend);
      try {
        const g = ref.greedy_from_bos;
        const got = await collect(engine.generate(g.prompt_ids, { maxTokens: g.steps, stopIds: [] }));
        assert.equal([...g.prompt_ids, ...got], g.ids);
        assert.is(engine.stats().sequences[0].seqLen, g.prompt_ids.length + g.steps - 1);
      } finally {
        engine.destroy();
      }
    });

    t(`${id}: the 512-token window NLL matches to 1e-3 (prefill in chunks of 200)`, async () => {
      const ref = JSON.parse(await readSharedText(`models/${id}/reference.json`));
      const engine = await engineFor(id, backend, { maxContextTokens: 512, prefillChunkTokens: 200 });
      try {
        const text = (await readSharedText("data/tinystories-val/tinystories_val.txt")).slice(0, 4000);
        const ids = engine.tokenizer.encode(text).slice(0, 512);
        const seq = engine.openSequence();
        const logits = await seq.prefill(ids, { allLogits: true });
        seq.close();
        const mean = meanNll(logits, ids, engine.config.vocabSize);
        const want = ref.tinystories_val_window.mean_nll_nats_over_511_predictions;
        assert.ok(Math.abs(mean - want) < 1e-3, `NLL ${mean} vs ${want}`);
      } finally {
        engine.destroy();
      }
    });
  }
  t.run();
}

const g = suite("engine (gpu) device use");

g("a decode step submits once and maps at most one buffer (pipelined and one step at a time)", async () => {
  const engine = await engineFor("stories260K", "gpu");
  const proto = (globalThis as unknown as { GPUBuffer: { prototype: GPUBuffer } }).GPUBuffer.prototype;
  const qproto = Object.getPrototypeOf(engine.cache.device.queue) as GPUQueue;
  const original = proto.mapAsync, submit = qproto.submit;
  const events: string[] = [];
  proto.mapAsync = function (this: GPUBuffer, ...args: Parameters<GPUBuffer["mapAsync"]>) {
    events.push("M");
    return original.apply(this, args);
  };
  qproto.submit = function (this: GPUQueue, cbs: Iterable<GPUCommandBuffer>) {
    events.push("S");
    return submit.call(this, cbs);
  };
  try {
    for (const pipelined of [true, false]) {
      const steps = 6;
      events.length = 0;
      let decodeFrom = -1;
      for await (const _ of engine.generate([1, 403, 407, 261], { maxTokens: steps, stopIds: [], pipelined })) {
        if (decodeFrom < 0) decodeFrom = events.length; // after the prefill's submit and map
      }
      const decode = events.slice(decodeFrom).join("");
      // steps − 1 decode steps (the last id is not fed back), each one submit and one map.
      assert.is(decode.replace(/M/g, "").length, steps - 1, `${pipelined}: ${decode}`);
      assert.ok(/^(SM)+$/.test(decode), `every decode submit maps exactly one buffer (pipelined ${pipelined}): ${decode}`);
    }
  } finally {
    proto.mapAsync = original;
    qproto.submit = submit;
    engine.destroy();
  }
});

g("pipelined decode: the same ids and stats() as one step at a time (stop ids, maxTokens, continual passes, abort, prefill compression)", async () => {
  const device = await testDevice();
  type Policy = NonNullable<NonNullable<Parameters<typeof loadEngine>[1]>["policy"]>;
  const byPolicy: [Policy, { stopAt?: number; steps: number; abortAfter?: number }[]][] = [
    [{ name: "full" }, [{ steps: 12, stopAt: 5 }, { steps: 8, abortAfter: 3 }, { steps: 6 }]], // two steps deep
    [{ name: "streamingllm", maxTokensPerHead: 8 }, [{ steps: 16, stopAt: 14 }]], // continual passes: one deep
    [{ name: "snapkv", ratio: 2 }, [{ steps: 10, stopAt: 4 }]], // compressed at prefill, then two deep
  ];
  const prompt = [1, 403, 407, 261];
  for (const [policy, cases] of byPolicy) {
    // One engine runs each case both ways (each generate starts a fresh sequence); the pool's
    // lifetime counters (passes, evictedKvs) add up over runs, so the per-run figures are compared.
    const engine = await loadEngine(sharedModelSource("stories260K"), { device, llama2c: MODELS.stories260K.llama2c, policy, maxContextTokens: 64 });
    try {
      for (const c of cases) {
        let stopIds: number[] = [];
        if (c.stopAt !== undefined) stopIds = [(await collect(engine.generate(prompt, { maxTokens: c.steps, stopIds: [] })))[c.stopAt - 1]];
        const runs = [];
        for (const pipelined of [true, false]) {
          const ac = new AbortController();
          const ids: number[] = [];
          let error = "";
          try {
            for await (const id of engine.generate(prompt, { maxTokens: c.steps, stopIds, pipelined, signal: ac.signal })) {
              ids.push(id);
              if (ids.length === c.abortAfter) ac.abort(new Error("stop here"));
            }
          } catch (e) {
            error = (e as Error).message;
          }
          const { passes: _p, evictedKvs: _e, ...rest } = engine.stats();
          runs.push({ ids, error, stats: rest });
        }
        const [a, b] = runs;
        const what = JSON.stringify({ policy, ...c });
        assert.equal(a.ids, b.ids, what);
        assert.is(a.error, b.error, what);
        assert.equal(a.stats, b.stats, what);
        if (c.stopAt !== undefined) assert.ok(a.ids.length <= c.stopAt, `${what}: stopped early (${a.ids.length})`);
        if (c.abortAfter !== undefined) assert.is(a.ids.length, c.abortAfter, what);
        if (policy.name === "streamingllm") assert.ok(a.stats.sequences[0].passes > 0, `${what}: passes ran (${a.stats.sequences[0].passes})`);
      }
    } finally {
      engine.destroy();
    }
  }
});

/** f32 → f16 bits, round to nearest even (subnormals included). */
function toHalf(x: number): number {
  const f = new Float32Array([x]), u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000, e = ((u >>> 23) & 0xff) - 127 + 15;
  const a = Math.abs(x);
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) return sign | Math.round(a / 2 ** -24); // subnormal (Math.round: ties away, fine for a test)
  const m = u & 0x7fffff, r = m >>> 13, rest = m & 0x1fff;
  let h = (e << 10) | r;
  if (rest > 0x1000 || (rest === 0x1000 && (r & 1))) h++;
  return sign | h;
}

/**
 * tinystories-656K's safetensors with every 2-D tensor stored as bf16 or f16. Its f32 weights are
 * exactly bf16-representable (all low 16 bits zero) and, measured, f16-representable too, so both
 * conversions are lossless here: the logits must agree to f32 rounding (what the 16-bit unpacking in
 * the kernels is checked for); the stated tolerances are what rounded weights would be allowed.
 */
async function halfFiles(kind: "BF16" | "F16"): Promise<Record<string, Uint8Array>> {
  const base = "models/tinystories-656K/";
  const files: Record<string, Uint8Array> = {};
  for (const f of ["config.json", "tokenizer.json", "tokenizer_config.json"]) files[f] = await readShared(base + f);
  const st = await readShared(base + "model.safetensors");
  const view = new DataView(st.buffer, st.byteOffset, st.byteLength);
  const hlen = view.getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(st.subarray(8, 8 + hlen)));
  const parts: Uint8Array[] = [];
  let off = 0;
  const out: Record<string, unknown> = {};
  for (const [name, e] of Object.entries(header) as [string, { dtype: string; shape: number[]; data_offsets: [number, number] }][]) {
    if (name === "__metadata__") continue;
    const raw = st.slice(8 + hlen + e.data_offsets[0], 8 + hlen + e.data_offsets[1]);
    let bytes = raw;
    let dtype = e.dtype;
    if (e.dtype === "F32" && e.shape.length === 2) {
      const f = new Uint32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
      const h = new Uint16Array(f.length);
      const fl = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
      for (let i = 0; i < f.length; i++) h[i] = kind === "BF16" ? (f[i] + 0x7fff + ((f[i] >>> 16) & 1)) >>> 16 : toHalf(fl[i]);
      bytes = new Uint8Array(h.buffer);
      dtype = kind;
    }
    out[name] = { dtype, shape: e.shape, data_offsets: [off, off + bytes.byteLength] };
    parts.push(bytes);
    off += bytes.byteLength;
  }
  const hjson = new TextEncoder().encode(JSON.stringify(out));
  const file = new Uint8Array(8 + hjson.byteLength + off);
  new DataView(file.buffer).setUint32(0, hjson.byteLength, true);
  file.set(hjson, 8);
  let p = 8 + hjson.byteLength;
  for (const b of parts) { file.set(b, p); p += b.byteLength; }
  files["model.safetensors"] = file;
  return files;
}

for (const [kind, tol] of [["BF16", 1e-5], ["F16", 1e-5]] as const) {
  g(`${kind} weights: logits within ${tol} (relative to max |logit|) of the f32 path, at half the weight bytes`, async () => {
    const device = await testDevice();
    const f32 = await engineFor("tinystories-656K", "gpu");
    const half = await loadEngine(sourceFromFiles(await halfFiles(kind)), { device, policy: { name: "full" }, maxContextTokens: 64 });
    try {
      assert.ok(half.weightBytes < 0.6 * f32.weightBytes, `${kind} holds ${half.weightBytes} bytes vs f32 ${f32.weightBytes}`);
      const ids = [1, 403, 407, 261, 378, 432, 383, 286];
      const a = f32.openSequence(), b = half.openSequence();
      const la = await a.prefill(ids, { allLogits: true }), lb = await b.prefill(ids, { allLogits: true });
      a.close(); b.close();
      let maxDiff = 0, maxAbs = 0;
      for (let i = 0; i < la.length; i++) { maxDiff = Math.max(maxDiff, Math.abs(la[i] - lb[i])); maxAbs = Math.max(maxAbs, Math.abs(la[i])); }
      assert.ok(Number.isFinite(maxDiff) && maxDiff <= tol * maxAbs, `max |Δ| ${maxDiff} vs max |logit| ${maxAbs}`);
    } finally {
      f32.destroy();
      half.destroy();
    }
  });
}

g.run();
