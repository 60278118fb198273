// Every example run exactly as its header says (issue 14), against the built dist/: the Node
// example in plain Node, the Deno example with its import map, and examples/edge under
// `deno serve` with MODEL_URL from the environment (served over HTTP by this test). Each must
// print (or answer) the backend it really used. Node only: it spawns processes.
// Needs `node scripts/build.mjs --no-types` first. (workerd: edge-workerd.test.ts.)
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { runtime, sharedBase } from "../harness/env";

if (runtime === "node") {
  const t = suite("examples, run as their headers say");
  const deno = () => `${process.cwd()}/node_modules/.bin/deno`;
  const run = async (cmd: string, argv: string[], env: Record<string, string> = {}) => {
    const { spawnSync } = await import("node:child_process");
    const r = spawnSync(cmd, argv, { encoding: "utf8", env: { ...process.env, ...env }, timeout: 60_000 });
    assert.is(r.status, 0, `${cmd} ${argv.join(" ")}:\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };

  t("node examples/node-basic/main.mjs ../shared/models/stories260K", async () => {
    const out = await run("node", ["examples/node-basic/main.mjs", `${sharedBase()}/models/stories260K`]);
    assert.match(out, /backend (cpu \(wasm-simd\)|gpu \(.+\)): [\d.]+ tok\/s, \d+ B of KV in use vs \d+ B uncompressed/);
  });

  t("deno run -A --import-map examples/deno-basic/import_map.json examples/deno-basic/main.ts", async () => {
    const out = await run(deno(), ["run", "-A", "--import-map", "examples/deno-basic/import_map.json", "examples/deno-basic/main.ts"]);
    assert.match(out, /backend (cpu \(wasm-simd\)|gpu \(.+\)); kept KVs per head: (32 ){7}32/);
  });

  t("deno serve examples/edge/handler.ts with MODEL_URL in the environment", async () => {
    const { spawn } = await import("node:child_process");
    const fs = await import("node:fs");
    const http = await import("node:http");
    const path = await import("node:path");
    const modelsDir = path.join(sharedBase(), "models");
    const models = http.createServer((req, res) => {
      const file = path.join(modelsDir, decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname));
      if (!file.startsWith(modelsDir) || !fs.existsSync(file) || !fs.statSync(file).isFile()) return void res.writeHead(404).end();
      res.writeHead(200, { "content-length": fs.statSync(file).size }).end(fs.readFileSync(file));
    });
    await new Promise<void>((r) => models.listen(0, "127.0.0.1", r));
    const modelUrl = `http://127.0.0.1:${(models.address() as { port: number }).port}/stories260K/`;
    const port = 20000 + Math.floor(Math.random() * 20000);
    let log = "";
    const server = spawn(deno(), ["serve", "-A", "--port", String(port), "--import-map", "examples/edge/import_map.json", "examples/edge/handler.ts"], {
      env: { ...process.env, MODEL_URL: modelUrl }, stdio: ["ignore", "pipe", "pipe"],
    });
    server.stdout!.on("data", (d) => (log += d));
    server.stderr!.on("data", (d) => (log += d));
    try {
      let res: Response | undefined;
      for (let i = 0; i < 150 && !res; i++) {
        try {
          res = await fetch(`http://127.0.0.1:${port}/?prompt=${encodeURIComponent("Once upon a time, there was a little girl named Lily. She loved to play outside.")}&tokens=40&ratio=4`);
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.ok(res, `deno serve did not answer: ${log}`);
      const text = await res!.text();
      assert.is(res!.status, 200, `${text}\n${log}`);
      const body = JSON.parse(text);
      assert.is(body.backend, "cpu");
      assert.is(body.generatedTokens, 40);
      assert.ok(body.kv.passes > 0 && body.kv.bytesInUse < body.kv.bytesUncompressed, JSON.stringify(body.kv));
    } finally {
      server.kill();
      models.close();
    }
  });
  t.run();
}
