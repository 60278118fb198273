// bench/build-pass.mjs — bundle bench/pass.bench.ts into bench-dist/pass/pass.mjs for the GPU
// machine: one file importing only `webgpu`, WGSL as text, the control wasm embedded.
import * as esbuild from "esbuild";
import path from "node:path";
import { commonOptions, repoRoot } from "../scripts/esbuild-plugins.mjs";

const outDir = process.argv[2] ?? path.join(repoRoot, "bench-dist/pass");
await esbuild.build({
  ...commonOptions("release"),
  entryPoints: [path.join(repoRoot, "bench/pass.bench.ts")],
  outfile: path.join(outDir, "pass.mjs"),
  platform: "node", target: "node20", external: ["webgpu"],
});
console.log(path.join(outDir, "pass.mjs"));
