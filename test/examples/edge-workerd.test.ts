// examples/edge under workerd (the Cloudflare Workers runtime, from npm), as a user deploys it:
// bundled against the package's `workerd` condition, whose entry imports control.wasm and
// cpu.wasm as modules (Workers refuse to compile wasm bytes at run time). The model location
// comes in as the MODEL_URL binding (env, the handler's second argument), served over HTTP by
// this test. Node only: it spawns processes. Needs `node scripts/build.mjs --no-types` first.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { runtime, sharedBase } from "../harness/env";

if (runtime === "node") {
  const t = suite("examples/edge under workerd");
  t("answers a prompt on the CPU backend with compression, model from the MODEL_URL binding", async () => {
    const { spawn } = await import("node:child_process");
    const fs = await import("node:fs");
    const http = await import("node:http");
    const os = await import("node:os");
    const path = await import("node:path");
    const root = process.cwd();
    // by file URL: the test bundler must not pull esbuild itself into the test bundle
    const esbuild = ((await import(`file://${root}/node_modules/esbuild/lib/main.js`)) as { default: typeof import("esbuild") }).default;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvc-workerd-"));
    const shared = sharedBase();
    const models = http.createServer((req, res) => {
      const file = path.join(shared, "models", decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname));
      if (!file.startsWith(path.join(shared, "models")) || !fs.existsSync(file)) return void res.writeHead(404).end();
      res.writeHead(200, { "content-length": fs.statSync(file).size }).end(fs.readFileSync(file));
    });
    await new Promise<void>((r) => models.listen(0, "127.0.0.1", r));
    const modelPort = (models.address() as { port: number }).port;
    let worker: ReturnType<typeof spawn> | undefined;
    try {
      await esbuild.build({
        entryPoints: [path.join(root, "examples/edge/handler.ts")], bundle: true, format: "esm", platform: "neutral",
        outfile: path.join(dir, "worker.mjs"), conditions: ["workerd", "worker", "browser"], logLevel: "error",
        alias: { kvcompress: path.join(root, "dist/kvcompress.workerd.js") }, external: ["./control.wasm", "./cpu.wasm"],
      });
      for (const w of ["control.wasm", "cpu.wasm"]) fs.copyFileSync(path.join(root, "dist", w), path.join(dir, w));
      const port = 20000 + Math.floor(Math.random() * 20000);
      fs.writeFileSync(path.join(dir, "config.capnp"), `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .edge),
    (name = "models", external = (address = "127.0.0.1:${modelPort}", http = ())),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const edge :Workerd.Worker = (
  modules = [
    (name = "worker.mjs", esModule = embed "worker.mjs"),
    (name = "control.wasm", wasm = embed "control.wasm"),
    (name = "cpu.wasm", wasm = embed "cpu.wasm"),
  ],
  bindings = [ (name = "MODEL_URL", text = "http://models.local/stories260K/") ],
  globalOutbound = "models",
  compatibilityDate = "2025-01-01",
  compatibilityFlags = ["nodejs_compat"],
);
`);
      let log = "";
      worker = spawn(path.join(root, "node_modules/.bin/workerd"), ["serve", path.join(dir, "config.capnp")], { stdio: ["ignore", "pipe", "pipe"] });
      worker.stdout!.on("data", (d) => (log += d));
      worker.stderr!.on("data", (d) => (log += d));
      let res: Response | undefined;
      const prompt = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";
      for (let i = 0; i < 100 && !res; i++) {
        try {
          res = await fetch(`http://127.0.0.1:${port}/?prompt=${encodeURIComponent(prompt)}&tokens=40&ratio=4`);
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.ok(res, `workerd did not answer: ${log}`);
      const text = await res!.text();
      assert.is(res!.status, 200, `${text}\n${log}`);
      const body = JSON.parse(text);
      console.log(`  workerd edge: backend ${body.backend}, ${body.generatedTokens} tokens, ${body.kv.passes} passes, ratio ${body.kv.achievedRatio.toFixed(2)}x`);
      assert.is(body.backend, "cpu");
      assert.is(body.generatedTokens, 40);
      assert.ok(body.kv.passes > 0, "the budget was enforced while decoding");
      assert.ok(body.kv.bytesInUse < body.kv.bytesUncompressed);
    } finally {
      worker?.kill();
      models.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  t.run();
}
