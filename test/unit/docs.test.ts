// The documentation stands on its own: no pointer to files outside the repository (the design
// notes beside it are not shipped), no bare issue numbers a reader cannot resolve, lines a
// terminal or a diff can show, and every repository path named in ARCHITECTURE.md exists.
// Each file is imported as text by the esbuild plugin (kvcompress:source/<repo path>), so the
// list below is explicit: a new page must be added here to be checked.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import readme from "kvcompress:source/README.md";
import architecture from "kvcompress:source/docs/ARCHITECTURE.md";
import appDoc from "kvcompress:source/docs/app.md";
import appReadme from "kvcompress:source/examples/app/README.md";
import benchmarks from "kvcompress:source/docs/BENCHMARKS.md";
import contracts from "kvcompress:source/docs/CONTRACTS.md";
import controlPlane from "kvcompress:source/docs/CONTROL_PLANE.md";
import method from "kvcompress:source/docs/METHOD.md";
import quality from "kvcompress:source/docs/QUALITY.md";
import scaling from "kvcompress:source/docs/SCALING.md";
import quantization from "kvcompress:source/docs/QUANTIZATION.md";
import guide from "kvcompress:source/docs/guide.md";
import benchCpu from "kvcompress:source/docs/bench/cpu.md";
import benchGpu from "kvcompress:source/docs/bench/gpu.md";
import q260Ablations from "kvcompress:source/docs/quality/stories260K-ablations/quality.md";
import q260Continual from "kvcompress:source/docs/quality/stories260K-continual/quality.md";
import q260Once from "kvcompress:source/docs/quality/stories260K-once/quality.md";
import q260Window from "kvcompress:source/docs/quality/stories260K-window/quality.md";
import q656Ablations from "kvcompress:source/docs/quality/tinystories-656K-ablations/quality.md";
import q656Continual from "kvcompress:source/docs/quality/tinystories-656K-continual/quality.md";
import q656Once from "kvcompress:source/docs/quality/tinystories-656K-once/quality.md";
import q656Window from "kvcompress:source/docs/quality/tinystories-656K-window/quality.md";

// Every repository path ARCHITECTURE.md names in backticks, imported so that a renamed or
// deleted file fails the test bundle itself. The test below fails when the page names a path
// that is not in this list, so a new path in the page needs a new line here (and so a file).
import p01 from "kvcompress:source/assembly/admission.ts";
import p02 from "kvcompress:source/assembly/allocator.ts";
import p03 from "kvcompress:source/assembly/budget.ts";
import p04 from "kvcompress:source/assembly/cpu/index.ts";
import p05 from "kvcompress:source/assembly/index.ts";
import p06 from "kvcompress:source/assembly/layout.ts";
import p07 from "kvcompress:source/assembly/plan_moves.ts";
import p08 from "kvcompress:source/assembly/schedule.ts";
import p09 from "kvcompress:source/assembly/tables.ts";
import p10 from "kvcompress:source/bench/probes/copy_buffer.wgsl";
import p11 from "kvcompress:source/bin/kvcompress.mjs";
import p12 from "kvcompress:source/scripts/build-wasm.mjs";
import p13 from "kvcompress:source/scripts/build.mjs";
import p14 from "kvcompress:source/scripts/esbuild-plugins.mjs";
import p15 from "kvcompress:source/scripts/run-tests.mjs";
import p16 from "kvcompress:source/sdk/browser.ts";
import p17 from "kvcompress:source/sdk/cache.ts";
import p18 from "kvcompress:source/sdk/cli/eval.ts";
import p19 from "kvcompress:source/sdk/cli/main.ts";
import p20 from "kvcompress:source/sdk/deno.ts";
import p21 from "kvcompress:source/sdk/device.ts";
import p22 from "kvcompress:source/sdk/index.ts";
import p23 from "kvcompress:source/sdk/node.ts";
import p24 from "kvcompress:source/shaders/common/decode_split.wgsl";
import p25 from "kvcompress:source/shaders/paged_attention_decode.wgsl";
import p26 from "kvcompress:source/shaders/paged_attention_decode_subgroup.wgsl";
import p27 from "kvcompress:source/src/cache.ts";
import p28 from "kvcompress:source/src/config.ts";
import p29 from "kvcompress:source/src/contract.ts";
import p30 from "kvcompress:source/src/control/plane.ts";
import p31 from "kvcompress:source/src/control/wasmMemory.ts";
import p32 from "kvcompress:source/src/gpu/backend.ts";
import p33 from "kvcompress:source/src/gpu/dispatch.ts";
import p34 from "kvcompress:source/src/gpu/kernels/decodeAttention.ts";
import p35 from "kvcompress:source/src/gpu/layout.ts";
import p36 from "kvcompress:source/src/gpu/pool.ts";
import p37 from "kvcompress:source/src/model/cachedSequence.ts";
import p38 from "kvcompress:source/src/policies.ts";
import p39 from "kvcompress:source/src/presets.ts";
import p40 from "kvcompress:source/test/unit/contract.test.ts";
import p41 from "kvcompress:source/src/engine/gpu.ts";
import p42 from "kvcompress:source/src/gpu/model/index.ts";
import p43 from "kvcompress:source/assembly/pressure.ts";
import p44 from "kvcompress:source/assembly/steps.ts";
import p45 from "kvcompress:source/shaders/common/pass_key.wgsl";
import p46 from "kvcompress:source/shaders/common/pass_state.wgsl";
import p47 from "kvcompress:source/src/gpu/kernels/devicePass.ts";
import p48 from "kvcompress:source/src/engine/serve.ts";
import p49 from "kvcompress:source/src/engine/gpuBatch.ts";
import p50 from "kvcompress:source/src/engine/engine.ts";
import p51 from "kvcompress:source/shaders/table_patch.wgsl";
import p52 from "kvcompress:source/src/gpu/kernels/tablePatch.ts";

