// The CPU backend end to end: `loadEngine(..., { backend: "cpu" })` decode tok/s with the wasm
// SIMD dense path (weights bf16 in wasm memory) against the f32 TypeScript forward of
// src/model/llama.ts (`cpuForward: "typescript"`, the path the CPU backend ran before), same
// process, same random-weight model, one core. The model is built in memory at a real shape
// (random bf16 weights, vocab 2048 with the tinystories-656K tokenizer; nothing written to disk).
// Not a timed test; figures go to docs/BENCHMARKS.md.
//
//   node bench/build-cpu-engine.mjs && node bench-dist/cpu_engine.mjs [smollm2-135m|qwen25-05b] [--tokens N]
import { readFile } from "node:fs/promises";
import { loadEngine } from "../sdk/index";
import { sourceFromFiles } from "../src/model/source";

const SHAPES = {
  "smollm2-135m": { hidden: 576, inter: 1536, layers: 30, heads: 9, kvHeads: 3, headDim: 64, qwen: false },
  "qwen25-05b": { hidden: 896, inter: 4864, layers: 24, heads: 14, kvHeads: 2, headDim: 64, qwen: true },
} as const;
const VOCAB = 2048;

const argv = process.argv.slice(2);
const shapeName = (argv.find((a) => a in SHAPES) ?? "smollm2-135m") as keyof typeof SHAPES;
const ti = argv.indexOf("--tokens");
const DECODE_TOKENS = ti >= 0 ? Number(argv[ti + 1]) : 16;
const PROMPT_TOKENS = 64;

/** xorshift32 → bf16 of a normal-ish value × 0.02 (sum of 4 uniforms), deterministic. */
function randomBf16(n: number, seed: number, ones = false): Uint8Array {
  const out = new Uint16Array(n), f = new Float32Array(1), u = new Uint32Array(f.buffer);
  let s = seed >>> 0 || 1;
  const next = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 2 ** 32; };
  for (let i = 0; i < n; i++) {
    f[0] = ones ? 1 : (next() + next() + next() + next() - 2) * 0.035;
    out[i] = u[0]! >>> 16;
  }
  return new Uint8Array(out.buffer);
}

function safetensors(tensors: [string, number[], Uint8Array][]): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let off = 0;
  for (const [name, shape, bytes] of tensors) {
    header[name] = { dtype: "BF16", shape, data_offsets: [off, off + bytes.byteLength] };
    off += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + json.length) % 8)) % 8);
  const out = new Uint8Array(8 + json.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(new TextEncoder().encode(json), 8);
  let p = 8 + json.length;
  for (const [, , bytes] of tensors) { out.set(bytes, p); p += bytes.byteLength; }
  return out;
}

function makeModel(name: keyof typeof SHAPES): Uint8Array {
  const s = SHAPES[name], H = s.hidden, q = s.heads * s.headDim, kv = s.kvHeads * s.headDim;
  const t: [string, number[], Uint8Array][] = [];
  let seed = 1;
  const add = (n: string, shape: number[], ones = false) => t.push([n, shape, randomBf16(shape.reduce((a, b) => a * b, 1), seed++, ones)]);
  add("model.embed_tokens.weight", [VOCAB, H]);
  add("model.norm.weight", [H], true);
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}.`;
    add(p + "input_layernorm.weight", [H], true);
    add(p + "post_attention_layernorm.weight", [H], true);
    add(p + "self_attn.q_proj.weight", [q, H]);
    add(p + "self_attn.k_proj.weight", [kv, H]);
    add(p + "self_attn.v_proj.weight", [kv, H]);
    add(p + "self_attn.o_proj.weight", [H, q]);
    if (s.qwen) { add(p + "self_attn.q_proj.bias", [q]); add(p + "self_attn.k_proj.bias", [kv]); add(p + "self_attn.v_proj.bias", [kv]); }
    add(p + "mlp.gate_proj.weight", [s.inter, H]);
    add(p + "mlp.up_proj.weight", [s.inter, H]);
    add(p + "mlp.down_proj.weight", [H, s.inter]);
  }
  return safetensors(t);
}

const s = SHAPES[shapeName];
const config = {
  architectures: [s.qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM"], model_type: s.qwen ? "qwen2" : "llama",
  vocab_size: VOCAB, max_position_embeddings: 4096, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true,
  hidden_act: "silu", bos_token_id: 1, eos_token_id: 2, torch_dtype: "bfloat16",
  hidden_size: s.hidden, intermediate_size: s.inter, num_hidden_layers: s.layers, num_attention_heads: s.heads,
  num_key_value_heads: s.kvHeads, head_dim: s.headDim,
};
const tokDir = new URL("../../shared/models/tinystories-656K/", import.meta.url);
const files: Record<string, Uint8Array> = {
  "config.json": new TextEncoder().encode(JSON.stringify(config)),
  "model.safetensors": makeModel(shapeName),
};
for (const f of ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]) {
  files[f] = new Uint8Array(await readFile(new URL(f, tokDir)));
}
const prompt = Array.from({ length: PROMPT_TOKENS }, (_, i) => 3 + ((i * 7919) % (VOCAB - 3)));
const weightMB = files["model.safetensors"]!.byteLength / 1e6;

const rows: Record<string, number | string>[] = [];
for (const cpuForward of ["wasm", "typescript"] as const) {
  const engine = await loadEngine(sourceFromFiles(files), { backend: "cpu", cpuForward, maxContextTokens: 1024, policy: { name: "full" } });
  const n = cpuForward === "typescript" ? Math.min(DECODE_TOKENS, 6) : DECODE_TOKENS;
  let got = 0;
  for await (const _ of engine.generate(prompt, { maxTokens: n, stopIds: [] })) got++;
  const t = engine.timings;
  const decodeTokS = (t.generatedTokens - 1) / (t.decodeMs / 1000);
  rows.push({ cpuForward, generated: got, prefillTokS: +(t.promptTokens / (t.prefillMs / 1000)).toFixed(2), decodeTokS: +decodeTokS.toFixed(2) });
  engine.destroy();
}
const speedup = (rows[0]!.decodeTokS as number) / (rows[1]!.decodeTokS as number);
console.log(JSON.stringify({ shape: shapeName, weightMB: +weightMB.toFixed(1), date: new Date().toISOString(), rows, decodeSpeedup: +speedup.toFixed(2) }));
