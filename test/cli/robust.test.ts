// The CLI against careless and hostile input (issue 15): bad flags exit 2 with a message naming
// the flag before any model is loaded, other failures exit 1 with one line and no stack trace
// (unless --debug), and downloads from a 127.0.0.1 hub never leave a wrong or partial file in
// the cache: concurrent runs share one download, a silent server trips the stall timeout, an
// HTML answer or a body past the cap is refused, and size/hash mismatches with the hub's
// metadata are caught. Node and Deno only (subprocesses and a local server).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { runtime, sharedBase } from "../harness/env";
import { buildSafetensors, jsonBytes, splitSafetensors } from "../model/safetensorsFixtures";
import { fakeHub, serveHub, type FakeHub, type FakeHubOptions, type ListedFile } from "../model/fakeHub";

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

/** stories260K as the hub holds it: karpathy/tinyllamas, folder stories260K. */
async function storiesRepo(): Promise<Map<string, Uint8Array>> {
  const fs = (await import("node:fs/promises" as string)) as typeof import("node:fs/promises");
  const files = new Map<string, Uint8Array>();
  for (const f of ["stories260K.bin", "tok512.bin"]) files.set(`stories260K/${f}`, new Uint8Array(await fs.readFile(`${sharedBase()}/models/stories260K/${f}`)));
  return files;
}

/** A hub on 127.0.0.1 serving stories260K (test/model/fakeHub.ts: tree API, Range, ETag). */
async function withHub(opts: FakeHubOptions, body: (env: Record<string, string | undefined>, hub: FakeHub, cacheHome: string) => Promise<void>): Promise<void> {
  const fs = (await import("node:fs/promises" as string)) as typeof import("node:fs/promises");
  const os = (await import("node:os" as string)) as typeof import("node:os");
  const hub = fakeHub(await storiesRepo(), { repo: "karpathy/tinyllamas", ...opts });
  const server = await serveHub(hub);
  const cacheHome = await fs.mkdtemp(`${os.tmpdir()}/kvc-hub-`);
  try {
    await body({ KVCOMPRESS_MODELS: undefined, XDG_CACHE_HOME: cacheHome, KVCOMPRESS_HF_BASE: server.url }, hub, cacheHome);
  } finally {
    server.close();
    await fs.rm(cacheHome, { recursive: true, force: true });
  }
}

