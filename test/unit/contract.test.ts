// The contract of src/contract.ts against the code on the other side of each crossing, with no
// GPU: every kernel's WGSL bindings and Batch uniform structs, the WGSL constants TypeScript
// mirrors, the AssemblyScript region slots, and the region sizes control.wasm really lays out.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import controlWasm from "kvcompress:wasm/control";
import asLayout from "kvcompress:source/assembly/layout.ts";
import {
  HEADER_CONFIG, HEADER_WORDS, KERNEL_IO, MAX_UNIFORM_ARGS, MIRRORED_WGSL_CONSTANTS, REGION_SLOT_BASE, SEQ_FIELDS,
  WASM_REGIONS, type KernelIo, controlLayoutBytes, packUniform, regionSlot, seqsOffsetBytes,
  MODEL_KERNEL_IO, MODEL_STEP_FIELDS, packModelArgs,
} from "../../src/contract";
import { MODEL_KERNEL_FILES, MODEL_WGSL, modelSourcesOf } from "../../src/gpu/model/sources";
import { MATMUL_TILE, MATVEC_ROWS, SUBGROUP_MATRIX_GRID } from "../../src/gpu/model";
import { KERNEL_FILES, WGSL, sourcesOf } from "../../src/gpu/kernels/sources";
import { workgroupStorageBytes } from "../../src/gpu/kernels/build";
import { decodeConstants } from "../../src/gpu/layout";
import { InternalError } from "../../src/errors";

const test = suite("contract: TypeScript, WGSL and AssemblyScript agree");

interface WgslBinding { binding: number; access: "read" | "read_write" | "uniform" }

function bindingsOf(code: string): Map<string, WgslBinding> {
  const out = new Map<string, WgslBinding>();
  const re = /@group\(0\)\s*@binding\((\d+)\)\s*var<(uniform|storage,\s*(read|read_write))>\s*([A-Za-z_]\w*)/g;
  for (const m of code.matchAll(re)) {
    out.set(m[4], { binding: Number(m[1]), access: m[2] === "uniform" ? "uniform" : (m[3] as "read" | "read_write") });
  }
  return out;
}

/** Field names of `struct NAME { ... }` (all must be u32). */
function structFields(code: string, name: string): string[] | undefined {
  const m = new RegExp(`struct\\s+${name}\\s*\\{([^}]*)\\}`).exec(code);
  if (!m) return undefined;
  return m[1].split(",").map((f) => f.trim()).filter(Boolean).map((f) => {
    const [field, type] = f.split(":").map((x) => x.trim());
    assert.is(type, "u32", `struct ${name}.${field} is u32`);
    return field;
  });
}

const accessOf = { storage: "read_write", "read-only-storage": "read", batch: "uniform", uniform: "uniform" } as const;
type BindingKindOf = keyof typeof accessOf;

test("KERNEL_IO names exactly the kernels of KERNEL_FILES", () => {
  assert.equal(Object.keys(KERNEL_IO).sort(), Object.keys(KERNEL_FILES).sort());
});

for (const dtype of ["f32", "f16", "q8", "q4"] as const) {
  for (const name of Object.keys(KERNEL_IO) as (keyof typeof KERNEL_IO)[]) {
    test(`${name} (${dtype}): bindings and uniform fields`, () => {
      const io: KernelIo = KERNEL_IO[name];
      const files = KERNEL_FILES[name](dtype);
      const code = sourcesOf(files).join("\n");
      const declared = bindingsOf(code);
      for (const [bindingName, [binding, kind]] of Object.entries(io.bindings)) {
        const w = declared.get(bindingName);
        assert.ok(w, `${name}: binding ${bindingName} is declared in ${files.join(" + ")}`);
        assert.is(w!.binding, binding, `${name}: ${bindingName}'s binding number`);
        assert.is(w!.access, accessOf[kind], `${name}: ${bindingName}'s access`);
      }
      // Every binding the kernel's own file declares is in the contract (common files declare
      // pool bindings a kernel may leave unbound).
      const own = bindingsOf(files.map((f) => WGSL[f]).filter((_, i) => !files[i].startsWith("common/")).join("\n"));
      for (const bindingName of own.keys()) assert.ok(bindingName in io.bindings, `${name}: ${bindingName} is in KERNEL_IO`);
      const numbers = Object.values(io.bindings).map(([b]) => b);
      assert.is(new Set(numbers).size, numbers.length, `${name}: binding numbers are distinct`);
      assert.equal(structFields(code, "Args"), [...io.args], `${name}: struct Args`);
      assert.equal(structFields(code, "Seq"), [...io.seq], `${name}: struct Seq`);
      assert.ok(io.args.length <= MAX_UNIFORM_ARGS, `${name}: at most ${MAX_UNIFORM_ARGS} args`);
      assert.is(io.seq.length, SEQ_FIELDS, `${name}: Seq has ${SEQ_FIELDS} fields`);
      if (code.includes("passHeadIdx(")) assert.is(io.seq[0], "seqId", `${name}: passHeadIdx reads Seq.seqId`);
    });
  }
}

