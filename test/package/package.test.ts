// The package as npm ships it (issue 14): `npm pack` the built tree, lint the tarball with
// publint and arethetypeswrong, install it into a fresh folder (offline, from npm's cache;
// the optional `webgpu` peer is not installed), import it from a .mjs, type-check a .ts file
// against it under nodenext, node16 and bundler resolution, and run its `kvcompress` command.
// Node only: it spawns processes. Needs `node scripts/build.mjs` (with types) first.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { runtime } from "../harness/env";

if (runtime === "node") {
  const t = suite("npm package (packed tarball)");
  t("packs, lints, installs offline, imports, type-checks and runs its CLI", async () => {
    const { spawnSync } = await import("node:child_process");
    const fs = await import("node:fs");
    const os = await import("node:os");
    const path = await import("node:path");
    const root = process.cwd();
    const bin = (n: string) => path.join(root, "node_modules", ".bin", n);
    const sh = (cmd: string, argv: string[], cwd: string) => {
      const r = spawnSync(cmd, argv, { cwd, encoding: "utf8", env: { ...process.env, npm_config_update_notifier: "false" } });
      const out = `${r.stdout}\n${r.stderr}`;
      assert.is(r.status, 0, `${cmd} ${argv.join(" ")} failed:\n${out}`);
      return out;
    };
    for (const f of ["kvcompress.browser.d.ts", "kvcompress.workerd.js", "control.wasm"]) {
      assert.ok(fs.existsSync(path.join(root, "dist", f)), `dist/${f} missing: run node scripts/build.mjs`);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvc-pkg-"));
    try {
      // --ignore-scripts: the tree is built already; prepack would only rebuild it.
      const packed = JSON.parse(sh("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", dir], root).replace(/^[^[]*/s, "").replace(/\][^\]]*$/s, "]"));
      const tarball = path.join(dir, packed[0].filename);
      const files: string[] = packed[0].files.map((f: { path: string }) => f.path);
      for (const f of ["LICENSE", "dist/kvcompress.browser.js", "dist/kvcompress.node.d.ts", "dist/cpu.wasm", "dist/cli.mjs", "bin/kvcompress.mjs"]) assert.ok(files.includes(f), `${f} is in the tarball`);
      assert.not.ok(files.some((f) => f.endsWith(".map") || f.startsWith("src/")), "no sources or maps in the tarball");
      sh(bin("publint"), ["--strict", tarball], root);
      sh(bin("attw"), [tarball, "--profile", "esm-only", "--format", "ascii"], root);

      const app = path.join(dir, "app");
      fs.mkdirSync(app);
      fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
      // Offline: kvcompress's one dependency, @webgpu/types, comes from this repo's node_modules
      // (npm's cache holds its tarball but not its registry metadata after `npm ci`).
      sh("npm", ["install", tarball, path.join(root, "node_modules/@webgpu/types"), "--install-links", "--offline", "--no-audit", "--no-fund", "--ignore-scripts"], app);
      assert.not.ok(fs.existsSync(path.join(app, "node_modules", "webgpu")), "webgpu is an optional peer, not installed");
      fs.writeFileSync(path.join(app, "main.mjs"), `import { createKvCache, PRESETS, ConfigError } from "kvcompress";
const cache = await createKvCache({ ...PRESETS["tinystories-656K"], blockSize: 8, capacityTokens: 64, maxContextTokens: 64, policy: { name: "kvcompress", ratio: 2 } }, { backend: "cpu" });
console.log("backend", cache.backendKind, new ConfigError("x", "y").name);
cache.destroy();
`);
      assert.match(sh("node", ["main.mjs"], app), /backend cpu ConfigError/);
      fs.writeFileSync(path.join(app, "main.ts"), `import { createKvCache, requestGpuDevice, type KvCache } from "kvcompress";
const cache: KvCache = await createKvCache({ numLayers: 2, numQHeads: 4, numKvHeads: 2, headSize: 16, capacityTokens: 64, maxContextTokens: 64, policy: { name: "kvcompress", ratio: 2 } }, { backend: "cpu" });
const device: GPUDevice = (await requestGpuDevice()).device;
// @ts-expect-error: a typo in a field must not type-check (the import is not \`any\`)
cache.statz();
export { device };
`);
      for (const [mod, res] of [["nodenext", "nodenext"], ["node16", "node16"], ["esnext", "bundler"]]) {
        sh(bin("tsc"), ["--noEmit", "--strict", "--target", "es2022", "--module", mod, "--moduleResolution", res, "main.ts"], app);
      }
      assert.match(sh("npx", ["--offline", "kvcompress", "info", "--backend", "cpu"], app), /backend: cpu/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  t.run();
}
