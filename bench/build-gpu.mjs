// bench/build-gpu.mjs — bundle bench/decode.bench.ts into ONE file for the GPU machine:
// bench-dist/decode.mjs, importing only `webgpu` (WGSL inlined as text).
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
await esbuild.build({
  entryPoints: [path.join(root, "bench/decode.bench.ts")],
  outfile: path.join(root, "bench-dist/decode.mjs"),
  bundle: true, platform: "node", format: "esm", target: "node20",
  external: ["webgpu"], loader: { ".wgsl": "text" }, logLevel: "warning",
});
console.log("bench-dist/decode.mjs");
