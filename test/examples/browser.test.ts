// examples/browser-basic as its header says: the page from the repository root, "kvcompress"
// through its import map, in real headless Chromium (scripts/chromium.mjs's flags and server);
// the page must print the backend it used and compress. Driven from Node (it launches Chromium).
// Needs `node scripts/build.mjs --no-types` first.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { runtime } from "../harness/env";

if (runtime === "node") {
  const t = suite("examples/browser-basic in Chromium");
  t("generates through the import map and prints the backend it used", async () => {
    // by file URL: the test bundler must not pull playwright into the test bundle
    const { startServer, chromiumPath, CHROMIUM_FLAGS } = await import(`file://${process.cwd()}/scripts/chromium.mjs`);
    const { chromium } = await import(`file://${process.cwd()}/node_modules/playwright-core/index.mjs`);
    const server = await startServer("/unused.js");
    let browser;
    const errors: string[] = [];
    try {
      browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: CHROMIUM_FLAGS });
      const page = await browser.newPage();
      page.on("pageerror", (err: Error) => errors.push(err.message));
      page.on("console", (m: { text(): string }) => errors.push(`console: ${m.text()}`));
      await page.goto(`http://127.0.0.1:${server.address().port}/examples/browser-basic/index.html?model=/shared/models/stories260K/`);
      await page.waitForFunction(() => document.querySelector("#out")?.textContent?.includes("backend ") || false, null, { timeout: 20_000, polling: 250 }).catch(() => {});
      const text: string = await page.evaluate(() => document.querySelector("#out")?.textContent ?? "");
      assert.match(text, /backend (cpu \(wasm-simd\)|gpu \(.+\)): [1-9]\d* compression passes, [\d.]+x/, `page: ${text}\nerrors: ${errors.join("; ")}`);
    } finally {
      await browser?.close();
      server.close();
    }
  });
  t.run();
}
