// The CLI against careless and hostile input (issue 15): bad flags exit 2 with a message naming
// the flag before any model is loaded, other failures exit 1 with one line and no stack trace
// (unless --debug), and downloads from a 127.0.0.1 hub never leave a wrong or partial file in
// the cache: concurrent runs share one download, a silent server trips the stall timeout, an
// HTML answer or a body past the cap is refused, and size/hash mismatches with the hub's
// metadata are caught. Node and Deno only (subprocesses and a local server).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { runtime, sharedBase } from "../harness/env";

interface Run { code: number; stdout: string; stderr: string }

async function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  const { spawn } = (await import("node:child_process" as string)) as typeof import("node:child_process");
  const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
  const [cmd, pre] = deno ? [deno.execPath(), ["run", "-A", "--no-config", "--no-lock"]] : [process.execPath, []];
  const baseEnv: Record<string, string | undefined> = { ...process.env, KVCOMPRESS_MODELS: `${sharedBase()}/models`, ...env };
  for (const k of Object.keys(baseEnv)) if (baseEnv[k] === undefined) delete baseEnv[k];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...pre, "bin/kvcompress.mjs", ...args], { env: baseEnv as Record<string, string>, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    // Bounded: a hang is a failure, not a stuck test run.
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.stdout!.on("data", (d: Uint8Array) => { stdout += new TextDecoder().decode(d); });
    child.stderr!.on("data", (d: Uint8Array) => { stderr += new TextDecoder().decode(d); });
    child.on("error", reject);
    child.on("close", (code: number | null) => { clearTimeout(timer); resolve({ code: code ?? -1, stdout, stderr }); });
  });
}

const noStack = (r: Run, what: string) => assert.not.match(r.stderr, /\n\s+at /, `${what}: a message, not a stack trace:\n${r.stderr}`);

type Handler = (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse, file: string, bytes: Uint8Array) => void | Promise<void>;

