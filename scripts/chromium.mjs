// Runs an ESM bundle in headless Chromium (Debian's package) with WebGPU on SwiftShader.
// Pages come from a static server on http://127.0.0.1 (WebGPU needs a secure context);
// /shared/ serves ../shared so tests fetch the real model files over HTTP.
import { createReadStream, existsSync, statSync } from "node:fs";
import { createServer } from "node:http";
import path from "node:path";
import { chromium } from "playwright-core";
import { repoRoot } from "./esbuild-plugins.mjs";

const TYPES = { ".mjs": "text/javascript", ".js": "text/javascript", ".html": "text/html", ".css": "text/css", ".json": "application/json", ".wasm": "application/wasm", ".png": "image/png" };

export const CHROMIUM_FLAGS = [
  "--enable-unsafe-webgpu",
  "--use-webgpu-adapter=swiftshader",
  "--enable-features=Vulkan",
  "--no-sandbox",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-default-apps",
  "--disable-extensions",
];

export function chromiumPath() {
  for (const p of [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"]) {
    if (p && existsSync(p)) return p;
  }
  throw new Error("chromium not found: apt-get install chromium (or set CHROMIUM_PATH)");
}

/** A static file server: `/` → a page importing `pageModule`; `/shared/*` → sharedDir; the rest → repoRoot. */
export function startServer(pageModule, sharedDir = process.env.KVCOMPRESS_SHARED ?? path.join(repoRoot, "..", "shared")) {
  const server = createServer((req, res) => {
    const url = new URL(req.url, "http://127.0.0.1");
    if (url.pathname === "/") {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(`<!doctype html><meta charset="utf-8"><title>kvcompress</title><script type="module" src="${pageModule}"></script>`);
      return;
    }
    const base = url.pathname.startsWith("/shared/") ? sharedDir : repoRoot;
    const rel = decodeURIComponent(url.pathname.startsWith("/shared/") ? url.pathname.slice(8) : url.pathname.slice(1));
    const file = path.resolve(base, rel);
    if (!file.startsWith(path.resolve(base)) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream", "content-length": statSync(file).size });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

/** Loads the bundle in a page and waits for `globalThis.__kvcResult`. */
export async function runInChromium(bundleFile, timeoutMs) {
  const server = await startServer("/" + path.relative(repoRoot, bundleFile));
  const port = server.address().port;
  const userDataDir = path.join(repoRoot, "build", "chromium-profile");
  let browser;
  try {
    browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: [...CHROMIUM_FLAGS, `--user-data-dir=${userDataDir}`].filter((a) => !a.startsWith("--user-data-dir")) });
    const page = await browser.newPage();
    page.on("console", (msg) => {
      const text = msg.text();
      if (text.startsWith("__KVC_RESULT__")) return;
      process.stdout.write(text.replace(/\u001b\[[0-9;]*m/g, "") + (text.endsWith(" ") ? "" : "\n"));
    });
    page.on("pageerror", (err) => console.log(`page error: ${err.message}`));
    await page.goto(`http://127.0.0.1:${port}/`);
    const handle = await page.waitForFunction(() => globalThis.__kvcResult, null, { timeout: timeoutMs, polling: 500 });
    const result = await handle.jsonValue();
    return { passed: result.passed, failed: result.failed, skipped: result.skipped ?? 0 };
  } catch (err) {
    console.log(`chromium: ${err.message}`);
    return { passed: 0, failed: 1, note: "did not finish" };
  } finally {
    await browser?.close();
    server.close();
  }
}
