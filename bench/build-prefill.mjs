// bench/build-prefill.mjs — bundle bench/prefill.bench.ts into ONE file for the GPU machine:
// bench-dist/prefill/prefill.mjs, importing only `webgpu` (WGSL inlined as text), with
// bench/sdpa_prefill.py beside it. The previous prefill kernel (the per-query-head one, replaced
// on 2026-12-02) is read from git at PREFILL_V1_REV (default 076be7b) and timed next to the new one.
import * as esbuild from "esbuild";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const rev = process.env.PREFILL_V1_REV ?? "076be7b";
let v1 = "";
try {
  v1 = execFileSync("git", ["show", `${rev}:shaders/paged_attention_prefill.wgsl`], { cwd: root, encoding: "utf8" });
} catch { console.warn(`no ${rev}:shaders/paged_attention_prefill.wgsl: the old kernel is not timed`); }
const outDir = path.join(root, "bench-dist/prefill");
mkdirSync(outDir, { recursive: true });
await esbuild.build({
  entryPoints: [path.join(root, "bench/prefill.bench.ts")],
  outfile: path.join(outDir, "prefill.mjs"),
  bundle: true, platform: "node", format: "esm", target: "node20",
  external: ["webgpu"], loader: { ".wgsl": "text" }, logLevel: "warning",
  define: { __PREFILL_V1_WGSL__: JSON.stringify(v1) },
});
copyFileSync(path.join(root, "bench/sdpa_prefill.py"), path.join(outDir, "sdpa_prefill.py"));
console.log("bench-dist/prefill/prefill.mjs, bench-dist/prefill/sdpa_prefill.py");
