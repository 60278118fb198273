// The `kvcompress` command as a subprocess of Node and of Deno (issue 7): --json parsed and
// checked, the download path against a real HTTP server on 127.0.0.1, and bad input — each a
// clear message and a non-zero exit. Browsers cannot spawn processes, so this suite is only
// registered in Node and Deno.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { runtime, sharedBase } from "../harness/env";
import { fakeHub, serveHub } from "../model/fakeHub";

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
    child.stdout!.on("data", (d: Uint8Array) => { stdout += new TextDecoder().decode(d); });
    child.stderr!.on("data", (d: Uint8Array) => { stderr += new TextDecoder().decode(d); });
    child.on("error", reject);
    child.on("close", (code: number | null) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

if (runtime !== "chromium") {
  const t = suite(`kvcompress CLI (${runtime})`);

  t("generate --json: full policy at temperature 0 reproduces the reference ids", async () => {
    const r = await cli(["generate", "--prompt", "", "--policy", "full", "--max-tokens", "40", "--backend", "cpu", "--json"]);
    assert.is(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    const ref = JSON.parse(new TextDecoder().decode(await (await import("node:fs/promises" as string)).readFile(`${sharedBase()}/models/stories260K/reference.json`)));
    assert.equal(out.ids, ref.greedy_from_bos.ids);
    for (const k of ["model", "backend", "adapter", "promptTokens", "ids", "text", "timings", "kv"]) assert.ok(k in out, `field ${k}`);
    for (const k of ["prefillMs", "decodeMs", "decodeTokensPerSecond"]) assert.type(out.timings[k], "number");
    for (const k of ["policy", "keptPerHead", "blocksInUse", "bytesInUse", "bytesUncompressed", "achievedRatio", "passes"]) assert.ok(k in out.kv, `kv.${k}`);
    assert.is(out.backend, "cpu");
  });

  t("generate --json: kvcompress at ratio 4 compresses and keeps going", async () => {
    // ~300 prompt tokens, so that at ratio 4 the kept prompt plus 16 new tokens is under a third.
    const fs = (await import("node:fs/promises" as string)) as typeof import("node:fs/promises");
    const os = (await import("node:os" as string)) as typeof import("node:os");
    const text = new TextDecoder().decode(await fs.readFile(`${sharedBase()}/data/tinystories-val/tinystories_val.txt`)).slice(0, 760);
    const promptFile = `${await fs.mkdtemp(`${os.tmpdir()}/kvc-prompt-`)}/prompt.txt`;
    await fs.writeFile(promptFile, text);
    const r = await cli(["generate", "--prompt-file", promptFile, "--ratio", "4", "--max-tokens", "16", "--json", "--backend", "cpu"]);
    assert.is(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.is(out.kv.policy, "kvcompress");
    assert.ok(out.kv.passes > 0, "a compression pass ran");
    assert.ok(out.promptTokens > 250, `prompt of ${out.promptTokens} tokens`);
    assert.ok(out.ids.length === out.promptTokens + 16, "generation ran past the compression");
    assert.ok(out.ids.every((id: number) => Number.isInteger(id) && id >= 0 && id < 512), "valid token ids");
    assert.ok(out.kv.bytesInUse * 3 <= out.kv.bytesUncompressed, `bytes ${out.kv.bytesInUse} vs ${out.kv.bytesUncompressed}`);
    // the default head floor 0 (docs/METHOD.md §2.4): the global ranking moves budget between heads
    assert.ok(new Set(out.kv.keptPerHead.flat()).size > 1, `keptPerHead differs across heads: ${JSON.stringify(out.kv.keptPerHead)}`);
  });

  t("generate streams text and prints a summary on stderr", async () => {
    const r = await cli(["generate", "--prompt", "Once upon a time", "--max-tokens", "16", "--backend", "cpu"]);
    assert.is(r.code, 0, r.stderr);
    assert.ok(r.stdout.trim().length > 0);
    assert.match(r.stderr, /tok\/s/);
    assert.match(r.stderr, /uncompressed/);
  });

  t("downloads the default model from the hub URL with KVCOMPRESS_HF_BASE", async () => {
    const fs = (await import("node:fs/promises" as string)) as typeof import("node:fs/promises");
    const os = (await import("node:os" as string)) as typeof import("node:os");
    const files = new Map<string, Uint8Array>();
    for (const f of ["stories260K.bin", "tok512.bin"]) files.set(`stories260K/${f}`, new Uint8Array(await fs.readFile(`${sharedBase()}/models/stories260K/${f}`)));
    files.set("stories15M.bin", new Uint8Array(2048)); // another model in the repo: never fetched
    const hub = fakeHub(files, { repo: "karpathy/tinyllamas" });
    const server = await serveHub(hub);
    const cacheHome = await fs.mkdtemp(`${os.tmpdir()}/kvc-cache-`);
    try {
      const r = await cli(["generate", "--prompt", "Once upon a time", "--max-tokens", "8", "--json", "--backend", "cpu"],
        { KVCOMPRESS_MODELS: undefined, XDG_CACHE_HOME: cacheHome, KVCOMPRESS_HF_BASE: server.url });
      assert.is(r.code, 0, r.stderr);
      assert.is(JSON.parse(r.stdout).ids.length, 8 + JSON.parse(r.stdout).promptTokens);
      assert.equal(hub.fileGets().sort(), ["/karpathy/tinyllamas/resolve/main/stories260K/stories260K.bin", "/karpathy/tinyllamas/resolve/main/stories260K/tok512.bin"]);
      assert.ok(hub.requests.some((q) => q.path === "/api/models/karpathy/tinyllamas/tree/main/stories260K"), "sizes and hashes from the listing");
      const stat = await fs.stat(`${cacheHome}/kvcompress/models/stories260K/stories260K.bin`);
      assert.is(stat.size, 1056540);
      // The second run finds the cached copy and asks the server for nothing.
      hub.requests.length = 0;
      const again = await cli(["generate", "--prompt", "Hi", "--max-tokens", "2", "--json", "--backend", "cpu"],
        { KVCOMPRESS_MODELS: undefined, XDG_CACHE_HOME: cacheHome, KVCOMPRESS_HF_BASE: server.url });
      assert.is(again.code, 0, again.stderr);
      assert.equal(hub.requests, []);
    } finally {
      server.close();
      await fs.rm(cacheHome, { recursive: true, force: true });
    }
  });

  t("bad input: a clear message and a non-zero exit", async () => {
    const fs = (await import("node:fs/promises" as string)) as typeof import("node:fs/promises");
    const os = (await import("node:os" as string)) as typeof import("node:os");
    // Exit 2: usage errors, before any model is loaded; exit 1: the model itself is at fault.
    const cases: [string[], RegExp, number][] = [
      [["generate", "--model", "/nonexistent/model-dir", "--prompt", "x"], /nonexistent\/model-dir/, 1],
      [["generate", "--prompt", "x", "--ratio", "0"], /--ratio must be ≥ 1/, 2],
      [["generate", "--prompt", "x", "--policy", "lru"], /policy\.name.*lru/, 2],
      [["generate", "--max-tokens", "4"], /--prompt/, 2],
      [["frobnicate"], /unknown command/, 2],
    ];
    const dir = await fs.mkdtemp(`${os.tmpdir()}/kvc-bad-`);
    try {
      const hf = `${sharedBase()}/models/tinystories-656K`;
      for (const f of ["config.json", "tokenizer.json", "tokenizer_config.json"]) await fs.copyFile(`${hf}/${f}`, `${dir}/${f}`);
      const bytes = await fs.readFile(`${hf}/model.safetensors`);
      const corrupt = new Uint8Array(bytes.slice(0, 4096));
      corrupt.fill(0x7b, 8, 40); // garbage where the JSON header starts
      await fs.writeFile(`${dir}/model.safetensors`, corrupt);
      cases.push([["generate", "--model", dir, "--prompt", "x"], /model\.safetensors/, 1]);
      for (const [args, message, code] of cases) {
        const r = await cli(args);
        assert.is(r.code, code, `${args.join(" ")}: exit ${r.code}`);
        assert.match(r.stderr, message, `${args.join(" ")}: ${r.stderr}`);
        assert.not.match(r.stderr, /\n\s+at /, `${args.join(" ")}: a message, not a stack trace`);
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  t("info runs one kernel on the CPU backend; with no GPU driver, --backend gpu says what to install", async () => {
    const ok = await cli(["info", "--backend", "cpu"]);
    assert.is(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /backend: cpu/);
    assert.match(ok.stdout, /max \|error\|/);
    // Node's Dawn has only Vulkan here; Deno's wgpu falls back to OpenGL (llvmpipe), so an
    // empty Vulkan driver list leaves Deno an adapter and says nothing there.
    if (runtime === "node") {
      const none = await cli(["info", "--backend", "gpu"], { VK_ICD_FILENAMES: "/nonexistent/icd.json", VK_DRIVER_FILES: undefined });
      assert.is(none.code, 1, `exit ${none.code}`);
      assert.match(none.stderr, /NoGpuAdapterError/);
      assert.match(none.stderr, /apt-get install/);
    }
  });

  t.run();
}
