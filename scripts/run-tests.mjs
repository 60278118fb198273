// The test harness: bundles every test/**/*.test.ts into one ESM file per runtime and runs it in
// Node (Dawn on SwiftShader), Deno (lavapipe, else SwiftShader) and headless Chromium
// (SwiftShader, driven by playwright-core, pages served from http://127.0.0.1).
//
//   node scripts/run-tests.mjs [--runtime node|deno|chromium|all] [--filter SUBSTRING]
//
// Prints one line per runtime, "node: N passed, N failed[, N skipped]", then the totals, and exits
// non-zero on any failure or on a runtime that ran no test (skipped tests are not passed: a test
// whose feature the adapter lacks calls test/harness/skip.ts skip() and is listed as SKIPPED).
// The few files one runtime leaves to the others (NOT_IN) are named in its output.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import * as esbuild from "esbuild";
import { buildWasm } from "./build-wasm.mjs";
import { commonOptions, repoRoot } from "./esbuild-plugins.mjs";
import { runInChromium } from "./chromium.mjs";

const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";
const LAVAPIPE_ICD = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json";
// A runtime that hangs is killed after this long (CI allows 90 minutes for all three together).
const RUNTIME_TIMEOUT_MS = 30 * 60 * 1000;
// The straight-loop kernel suites run where the Vulkan driver differs (Node: SwiftShader, Deno:
// lavapipe), not again in Chromium, whose adapter is SwiftShader too. Chromium still compiles and
// runs the kernels the SDK picks on its adapter through the engine and cache suites (test/engine,
// test/sdk, test/model), checked end to end against references; the list is printed per run.
const NOT_IN = {
  chromium: ["test/gpu/decode.test.ts", "test/gpu/prefill.test.ts", "test/gpu/model/kernels.test.ts", "test/gpu/backend.test.ts", "test/gpu/devicePass.test.ts"],
};

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const runtimes = (opt("--runtime", "all") === "all" ? "node,deno,chromium" : opt("--runtime")).split(",");
const filter = opt("--filter", "");

function findTests(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findTests(p));
    else if (entry.name.endsWith(".test.ts")) out.push(p);
  }
  return out.sort();
}

async function bundle(runtime, files) {
  const outDir = path.join(repoRoot, "build", "test");
  mkdirSync(outDir, { recursive: true });
  const entry = path.join(outDir, `entry.${runtime}.ts`);
  const lines = files.map((f) => {
    const rel = path.relative(repoRoot, f);
    return `  [${JSON.stringify(rel)}, () => import(${JSON.stringify(f)})],`;
  });
  writeFileSync(entry, [
    `import { runAll } from ${JSON.stringify(path.join(repoRoot, "test/harness/runner.ts"))};`,
    `const result = await runAll([`, ...lines, `]);`,
    `const line = "__KVC_RESULT__ " + JSON.stringify({ passed: result.passed, failed: result.failed, skipped: result.skipped });`,
    `console.log(line);`,
    `(globalThis as any).__kvcResult = result;`,
    runtime === "node" ? `process.exit(result.failed > 0 ? 1 : 0);` : "",
    // Deno: set the exit code and let the event loop drain; Deno.exit() while wgpu objects
    // from a second module instance (the dist bundle) were alive segfaulted in teardown.
    runtime === "deno" ? `(globalThis as any).Deno.exitCode = result.failed > 0 ? 1 : 0;` : "",
  ].join("\n"));
  const outfile = path.join(outDir, `tests.${runtime}.mjs`);
  await esbuild.build({
    ...commonOptions("debug"),
    entryPoints: [entry],
    outfile,
    platform: runtime === "node" ? "node" : "browser",
    external: ["webgpu", "node:*"],
    // Examples import the package by name, as users do.
    alias: { kvcompress: path.join(repoRoot, "sdk", "index.ts") },
    sourcemap: "inline",
    // uvu reads process.env only behind typeof checks; keep colour codes out of logs.
    define: runtime === "node" ? {} : { "process.env.NODE_ENV": '"test"' },
  });
  return outfile;
}

function runProcess(cmd, cmdArgs, env) {
  return new Promise((resolve) => {
    const child = spawn(cmd, cmdArgs, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      process.stdout.write(d);
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), RUNTIME_TIMEOUT_MS);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ out, code, signal });
    });
  });
}

function parseResult(out, code, signal) {
  const m = /__KVC_RESULT__ (\{.*\})/.exec(out);
  if (!m) return { passed: 0, failed: 1, note: `crashed before reporting (exit ${code ?? signal})` };
  const r = JSON.parse(m[1]);
  if (code !== 0 && r.failed === 0) return { ...r, failed: 1, note: `exited ${code ?? signal} after reporting` };
  return r;
}

async function runRuntime(runtime, file) {
  const xdg = path.join(repoRoot, "build", "xdg");
  mkdirSync(xdg, { recursive: true });
  const baseEnv = { FORCE_COLOR: "0", NO_COLOR: "1", XDG_RUNTIME_DIR: xdg };
  if (runtime === "node") {
    const { out, code, signal } = await runProcess(process.execPath, [file], { ...baseEnv, VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? SWIFTSHADER_ICD });
    return parseResult(out, code, signal);
  }
  if (runtime === "deno") {
    const deno = path.join(repoRoot, "node_modules", ".bin", "deno");
    const icd = process.env.KVC_DENO_ICD ?? (existsSync(LAVAPIPE_ICD) ? LAVAPIPE_ICD : SWIFTSHADER_ICD);
    const { out, code, signal } = await runProcess(deno, ["run", "-A", "--no-config", "--no-lock", file], { ...baseEnv, VK_ICD_FILENAMES: icd, DENO_NO_UPDATE_CHECK: "1" });
    return parseResult(out, code, signal);
  }
  if (runtime === "chromium") return runInChromium(file, RUNTIME_TIMEOUT_MS);
  throw new Error(`unknown runtime ${runtime}`);
}

const files = findTests(path.join(repoRoot, "test")).filter((f) => path.relative(repoRoot, f).includes(filter));
buildWasm(["debug"]);
const lines = [];
let passed = 0, failed = 0, skipped = 0, empty = false;
for (const runtime of runtimes) {
  const left = NOT_IN[runtime] ?? [];
  const here = files.filter((f) => !left.includes(path.relative(repoRoot, f)));
  console.log(`\n=== ${runtime}: ${here.length} test files`);
  const out = files.filter((f) => !here.includes(f)).map((f) => path.relative(repoRoot, f));
  if (out.length) console.log(`not run in ${runtime} (run in ${runtimes.filter((r) => r !== runtime).join(", ") || "another runtime"}): ${out.join(", ")}`);
  if (!here.length) { lines.push(`${runtime}: no test file of this filter runs here`); continue; }
  const file = await bundle(runtime, here);
  const r = await runRuntime(runtime, file);
  passed += r.passed;
  failed += r.failed;
  skipped += r.skipped ?? 0;
  const ran = r.passed + r.failed + (r.skipped ?? 0);
  if (ran === 0) empty = true;
  lines.push(`${runtime}: ${r.passed} passed, ${r.failed} failed${r.skipped ? `, ${r.skipped} skipped` : ""}${r.note ? ` (${r.note})` : ""}${ran === 0 ? " (ran no test)" : ""}`);
}
console.log("");
for (const line of lines) console.log(line);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 || empty || passed + failed === 0 ? 1 : 0);
