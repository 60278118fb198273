// Every kernel's `override` names (over its concatenated WGSL files) equal exactly the keys the
// host passes as pipeline constants (STYLE L2): drift fails here, never on a GPU.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { KERNEL_CONSTANTS, KERNEL_FILES, WGSL, sourcesOf } from "../../src/gpu/kernels/sources";
import type { PoolGeometry, KvDtype } from "../../src/gpu/layout";

const test = suite("shaders: override names match the host constants");

const dims = (dtype: KvDtype): PoolGeometry => ({
  numLayers: 2, maxSeqs: 3, numKvHeads: 2, numQHeads: 8, headSize: 64, blockSize: 16, numBlocks: 40, maxBlocksPerHead: 8, dtype,
});

const overridesOf = (code: string) => [...code.matchAll(/^\s*override\s+([A-Za-z_][A-Za-z0-9_]*)/gm)].map((m) => m[1]).sort();

for (const dtype of ["f32", "f16", "q8", "q4"] as const) {
  for (const name of Object.keys(KERNEL_FILES) as (keyof typeof KERNEL_FILES)[]) {
    test(`${name} (${dtype})`, () => {
      const files = KERNEL_FILES[name](dtype);
      const declared = overridesOf(sourcesOf(files).join("\n"));
      const passed = Object.keys(KERNEL_CONSTANTS[name](dims(dtype), 5)).sort();
      assert.equal(passed, declared, `${files.join(" + ")}`);
      assert.equal(new Set(declared).size, declared.length, "an override is declared twice");
    });
  }
}

test("every .wgsl is one kernel with a header, or a common helper", () => {
  for (const [file, code] of Object.entries(WGSL)) {
    assert.ok(code.startsWith(`// ${file.split("/").pop()}`), `${file} opens with its contract header`);
    const entries = (code.match(/@compute/g) ?? []).length;
    assert.is(entries, file.startsWith("common/") ? 0 : 1, `${file}: entry points`);
    assert.not.match(code, /\$\{/, `${file}: no string templating`);
  }
});

test.run();
