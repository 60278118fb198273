// bench/build-smm.mjs — bundle bench/smm.bench.ts into bench-dist/smm/smm.mjs for the GPU machine:
// one file importing only `webgpu`, WGSL as text, the control/cpu wasm embedded.
import * as esbuild from "esbuild";
import path from "node:path";
import { commonOptions, repoRoot } from "../scripts/esbuild-plugins.mjs";

await esbuild.build({
  ...commonOptions("release"),
  entryPoints: [path.join(repoRoot, "bench/smm.bench.ts")],
  outfile: path.join(repoRoot, "bench-dist/smm/smm.mjs"),
  platform: "node", target: "node20", external: ["webgpu"],
});
console.log("bench-dist/smm/smm.mjs");