test("MODEL_KERNEL_IO names exactly the kernels of MODEL_KERNEL_FILES, and every model WGSL file is used", () => {
  assert.equal(Object.keys(MODEL_KERNEL_IO).sort(), Object.keys(MODEL_KERNEL_FILES).sort());
  const used = new Set(Object.values(MODEL_KERNEL_FILES).flatMap((f) => ["f32", "f16", "bf16"].flatMap((d) => f(d as "f32"))));
  assert.equal([...used].sort(), Object.keys(MODEL_WGSL).sort());
});

for (const dtype of ["f32", "f16", "bf16"] as const) {
  for (const name of Object.keys(MODEL_KERNEL_IO) as (keyof typeof MODEL_KERNEL_IO)[]) {
    test(`model ${name} (${dtype}): bindings, struct Args and struct Step`, () => {
      const io = MODEL_KERNEL_IO[name];
      const files = MODEL_KERNEL_FILES[name](dtype);
      const code = modelSourcesOf(files).join("\n");
      const declared = bindingsOf(code);
      assert.equal([...declared.keys()].sort(), Object.keys(io.bindings).sort(), `${name}: declared bindings are the contract's`);
      for (const [bindingName, [binding, kind]] of Object.entries(io.bindings)) {
        const w = declared.get(bindingName)!;
        assert.is(w.binding, binding, `${name}: ${bindingName}'s binding number`);
        assert.is(w.access, accessOf[kind as BindingKindOf], `${name}: ${bindingName}'s access`);
      }
      assert.equal(structFields(code, "Args"), [...io.args], `${name}: struct Args`);
      if ("step" in io.bindings) assert.equal(structFields(code, "Step"), [...MODEL_STEP_FIELDS], `${name}: struct Step`);
      const kernelFile = files.find((f) => !f.startsWith("common/"))!;
      assert.match(MODEL_WGSL[kernelFile]!, /^\/\/ \S+\.wgsl — [\s\S]*Bindings \(group 0\):[\s\S]*Dispatch:[\s\S]*Bytes moved:/, `${kernelFile}: header`);
      if (code.includes("enable subgroups;")) assert.ok(code.startsWith(MODEL_WGSL[kernelFile]!), `${name}: the enable directive opens the module`);
      // The host passes only WG (to the matvec kernels): every override has a default.
      const overrides = [...code.matchAll(/override\s+(\w+)\s*:\s*u32\s*(=)?/g)];
      for (const m of overrides) assert.ok(m[2], `${name}: override ${m[1]} has a default`);
      if (name.startsWith("matvec")) assert.equal(overrides.map((m) => m[1]), ["WG"], `${name}: WG is its one override`);
    });
  }
}

test("model kernel consts the host sizes grids by", () => {
  const constOf = (file: string, name: string) => Number(new RegExp(`const\\s+${name}\\s*:\\s*u32\\s*=\\s*(\\d+)u`).exec(MODEL_WGSL[file]!)?.[1]);
  assert.is(constOf("matvec.wgsl", "ROWS"), MATVEC_ROWS);
  assert.is(constOf("matvec_subgroup.wgsl", "ROWS"), MATVEC_ROWS);
  assert.is(constOf("matmul.wgsl", "TILE"), MATMUL_TILE);
  assert.is(constOf("matmul_subgroup_matrix.wgsl", "SG_T"), SUBGROUP_MATRIX_GRID.SG_T);
  assert.is(constOf("matmul_subgroup_matrix.wgsl", "SG_R"), SUBGROUP_MATRIX_GRID.SG_R);
});