/** Whole-file GETs per file name. */
const getsPerFile = (hub: FakeHub) => {
  const gets = new Map<string, number>();
  for (const p of hub.fileGets()) gets.set(p.split("/").pop()!, (gets.get(p.split("/").pop()!) ?? 0) + 1);
  return gets;
};

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
    await withHub({ pieces: 8, pieceDelayMs: 40 }, async (env, hub, cacheHome) => {
      const [a, b] = await Promise.all([cli(GEN, env), cli(GEN, env)]);
      assert.is(a.code, 0, a.stderr);
      assert.is(b.code, 0, b.stderr);
      assert.equal(JSON.parse(a.stdout).ids, JSON.parse(b.stdout).ids);
      assert.equal([...getsPerFile(hub).entries()].sort(), [["stories260K.bin", 1], ["tok512.bin", 1]]);
      assert.equal(await cachedFiles(cacheHome), ["stories260K.bin", "tok512.bin"], "no .part or .lock left behind");
    });
  });

  t("downloads: a silent server trips the stall timeout; nothing is cached", async () => {
    await withHub({ stallAfterBytes: 100 }, async (env, _hub, cacheHome) => {
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
    await withHub({ html: "*" }, async (env, hub, cacheHome) => {
      const r = await cli(GEN, env);
      assert.is(r.code, 1, r.stderr);
      assert.match(r.stderr, /HTML page/);
      noStack(r, "html");
      assert.equal(await cachedFiles(cacheHome), []);
      hub.options.html = undefined;
      // Without --json: a bar per file on stderr while it downloads, and stdout only the text.
      const again = await cli(GEN.filter((a) => a !== "--json"), env);
      assert.is(again.code, 0, again.stderr);
      assert.match(again.stderr, /download stories260K\.bin .*100%/);
      assert.match(again.stderr, /download tok512\.bin .*100%/);
      assert.not.match(again.stdout, /download|%/);
    });
  });

  t("downloads: size cap, size and sha256 mismatches with the hub's metadata are refused", async () => {
    await withHub({}, async (env, _hub, cacheHome) => {
      const r = await cli(GEN, { ...env, KVCOMPRESS_MAX_DOWNLOAD_BYTES: "1000" });
      assert.is(r.code, 1, r.stderr);
      assert.match(r.stderr, /over the cap of 1000 bytes/);
      assert.equal(await cachedFiles(cacheHome), []);
    });
    const lfs = (e: ListedFile, edit: Partial<NonNullable<ListedFile["lfs"]>>): ListedFile => (e.lfs ? { ...e, lfs: { ...e.lfs, ...edit } } : e);
    await withHub({ listing: (e) => lfs(e, { size: e.lfs!.size + 1 }) }, async (env, _hub, cacheHome) => {
      const r = await cli(GEN, env);
      assert.is(r.code, 1, r.stderr);
      assert.match(r.stderr, /incomplete: \d+ of \d+ bytes/);
      assert.equal(await cachedFiles(cacheHome), []);
    });
    await withHub({ listing: (e) => lfs(e, { oid: "0".repeat(64) }) }, async (env, _hub, cacheHome) => {
      const r = await cli(GEN, env);
      assert.is(r.code, 1, r.stderr);
      assert.match(r.stderr, /sha256 [0-9a-f]{64} does not match/);
      assert.equal(await cachedFiles(cacheHome), []);
    });
  });

  const SHARDED_FILES = ["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json"];
  t("any hub id of a supported architecture (sharded here) downloads once, then loads from the cache", async () => {
    const fs = (await import("node:fs/promises" as string)) as typeof import("node:fs/promises");
    const os = (await import("node:os" as string)) as typeof import("node:os");
    const files = new Map<string, Uint8Array>();
    for (const f of ["config.json", "tokenizer.json", "tokenizer_config.json"]) files.set(f, new Uint8Array(await fs.readFile(`${sharedBase()}/models/tinystories-656K/${f}`)));
    // Sharded, as larger repos are: two shards behind model.safetensors.index.json.
    const { tensors } = splitSafetensors(new Uint8Array(await fs.readFile(`${sharedBase()}/models/tinystories-656K/model.safetensors`)));
    const shardOf = (name: string) => (name.includes("layers.1.") ? "model-00002-of-00002.safetensors" : "model-00001-of-00002.safetensors");
    for (const shard of ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]) files.set(shard, buildSafetensors(tensors.filter((x) => shardOf(x.name) === shard)));
    files.set("model.safetensors.index.json", jsonBytes({ metadata: {}, weight_map: Object.fromEntries(tensors.map((x) => [x.name, shardOf(x.name)])) }));
    files.set("README.md", new TextEncoder().encode("# a model card the CLI does not fetch"));
    const hub = fakeHub(files, { repo: "someone/tiny-stories" });
    const server = await serveHub(hub);
    const gets = () => hub.fileGets().map((p) => p.split("/").pop()!).sort();
    const cacheHome = await fs.mkdtemp(`${os.tmpdir()}/kvc-anyid-`);
    const env = { KVCOMPRESS_MODELS: undefined, XDG_CACHE_HOME: cacheHome, KVCOMPRESS_HF_BASE: server.url };
    try {
      const args = ["generate", "--model", "someone/tiny-stories", "--prompt", "Once", "--max-tokens", "2", "--json", "--backend", "cpu"];
      const r = await cli(args, env);
      assert.is(r.code, 0, r.stderr);
      assert.is(JSON.parse(r.stdout).model, "someone/tiny-stories");
      assert.not.match(r.stderr, /download /, "--json: no progress bars");
      assert.equal(gets(), SHARDED_FILES);
      hub.requests.length = 0;
      const again = await cli(args, env);
      assert.is(again.code, 0, again.stderr);
      assert.equal(hub.requests, [], "the second run asks the hub nothing");
      // A mirror without the tree API: the files are asked for one by one, the missing ones skipped.
      const mirror = fakeHub(files, { repo: "someone/tiny-stories", noApi: true });
      const mirrorServer = await serveHub(mirror);
      try {
        const m = await cli(args, { ...env, XDG_CACHE_HOME: `${cacheHome}/mirror`, KVCOMPRESS_HF_BASE: mirrorServer.url });
        assert.is(m.code, 0, m.stderr);
        assert.equal(JSON.parse(m.stdout).ids, JSON.parse(r.stdout).ids);
        // model.safetensors is asked for first and answered 404: then the index and its shards.
        assert.equal(mirror.fileGets().map((p) => p.split("/").pop()!).sort(), SHARDED_FILES);
      } finally {
        mirrorServer.close();
      }
      // org/name@revision: that revision's files, in a cache folder of its own.
      const tagged = fakeHub(files, { repo: "someone/tiny-stories", revision: "v2" });
      const taggedServer = await serveHub(tagged);
      try {
        const v = await cli(["generate", "--model", "someone/tiny-stories@v2", ...args.slice(3)], { ...env, KVCOMPRESS_HF_BASE: taggedServer.url });
        assert.is(v.code, 0, v.stderr);
        assert.ok(tagged.fileGets().length === SHARDED_FILES.length && tagged.fileGets().every((p) => p.startsWith("/someone/tiny-stories/resolve/v2/")), tagged.fileGets().join(" "));
        const fs2 = (await import("node:fs/promises" as string)) as typeof import("node:fs/promises");
        assert.ok((await fs2.stat(`${cacheHome}/kvcompress/models/someone/tiny-stories@v2/.complete`)).isFile());
        const bad = await cli(["generate", "--model", "someone/tiny-stories@../x", ...args.slice(3)], env);
        assert.is(bad.code, 2, bad.stderr);
        assert.match(bad.stderr, /--model: revision/);
      } finally {
        taggedServer.close();
      }
    } finally {
      server.close();
      await fs.rm(cacheHome, { recursive: true, force: true });
    }
  });

  t("an unusable cache directory is one clear error, up front", async () => {
    await withHub({}, async (env, hub) => {
      const r = await cli(GEN, { ...env, XDG_CACHE_HOME: "/proc/kvc-nope" });
      assert.is(r.code, 1, r.stderr);
      assert.match(r.stderr, /model cache .* is not a usable directory/);
      assert.equal(hub.requests, [], "nothing was requested");
    });
  });

  t.run();
}
