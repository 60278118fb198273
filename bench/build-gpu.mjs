// bench/build-gpu.mjs — bundle bench/decode.bench.ts into ONE file for the GPU machine:
// bench-dist/decode.mjs, importing only `webgpu` (WGSL inlined as text).
// The bundle carries the last committed figures of the scattered layout (docs/bench/gpu-*.json,
// newest commit first; sweep and probe files skipped; BENCH_BASELINE=path picks another): the
// bench prints each shape against them and flags a regression beyond 10%.
import * as esbuild from "esbuild";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function lastCommitted() {
  if (process.env.BENCH_BASELINE) return process.env.BENCH_BASELINE;
  let log = "";
  try {
    log = execFileSync("git", ["log", "--format=%x00", "--name-only", "--", "docs/bench/gpu-*.json"], { cwd: root, encoding: "utf8" });
  } catch { return undefined; }
  // Commits newest first; within one commit the shortest name (the main run, not its variants).
  for (const commit of log.split("\0").slice(1)) {
    const names = commit.split("\n").map((s) => s.trim()).filter((s) => s && !/sweep|probe/.test(s)).sort((a, b) => a.length - b.length);
    for (const name of names) {
      try {
        const j = JSON.parse(readFileSync(path.join(root, name), "utf8"));
        if (j.blocks === "scattered" && j.results?.some((r) => r.kind === "decode")) return name;
      } catch { /* deleted since, or not JSON */ }
    }
  }
  return undefined;
}

const baselineFile = lastCommitted();
const baseline = baselineFile ? JSON.parse(readFileSync(path.resolve(root, baselineFile), "utf8")) : null;
await esbuild.build({
  entryPoints: [path.join(root, "bench/decode.bench.ts")],
  outfile: path.join(root, "bench-dist/decode.mjs"),
  bundle: true, platform: "node", format: "esm", target: "node20",
  external: ["webgpu"], loader: { ".wgsl": "text" }, logLevel: "warning",
  define: {
    __BENCH_BASELINE__: JSON.stringify(baseline ? { file: baselineFile, rows: baseline.results.filter((r) => r.kind === "decode") } : null),
  },
});
console.log(`bench-dist/decode.mjs (baseline: ${baselineFile ?? "none"})`);
