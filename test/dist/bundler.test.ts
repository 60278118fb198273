// A web app that bundles kvcompress from npm (issue 14): esbuild, platform browser, resolving
// "kvcompress" through package.json's exports must find every import (no `webgpu`, node:* or
// `module`), and the minified output keeps error class names. Node only (it runs esbuild).
// Needs `node scripts/build.mjs --no-types` first.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { runtime } from "../harness/env";

if (runtime === "node") {
  const t = suite("bundling kvcompress into a browser app");
  for (const entry of ["browser", "deno", "workerd"]) {
    t(`dist/kvcompress.${entry}.js has no Node-only import and no literal "webgpu" import`, async () => {
      const fs = await import("node:fs");
      const js = fs.readFileSync(`dist/kvcompress.${entry}.js`, "utf8");
      assert.not.match(js, /(import\(|from\s*|require\()\s*["'`](webgpu|node:[a-z_/]+|module|fs|path|url)["'`]/);
      assert.match(js, /NoGpuAdapterError/);
    });
  }
  t("esbuild bundles an app importing kvcompress for the browser with no unresolved import", async () => {
    const fs = await import("node:fs");
    const os = await import("node:os");
    const path = await import("node:path");
    const root = process.cwd();
    // by file URL: the test bundler must not pull esbuild itself into the test bundle
    const esbuild = ((await import(`file://${root}/node_modules/esbuild/lib/main.js`)) as { default: typeof import("esbuild") }).default;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvc-app-"));
    try {
      fs.mkdirSync(path.join(dir, "node_modules"));
      fs.symlinkSync(root, path.join(dir, "node_modules", "kvcompress"), "dir"); // as `npm link` would
      fs.writeFileSync(path.join(dir, "app.js"), `import { createKvCache, NoGpuAdapterError } from "kvcompress";
try { await createKvCache({ numLayers: 1, numQHeads: 2, numKvHeads: 1, headSize: 16, capacityTokens: 32, maxContextTokens: 32 }, { backend: "gpu" }); }
catch (e) { console.log(e instanceof NoGpuAdapterError ? e.name : "other"); }
`);
      const res = await esbuild.build({
        entryPoints: [path.join(dir, "app.js")], bundle: true, platform: "browser", format: "esm", minify: true,
        outfile: path.join(dir, "out.js"), write: true, logLevel: "silent", metafile: true,
      });
      assert.equal(res.errors, []);
      const inputs = Object.keys(res.metafile!.inputs);
      assert.ok(inputs.some((p) => p.includes("kvcompress.browser.js")), `resolved to the browser entry: ${inputs.join(", ")}`);
      assert.not.ok(inputs.some((p) => /node_modules[\\/]webgpu/.test(p)), "webgpu is not bundled");
    } catch (err) {
      const errors = (err as { errors?: { text: string }[] }).errors;
      assert.unreachable(errors ? errors.map((e) => e.text).join("\n") : String(err));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  t.run();
}
