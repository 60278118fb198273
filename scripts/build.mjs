// Builds what ships: release wasm, then with esbuild
//   dist/kvcompress.browser.js  single-file ESM for browsers/CDNs (wasm + WGSL embedded)
//   dist/kvcompress.node.js     Node entry (imports the `webgpu` package at run time)
//   dist/kvcompress.deno.js     Deno entry (navigator.gpu)
//   dist/kvcompress.workerd.js  workerd / Cloudflare Workers entry: imports ./control.wasm and
//                               ./cpu.wasm (shipped beside it) as modules, which Workers require
//   dist/cli.mjs                the `kvcompress` command (bin/kvcompress.mjs loads it)
//   dist/kvcompress.<entry>.d.ts one bundled declaration file per entry
// Browser, Deno and workerd bundles swap sdk/node-gpu.ts for sdk/node-gpu.none.ts, so nothing
// Node-only (`webgpu`, node:*, module) is reachable there and a bundler of a web app resolves all.
// `--wasm-only` stops after the wasm; `--no-types` skips tsc (the CLI path uses it).
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
  // Types: tsc writes per-file .d.ts to build/types (extensionless relative imports, which
  // `nodenext` rejects), then dts-bundle-generator rolls them into one self-contained file per
  // entry, with a reference to @webgpu/types (GPUDevice, …), valid under nodenext, node16 and
  // bundler alike. dts-bundle-generator because it bundles from the compiler API alone (no
  // rollup pipeline to keep beside esbuild) and is kept up with TypeScript releases.
  const typesDir = path.join(repoRoot, "build", "types");
  rmSync(typesDir, { recursive: true, force: true });
  rmSync(path.join(dist, "types"), { recursive: true, force: true });
  const bin = (n) => path.join(repoRoot, "node_modules", ".bin", n);
  const run = (cmd, argv) => {
    const res = spawnSync(cmd, argv, { cwd: repoRoot, stdio: ["ignore", "inherit", "inherit"] });
    if (res.status !== 0) process.exit(res.status ?? 1);
  };
  run(bin("tsc"), ["-p", "tsconfig.build.json", "--outDir", typesDir]);
  const cfg = path.join(typesDir, "tsconfig.json");
  writeFileSync(cfg, JSON.stringify({
    compilerOptions: { target: "es2022", module: "esnext", moduleResolution: "bundler", lib: ["es2022", "dom"], types: ["@webgpu/types"], strict: true },
    files: ["sdk/index.d.ts"],
  }));
  const bundled = path.join(typesDir, "kvcompress.d.ts");
  run(bin("dts-bundle-generator"), ["--silent", "--project", cfg, "--export-referenced-types=false", "-o", bundled, path.join(typesDir, "sdk", "index.d.ts")]);
  const text = `/// <reference types="@webgpu/types" />\n${readFileSync(bundled, "utf8")}`;
  // Every entry has the same API, so each gets the same declarations beside its .js.
  for (const name of ["browser", "node", "deno", "workerd"]) writeFileSync(path.join(dist, `kvcompress.${name}.d.ts`), text);
}