test("packModelArgs: named fields in declaration order, padding zero, unknown or missing fields throw", () => {
  assert.equal([...packModelArgs(MODEL_KERNEL_IO.matmul, { inDim: 7, outDim: 5, rowStart: 3, rowCount: 2, flags: 1, wRow0: 4, kSplit: 6 })], [7, 5, 3, 2, 1, 4, 6, 0]);
  assert.equal([...packModelArgs(MODEL_KERNEL_IO.matvec, { inDim: 7, outDim: 5, rowStart: 3, rowCount: 2, flags: 12, epsBits: 9, split1: 2, split2: 4, headSize: 6 })], [7, 5, 3, 2, 12, 9, 2, 4, 6, 0, 0, 0]);
  assert.equal([...packModelArgs(MODEL_KERNEL_IO.rope, { heads: 9, headSize: 64, style: 1 })], [9, 64, 1, 0]);
  assert.throws(() => packModelArgs(MODEL_KERNEL_IO.rope, { heads: 9, headSize: 64 } as never), (e: unknown) => e instanceof InternalError);
  assert.throws(() => packModelArgs(MODEL_KERNEL_IO.swiglu, { width: 1, count: 2 } as never), (e: unknown) => e instanceof InternalError);
});

test("WGSL constants mirrored by TypeScript", () => {
  for (const [file, consts] of Object.entries(MIRRORED_WGSL_CONSTANTS)) {
    const code = WGSL[file];
    assert.ok(code, `${file} exists`);
    for (const [name, value] of Object.entries(consts)) {
      const m = new RegExp(`const\\s+${name}\\s*:\\s*u32\\s*=\\s*(\\d+)u\\s*;`).exec(code);
      assert.ok(m, `${file} declares const ${name}: u32`);
      assert.is(Number(m![1]), value, `${file} ${name}`);
    }
  }
  // Batch.seqs is sized by a literal (a uniform array needs a fixed length): the same number.
  assert.match(WGSL["common/batch.wgsl"], new RegExp(`@align\\(16\\) seqs:\\s*array<Seq,\\s*${MIRRORED_WGSL_CONSTANTS["common/batch.wgsl"].MAX_BATCH_SEQS}>`));
});

test("packUniform lays Args and Seq rows out as WGSL reads them", () => {
  const out = new Uint32Array(64 * 4 + 8).fill(0xdead);
  packUniform(KERNEL_IO.appendKv, { layer: 3, numSeqs: 2, tokenBase: 5, numTokens: 9 },
    [{ seqId: 7, tokenStart: 5, numNew: 4, firstPos: 11 }, { seqId: 1, tokenStart: 9, numNew: 5, firstPos: 0 }], out);
  // 4 args = 16 bytes, so Seq rows start at word 4 (a struct member after a struct is 16-aligned).
  assert.equal([...out.slice(0, 12)], [3, 2, 5, 9, 7, 5, 4, 11, 1, 9, 5, 0]);
  assert.is(seqsOffsetBytes(KERNEL_IO.decode), 32);
  assert.is(seqsOffsetBytes(KERNEL_IO.moves), 16);
  assert.is(seqsOffsetBytes(KERNEL_IO.orderSortGlobal), 16);
  assert.is(seqsOffsetBytes(KERNEL_IO.decodeMetric), 32);
  packUniform(KERNEL_IO.decodeMetric, { layer: 1, numSeqs: 1, metricMode: 2, scoresStride: 64, scoresOffset: 100, finalOffset: 200, groupMax: 1 },
    [{ seqId: 4, qRow: 0 }], out);
  assert.equal([...out.slice(0, 12)], [1, 1, 2, 64, 100, 200, 1, 0, 4, 0, 0, 0]);
  assert.throws(() => packUniform(KERNEL_IO.moves, { firstMove: 0 } as never, [], out), (e: unknown) => e instanceof InternalError);
  assert.throws(() => packUniform(KERNEL_IO.moves, { firstMove: 0, numMoves: 1, extra: 2 } as never, [], out), (e: unknown) => e instanceof InternalError);
});