/** A hub on 127.0.0.1 serving stories260K through `handle`; GETs are counted per file. */
async function withHub(handle: Handler, body: (env: Record<string, string | undefined>, gets: Map<string, number>, cacheHome: string) => Promise<void>): Promise<void> {
  const http = (await import("node:http" as string)) as typeof import("node:http");
  const fs = (await import("node:fs/promises" as string)) as typeof import("node:fs/promises");
  const os = (await import("node:os" as string)) as typeof import("node:os");
  const gets = new Map<string, number>();
  const server = http.createServer(async (req, res) => {
    const m = /^\/karpathy\/tinyllamas\/resolve\/main\/stories260K\/(stories260K\.bin|tok512\.bin)$/.exec(req.url!);
    if (!m) { res.writeHead(404).end(); return; }
    if (req.method === "GET") gets.set(m[1], (gets.get(m[1]) ?? 0) + 1);
    await handle(req, res, m[1], await fs.readFile(`${sharedBase()}/models/stories260K/${m[1]}`));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  const cacheHome = await fs.mkdtemp(`${os.tmpdir()}/kvc-hub-`);
  try {
    await body({ KVCOMPRESS_MODELS: undefined, XDG_CACHE_HOME: cacheHome, KVCOMPRESS_HF_BASE: `http://127.0.0.1:${port}` }, gets, cacheHome);
  } finally {
    server.closeAllConnections();
    server.close();
    await fs.rm(cacheHome, { recursive: true, force: true });
  }
}

const serveWhole: Handler = (_req, res, _file, bytes) => { res.writeHead(200, { "content-length": String(bytes.byteLength) }).end(bytes); };

async function cachedFiles(cacheHome: string): Promise<string[]> {
  const fs = (await import("node:fs/promises" as string)) as typeof import("node:fs/promises");
  return (await fs.readdir(`${cacheHome}/kvcompress/models/stories260K`).catch(() => [] as string[])).sort();
}

const GEN = ["generate", "--prompt", "Once", "--max-tokens", "2", "--json", "--backend", "cpu"];

if (runtime !== "chromium") {
  const t = suite(`kvcompress CLI robustness (${runtime})`);

  t("usage errors: exit 2, the flag named, before any model is loaded", async () => {
    const fs = (await import("node:fs/promises" as string)) as typeof import("node:fs/promises");
    const os = (await import("node:os" as string)) as typeof import("node:os");
    const dir = await fs.mkdtemp(`${os.tmpdir()}/kvc-args-`);
    await fs.writeFile(`${dir}/text.txt`, "Once upon a time there was a cat.");
    // A model that does not exist: any case reaching the loader would say so instead.
    const never = ["--model", `${dir}/no-such-model`];
    const cases: [string[], RegExp][] = [
      [["generate", ...never, "--prompt", "x", "--temperature", "-1"], /--temperature must be ≥ 0/],
      [["generate", ...never, "--prompt", "x", "--temperature=-1"], /--temperature must be ≥ 0/],
      [["generate", ...never, "--prompt", "x", "--top-p", "2"], /--top-p must be in \(0, 1\]/],
      [["generate", ...never, "--prompt", "x", "--top-p", "0"], /--top-p/],
      [["generate", ...never, "--prompt", "x", "--ratio", "1e9"], /--ratio must be ≥ 1 and ≤/],
      [["generate", ...never, "--prompt", "x", "--ratio", "0"], /--ratio must be ≥ 1/],
      [["generate", ...never, "--prompt", "x", "--json=false"], /--json takes no value/],
      [["generate", ...never, "--prompt", "x", "--max-tokens", "1.5"], /--max-tokens must be an integer/],
      [["generate", ...never, "--prompt", "x", "--temperature", "0x10"], /--temperature must be a finite number/],
      [["generate", ...never, "--prompt", "x", "--policy", "lru"], /--policy: policy\.name.*lru/],
      [["generate", ...never, "--prompt", "x", "--backend", "tpu"], /--backend must be gpu or cpu/],
      [["generate", ...never, "--prompt", "x", "--storage", "f8"], /--storage must be f32, f16, q8 or q4/],
      [["generate", ...never, "--prompt", "x", "--bogus"], /unknown flag --bogus/],
      [["generate", ...never, "--prompt"], /--prompt needs a value/],
      [["generate", ...never, "--prompt-file", `${dir}/missing.txt`], /--prompt-file: cannot read .*no such file/],
      [["generate", ...never, "--prompt-file", dir], /--prompt-file: .* is a directory/],
      [["generate", ...never, "--prompt", "x", "stray"], /unexpected argument stray/],
      [["generate", ...never], /--prompt TEXT/],
      [["eval", "--model", `${dir}/no-such-model`, "--text", `${dir}/missing.txt`], /--text: cannot read/],
      [["eval", "--model", `${dir}/no-such-model`, "--text", dir], /--text: .* is a directory/],
      [["eval", "--model", `${dir}/no-such-model`, "--text", `${dir}/text.txt`, "--out", "/proc/kvc-x"], /--out: .*not a usable directory/],
      [["eval", "--model", `${dir}/no-such-model`, "--text", `${dir}/text.txt`, "--out", `${dir}/text.txt`], /--out: .*not a directory/],
      [["eval", "--json=false"], /--json: takes no value/],
      [["eval", "--model", "x"], /--text: is required/],
      // Bounded by the model's context (512 tokens): checked right after its config, before weights.
      [["generate", "--prompt", "x", "--max-tokens", "600"], /--max-tokens must be < the model's context of 512/],
      [["eval", "--model", "stories260K", "--text", `${dir}/text.txt`, "--window", "1024"], /--window: must be ≤ the model's context of 512/],
      [["frobnicate"], /unknown command/],
    ];
    try {
      for (const [args, message] of cases) {
        const r = await cli(args);
        assert.is(r.code, 2, `${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
        assert.match(r.stderr, message, `${args.join(" ")}: ${r.stderr}`);
        noStack(r, args.join(" "));
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  t("model errors: exit 1, the id or file named, no stack trace; --debug shows one", async () => {
    const fs = (await import("node:fs/promises" as string)) as typeof import("node:fs/promises");
    const os = (await import("node:os" as string)) as typeof import("node:os");
    const dir = await fs.mkdtemp(`${os.tmpdir()}/kvc-model-`);
    try {
      const stories = `${sharedBase()}/models/stories260K`;
      await fs.copyFile(`${stories}/stories260K.bin`, `${dir}/stories260K.bin`); // no tokenizer next to it
      const cases: [string[], RegExp][] = [
        [["generate", "--model", "constructor", "--prompt", "x"], /ModelSourceError: constructor: /],
        [["generate", "--model", "__proto__", "--prompt", "x"], /ModelSourceError: __proto__: /],
        [["generate", "--model", "toString", "--prompt", "x"], /ModelSourceError: toString: /],
        [["generate", "--model", dir, "--prompt", "x"], /tokenizer\.bin: not found/],
        [["generate", "--model", os.tmpdir(), "--prompt", "x"], /config\.json: not found/],
      ];
      for (const [args, message] of cases) {
        const r = await cli(args);
        assert.is(r.code, 1, `${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
        assert.match(r.stderr, message, `${args.join(" ")}: ${r.stderr}`);
        noStack(r, args.join(" "));
      }
      const debug = await cli(["generate", "--model", "constructor", "--prompt", "x", "--debug"]);
      assert.is(debug.code, 1);
      assert.match(debug.stderr, /\n\s+at /, "--debug prints the stack");
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  t("downloads: two concurrent runs of one id both succeed and fetch each file once", async () => {
    // Slow bodies so the two runs overlap: each file is sent in 8 pieces, 40 ms apart.
    const slow: Handler = async (req, res, _file, bytes) => {
      res.writeHead(200, { "content-length": String(bytes.byteLength) });
      if (req.method === "HEAD") { res.end(); return; }
      const piece = Math.ceil(bytes.byteLength / 8);
      for (let i = 0; i < bytes.byteLength; i += piece) {
        res.write(bytes.subarray(i, i + piece));
        await new Promise((r) => setTimeout(r, 40));
      }
      res.end();
    };
    await withHub(slow, async (env, gets, cacheHome) => {
      const [a, b] = await Promise.all([cli(GEN, env), cli(GEN, env)]);
      assert.is(a.code, 0, a.stderr);
      assert.is(b.code, 0, b.stderr);
      assert.equal(JSON.parse(a.stdout).ids, JSON.parse(b.stdout).ids);
      assert.equal([...gets.entries()].sort(), [["stories260K.bin", 1], ["tok512.bin", 1]]);
      assert.equal(await cachedFiles(cacheHome), ["stories260K.bin", "tok512.bin"], "no .part or .lock left behind");
    });
  });

  t("downloads: a silent server trips the stall timeout; nothing is cached", async () => {
    const silent: Handler = (req, res, _file, bytes) => {
      res.writeHead(200, { "content-length": String(bytes.byteLength) });
      if (req.method === "HEAD") { res.end(); return; }
      res.write(bytes.subarray(0, 100)); // then nothing, and the connection stays open
    };
    await withHub(silent, async (env, _gets, cacheHome) => {
      const started = Date.now();
      const r = await cli(GEN, { ...env, KVCOMPRESS_STALL_MS: "300" });
      assert.is(r.code, 1, r.stderr);
      assert.match(r.stderr, /stories260K\.bin: download stopped after 100 bytes: no data for 300 ms/);
      noStack(r, "stall");
      assert.ok(Date.now() - started < 30_000, "the stall ended the run");
      assert.equal(await cachedFiles(cacheHome), []);
    });
  });

  t("downloads: an HTML answer is refused and not cached; the next run, with the hub fixed, succeeds", async () => {
    let broken = true;
    const portal: Handler = (req, res, file, bytes) => {
      if (!broken) return serveWhole(req, res, file, bytes);
      const page = "<!DOCTYPE html><html><body>Please log in</body></html>";
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": String(page.length) }).end(req.method === "HEAD" ? undefined : page);
    };
    await withHub(portal, async (env, _gets, cacheHome) => {
      const r = await cli(GEN, env);
      assert.is(r.code, 1, r.stderr);
      assert.match(r.stderr, /HTML page/);
      noStack(r, "html");
      assert.equal(await cachedFiles(cacheHome), []);
      broken = false;
      const again = await cli(GEN, env);
      assert.is(again.code, 0, again.stderr);
    });
  });

  t("downloads: size cap, size and sha256 mismatches with the hub's metadata are refused", async () => {
    await withHub(serveWhole, async (env, _gets, cacheHome) => {
      const r = await cli(GEN, { ...env, KVCOMPRESS_MAX_DOWNLOAD_BYTES: "1000" });
      assert.is(r.code, 1, r.stderr);
      assert.match(r.stderr, /over the cap of 1000 bytes/);
      assert.equal(await cachedFiles(cacheHome), []);
    });
    const lying = (meta: (bytes: Uint8Array) => Record<string, string>): Handler => (req, res, _file, bytes) => {
      if (req.method === "HEAD") { res.writeHead(302, { ...meta(bytes), location: "/cdn" }).end(); return; }
      res.writeHead(200, { "content-length": String(bytes.byteLength) }).end(bytes);
    };
    await withHub(lying((b) => ({ "x-linked-size": String(b.byteLength + 1) })), async (env, _gets, cacheHome) => {
      const r = await cli(GEN, env);
      assert.is(r.code, 1, r.stderr);
      assert.match(r.stderr, /incomplete: \d+ of \d+ bytes/);
      assert.equal(await cachedFiles(cacheHome), []);
    });
    await withHub(lying((b) => ({ "x-linked-size": String(b.byteLength), "x-linked-etag": `"${"0".repeat(64)}"` })), async (env, _gets, cacheHome) => {
      const r = await cli(GEN, env);
      assert.is(r.code, 1, r.stderr);
      assert.match(r.stderr, /sha256 [0-9a-f]{64} does not match/);
      assert.equal(await cachedFiles(cacheHome), []);
    });
  });

  t("any hub id of a supported architecture downloads once, then loads from the cache", async () => {
    const http = (await import("node:http" as string)) as typeof import("node:http");
    const fs = (await import("node:fs/promises" as string)) as typeof import("node:fs/promises");
    const os = (await import("node:os" as string)) as typeof import("node:os");
    const gets: string[] = [];
    const server = http.createServer(async (req, res) => {
      const m = /^\/someone\/tiny-stories\/resolve\/main\/([A-Za-z0-9._-]+)$/.exec(req.url!);
      const bytes = m && await fs.readFile(`${sharedBase()}/models/tinystories-656K/${m[1]}`).catch(() => null);
      if (!bytes) { res.writeHead(404).end(); return; }
      if (req.method === "GET") gets.push(m![1]);
      res.writeHead(200, { "content-length": String(bytes.byteLength) }).end(bytes);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const cacheHome = await fs.mkdtemp(`${os.tmpdir()}/kvc-anyid-`);
    const env = { KVCOMPRESS_MODELS: undefined, XDG_CACHE_HOME: cacheHome, KVCOMPRESS_HF_BASE: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
    try {
      const args = ["generate", "--model", "someone/tiny-stories", "--prompt", "Once", "--max-tokens", "2", "--json", "--backend", "cpu"];
      const r = await cli(args, env);
      assert.is(r.code, 0, r.stderr);
      assert.is(JSON.parse(r.stdout).model, "someone/tiny-stories");
      assert.equal(gets.sort(), ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]);
      gets.length = 0;
      const again = await cli(args, env);
      assert.is(again.code, 0, again.stderr);
      assert.equal(gets, [], "the second run downloads nothing");
    } finally {
      server.closeAllConnections();
      server.close();
      await fs.rm(cacheHome, { recursive: true, force: true });
    }
  });

  t("an unusable cache directory is one clear error, up front", async () => {
    await withHub(serveWhole, async (env, gets) => {
      const r = await cli(GEN, { ...env, XDG_CACHE_HOME: "/proc/kvc-nope" });
      assert.is(r.code, 1, r.stderr);
      assert.match(r.stderr, /model cache .* is not a usable directory/);
      assert.is(gets.size, 0, "nothing was requested");
    });
  });

  t.run();
}
