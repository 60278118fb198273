// Compiles the AssemblyScript modules: assembly/index.ts → build/wasm/control.*.wasm (the
// control plane) and assembly/cpu/index.ts → build/wasm/cpu.*.wasm (control plane + SIMD kernels of
// the CPU backend). "debug" keeps assertions (tests), "release" is optimized (dist).
// Skips a module whose outputs are newer than every file under assembly/.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { repoRoot } from "./esbuild-plugins.mjs";

const MODULES = [
  { name: "control", entry: "assembly/index.ts" },
  { name: "cpu", entry: "assembly/cpu/index.ts" },
];

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** @param {("debug"|"release")[]} variants */
export function buildWasm(variants = ["debug", "release"], { force = false } = {}) {
  const asc = path.join(repoRoot, "node_modules", ".bin", "asc");
  const srcTime = Math.max(newestMtime(path.join(repoRoot, "assembly")), statSync(path.join(repoRoot, "asconfig.json")).mtimeMs);
  mkdirSync(path.join(repoRoot, "build", "wasm"), { recursive: true });
  for (const mod of MODULES) {
    if (!existsSync(path.join(repoRoot, mod.entry))) continue;
    for (const variant of variants) {
      const out = `build/wasm/${mod.name}.${variant}.wasm`;
      const outPath = path.join(repoRoot, out);
      if (!force && existsSync(outPath) && statSync(outPath).mtimeMs > srcTime) continue;
      const args = [mod.entry, "--config", "asconfig.json", "--target", variant, "--outFile", out];
      const res = spawnSync(asc, args, { cwd: repoRoot, stdio: "inherit" });
      if (res.status !== 0) throw new Error(`asc failed for ${mod.entry} (${variant})`);
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const variants = process.argv.includes("--debug-only") ? ["debug"] : ["debug", "release"];
  buildWasm(variants, { force: process.argv.includes("--force") });
}
