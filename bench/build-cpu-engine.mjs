// bench/build-cpu-engine.mjs — bundle bench/cpu_engine.bench.ts into bench-dist/cpu_engine.mjs
// (Node, release wasm embedded; no WebGPU: the CPU backend only).
import * as esbuild from "esbuild";
import path from "node:path";
import { commonOptions, repoRoot } from "../scripts/esbuild-plugins.mjs";

await esbuild.build({
  ...commonOptions("release"),
  entryPoints: [path.join(repoRoot, "bench/cpu_engine.bench.ts")],
  outfile: path.join(repoRoot, "bench-dist/cpu_engine.mjs"),
  platform: "node", target: "node20", external: ["webgpu"],
});
console.log("bench-dist/cpu_engine.mjs");