const DOCS: Record<string, string> = {
  "README.md": readme,
  "docs/ARCHITECTURE.md": architecture,
  "docs/app.md": appDoc,
  "examples/app/README.md": appReadme,
  "docs/BENCHMARKS.md": benchmarks,
  "docs/CONTRACTS.md": contracts,
  "docs/CONTROL_PLANE.md": controlPlane,
  "docs/METHOD.md": method,
  "docs/QUALITY.md": quality,
  "docs/SCALING.md": scaling,
  "docs/QUANTIZATION.md": quantization,
  "docs/guide.md": guide,
  "docs/bench/cpu.md": benchCpu,
  "docs/bench/gpu.md": benchGpu,
  "docs/quality/stories260K-ablations/quality.md": q260Ablations,
  "docs/quality/stories260K-continual/quality.md": q260Continual,
  "docs/quality/stories260K-once/quality.md": q260Once,
  "docs/quality/stories260K-window/quality.md": q260Window,
  "docs/quality/tinystories-656K-ablations/quality.md": q656Ablations,
  "docs/quality/tinystories-656K-continual/quality.md": q656Continual,
  "docs/quality/tinystories-656K-once/quality.md": q656Once,
  "docs/quality/tinystories-656K-window/quality.md": q656Window,
};

const ARCHITECTURE_PATHS: Record<string, string> = {
  "assembly/admission.ts": p01, "assembly/allocator.ts": p02, "assembly/budget.ts": p03,
  "assembly/cpu/index.ts": p04, "assembly/index.ts": p05, "assembly/layout.ts": p06,
  "assembly/plan_moves.ts": p07, "assembly/schedule.ts": p08, "assembly/tables.ts": p09,
  "bench/probes/copy_buffer.wgsl": p10, "bin/kvcompress.mjs": p11, "scripts/build-wasm.mjs": p12,
  "scripts/build.mjs": p13, "scripts/esbuild-plugins.mjs": p14, "scripts/run-tests.mjs": p15,
  "sdk/browser.ts": p16, "sdk/cache.ts": p17, "sdk/cli/eval.ts": p18, "sdk/cli/main.ts": p19,
  "sdk/deno.ts": p20, "sdk/device.ts": p21, "sdk/index.ts": p22, "sdk/node.ts": p23,
  "shaders/common/decode_split.wgsl": p24, "shaders/paged_attention_decode.wgsl": p25,
  "shaders/paged_attention_decode_subgroup.wgsl": p26, "src/cache.ts": p27, "src/config.ts": p28,
  "src/contract.ts": p29, "src/control/plane.ts": p30, "src/control/wasmMemory.ts": p31,
  "src/gpu/backend.ts": p32, "src/gpu/dispatch.ts": p33, "src/gpu/kernels/decodeAttention.ts": p34,
  "src/gpu/layout.ts": p35, "src/gpu/pool.ts": p36, "src/model/cachedSequence.ts": p37,
  "src/policies.ts": p38, "src/presets.ts": p39, "test/unit/contract.test.ts": p40,
  "src/engine/gpu.ts": p41, "src/gpu/model/index.ts": p42,
  "assembly/pressure.ts": p43, "assembly/steps.ts": p44,
  "shaders/common/pass_key.wgsl": p45, "shaders/common/pass_state.wgsl": p46, "src/gpu/kernels/devicePass.ts": p47,
  "src/engine/serve.ts": p48, "src/engine/gpuBatch.ts": p49,
  "src/engine/engine.ts": p50,
  "shaders/table_patch.wgsl": p51, "src/gpu/kernels/tablePatch.ts": p52,
};