test("workgroupStorageBytes: the workgroup memory the decode kernels declare, counted by hand", () => {
  // decode_reduce.wgsl: weights f32[MAX_SPLITS] + red f32[WG_SIZE] + accW vec4f[WG_SIZE].
  assert.is(workgroupStorageBytes(sourcesOf(KERNEL_FILES.decodeReduce()).join("\n"),
    { HEAD_SIZE: 128, NUM_Q_HEADS: 32, WG_SIZE: 128, MAX_SPLITS: 1024 }), 4 * 1024 + 4 * 128 + 16 * 128);
  // Portable decode, d = 128, 32 lanes (one key group): part 8·1·4·9 vec4f, scoresW and probsW 8
  // vec4f, sumsW 1, accW 128, ctxShared 4 B; decode_split's blocksW 128 vec2u, rawW 128 u32,
  // shardBits 16 u32, segCount 4 u32.
  const d = { numLayers: 1, maxSeqs: 1, numKvHeads: 8, numQHeads: 32, headSize: 128, blockSize: 16, numBlocks: 64, maxBlocksPerHead: 64, dtype: "f16" } as const;
  assert.is(workgroupStorageBytes(sourcesOf(KERNEL_FILES.decode("f16")).join("\n"), decodeConstants(d, 64)),
    16 * (288 + 8 + 8 + 1 + 128) + 4 + 8 * 128 + 4 * (128 + 16 + 4));
});

const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();

test("assembly/layout.ts: header size and every R_* slot as WASM_REGIONS says", () => {
  const consts = new Map([...asLayout.matchAll(/export const ([A-Z_]+): i32 = (-?\d+);/g)].map((m) => [m[1], Number(m[2])]));
  assert.is(consts.get("HEADER_WORDS"), HEADER_WORDS);
  assert.is(consts.get("NUM_REGIONS"), WASM_REGIONS.length);
  assert.is(consts.get("R_END"), regionSlot("end"));
  WASM_REGIONS.forEach((r, i) => {
    assert.is(consts.get(`R_${snake(r.name)}`), REGION_SLOT_BASE + i, `R_${snake(r.name)}`);
  });
  const slots = [...consts].filter(([k]) => k.startsWith("R_") && k !== "R_END");
  assert.is(slots.length, WASM_REGIONS.length, "no R_* slot outside the contract");
});

test("control.wasm lays out every region at the size WASM_REGIONS gives", async () => {
  // Awkward sizes so that no two regions share a length by accident.
  const g = { numLayers: 3, numKvHeads: 5, blockSize: 8, numBlocks: 97, maxSeqs: 7, maxBlocksPerHead: 11 };
  const { instance } = await WebAssembly.instantiate(controlWasm as BufferSource, { env: { abort: () => { throw new Error("abort"); } } });
  const wasm = instance.exports as unknown as { memory: WebAssembly.Memory; init(...a: number[]): number; layoutOffsets(): number };
  assert.is(wasm.init(g.numLayers, g.numKvHeads, g.blockSize, g.numBlocks, g.maxSeqs, g.maxBlocksPerHead), 0);
  const base = wasm.layoutOffsets();
  const hdr = new Uint32Array(wasm.memory.buffer, base, HEADER_WORDS);
  HEADER_CONFIG.forEach((field, i) => assert.is(hdr[i], g[field], `header word ${i} = ${field}`));
  const align16 = (n: number) => Math.ceil(n / 16) * 16;
  assert.is(hdr[REGION_SLOT_BASE], base + HEADER_WORDS * 4, "the first region follows the header");
  WASM_REGIONS.forEach((r, i) => {
    const next = hdr[REGION_SLOT_BASE + i + 1];
    assert.is(next - hdr[REGION_SLOT_BASE + i], align16(4 * r.length({ ...g })), `${r.name}: bytes`);
  });
  assert.is(hdr[regionSlot("end")] - base, controlLayoutBytes(g), "controlLayoutBytes");
});

test.run();
