// bench/build-serve.mjs — bundle bench/serve.bench.ts into bench-dist/serve/serve.mjs for the GPU
// machine: one file importing only `webgpu`, WGSL as text, the control/cpu wasm embedded.
import * as esbuild from "esbuild";
import path from "node:path";
import { commonOptions, repoRoot } from "../scripts/esbuild-plugins.mjs";

await esbuild.build({
  ...commonOptions("release"),
  entryPoints: [path.join(repoRoot, "bench/serve.bench.ts")],
  outfile: path.join(repoRoot, "bench-dist/serve/serve.mjs"),
  platform: "node", target: "node20", external: ["webgpu"],
});
console.log("bench-dist/serve/serve.mjs");