/** Build outputs the page names; they exist only after a build, so they are not checked. */
const BUILD_OUTPUT = /^(dist|build)\//;

const MAX_COLUMNS = 140;

/** Lines longer than `max` columns, as "line N (C columns)". Columns are code points, so a box
 *  drawing or a Greek letter counts as one, the way an editor shows it. */
export function longLines(text: string, max: number): string[] {
  const out: string[] = [];
  text.split("\n").forEach((line, i) => {
    const cols = [...line.replace(/\r$/, "")].length;
    if (cols > max) out.push(`line ${i + 1} (${cols} columns)`);
  });
  return out;
}

/** Matches that a reader outside the issue tracker cannot follow ("issue 12", "Issue #8"). */
export function bareIssueRefs(text: string): string[] {
  return [...text.matchAll(/\bissues?\s*#?\d+/gi)].map((m) => m[0]);
}

/** Repository paths written in backticks: tokens with a "/" and a file extension, no globs. */
export function backtickPaths(text: string): string[] {
  const paths = new Set<string>();
  for (const span of text.matchAll(/`([^`\n]+)`/g)) {
    for (const token of span[1].split(/[\s(),;:]+/)) {
      if (/[*{}$<>]/.test(token) || token.includes("://")) continue;
      if (token.includes("/") && /\.[A-Za-z0-9]+$/.test(token)) paths.add(token.replace(/^\.\//, ""));
    }
  }
  return [...paths].sort();
}

const test = suite("docs: self-contained, readable width");

test("the helpers catch what they look for (so the checks below can fail)", () => {
  assert.equal(longLines("ok\n" + "x".repeat(141) + "\n" + "é".repeat(140), 140), ["line 2 (141 columns)"]);
  assert.equal(bareIssueRefs("see issue 12, Issue #8 and issues 3; not an issue here"), ["issue 12", "Issue #8", "issues 3"]);
  assert.equal(backtickPaths("`src/a.ts` and `assembly/cpu/*.ts`, `x` (`sdk/cli/` `b/c.wgsl` → `dist/d.js`)"),
    ["b/c.wgsl", "dist/d.js", "src/a.ts"]);
});

for (const [name, text] of Object.entries(DOCS)) {
  test(`${name}: non-empty, every line within ${MAX_COLUMNS} columns`, () => {
    assert.ok(text.length > 100, `${name} looks empty`);
    assert.equal(longLines(text, MAX_COLUMNS), [], `${name}: lines over ${MAX_COLUMNS} columns`);
  });
  test(`${name}: no reference outside the repository, no bare issue numbers`, () => {
    assert.not.ok(text.includes("../shared"), `${name} points into ../shared`);
    assert.not.ok(/DESIGN\.md/.test(text), `${name} cites DESIGN.md; cite docs/METHOD.md §N instead`);
    assert.equal(bareIssueRefs(text), [], `${name}: say what the thing is, not its issue number`);
  });
}

test("METHOD.md keeps the section numbers that code comments cite", () => {
  const headings = [...method.matchAll(/^#{2,3} (\d+(?:\.\d+)*)\.? /gm)].map((m) => m[1]);
  for (const n of ["1", "2", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "3", "4", "5", "6", "7"]) {
    assert.ok(headings.includes(n), `docs/METHOD.md has no section ${n} (found ${headings.join(", ")})`);
  }
  assert.ok(method.includes("https://arxiv.org/abs/2410.00161"), "METHOD.md links the paper");
});

test("every repository path in ARCHITECTURE.md exists (imported above; build outputs excepted)", () => {
  const named = backtickPaths(architecture).filter((p) => !BUILD_OUTPUT.test(p));
  const unknown = named.filter((p) => !(p in ARCHITECTURE_PATHS));
  assert.equal(unknown, [], "paths named in docs/ARCHITECTURE.md with no kvcompress:source import in this test");
  for (const p of named) assert.ok(ARCHITECTURE_PATHS[p].length > 0, `${p} is empty`);
});

test.run();
