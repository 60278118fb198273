// Builds what ships: release wasm, then with esbuild
//   dist/kvcompress.browser.js  single-file ESM for browsers/CDNs (wasm + WGSL embedded)
//   dist/kvcompress.node.js     Node entry (imports the `webgpu` package at run time)
//   dist/kvcompress.deno.js     Deno entry (navigator.gpu)
//   dist/kvcompress.workerd.js  workerd / Cloudflare Workers entry: imports ./control.wasm and
//                               ./cpu.wasm (shipped beside it) as modules, which Workers require
//   dist/cli.mjs                the `kvcompress` command (bin/kvcompress.mjs loads it)
//   dist/types/                 .d.ts from tsc
// Browser, Deno and workerd bundles swap sdk/node-gpu.ts for sdk/node-gpu.none.ts, so nothing
// Node-only (`webgpu`, node:*, module) is reachable there and a bundler of a web app resolves all.
// `--wasm-only` stops after the wasm; `--no-types` skips tsc (the CLI path uses it).
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import * as esbuild from "esbuild";
import { buildWasm } from "./build-wasm.mjs";
import { commonOptions, noNodeGpuPlugin, repoRoot, wasmModulesPlugin } from "./esbuild-plugins.mjs";

const args = process.argv.slice(2);
buildWasm(["debug", "release"]);
if (args.includes("--wasm-only")) process.exit(0);

const dist = path.join(repoRoot, "dist");
const targets = [
  { entry: "sdk/browser.ts", out: "kvcompress.browser.js", platform: "browser" },
  { entry: "sdk/node.ts", out: "kvcompress.node.js", platform: "node" },
  { entry: "sdk/deno.ts", out: "kvcompress.deno.js", platform: "browser" },
  { entry: "sdk/workerd.ts", out: "kvcompress.workerd.js", platform: "browser", wasmModules: true },
  { entry: "sdk/cli/main.ts", out: "cli.mjs", platform: "node" },
];
mkdirSync(dist, { recursive: true });
for (const name of ["control", "cpu"]) copyFileSync(path.join(repoRoot, "build", "wasm", `${name}.release.wasm`), path.join(dist, `${name}.wasm`));
for (const t of targets) {
  if (!existsSync(path.join(repoRoot, t.entry))) continue;
  const base = commonOptions("release");
  const plugins = [...(t.platform === "browser" ? [noNodeGpuPlugin()] : []), ...(t.wasmModules ? [wasmModulesPlugin()] : []), ...base.plugins];
  await esbuild.build({
    ...base,
    plugins,
    // Class names survive minification so errors print as `NoGpuAdapterError: …`, not `Y: …`.
    keepNames: true,
    entryPoints: [path.join(repoRoot, t.entry)],
    outfile: path.join(dist, t.out),
    platform: t.platform,
    external: ["webgpu", "node:*"],
    minify: t.platform === "browser",
    sourcemap: "linked",
  });
}
if (!args.includes("--no-types")) {
  rmSync(path.join(dist, "types"), { recursive: true, force: true });
  const tsc = path.join(repoRoot, "node_modules", ".bin", "tsc");
  const res = spawnSync(tsc, ["-p", "tsconfig.build.json"], { cwd: repoRoot, stdio: "inherit" });
  if (res.status !== 0) process.exit(res.status ?? 1);
}
