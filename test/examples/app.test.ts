// examples/app in real headless Chromium, as a person uses it: the page and stories260K from
// http://127.0.0.1 (scripts/chromium.mjs's server and flags), load, generate 32 tokens with
// kvcompress at ratio 4 on the CPU backend and on WebGPU (SwiftShader), and check what the page
// shows: the text grows; the heatmap's numbers are stats().keptPerHead of the SDK (which the
// page leaves in body[data-stats]) and change once compression runs; the memory figure is
// stats().bytesInUse; Stop stops; a hub id loads through a mirror and comes from Cache Storage
// the second time; no console errors. Screenshots at 1280 and 390 px go to build/artifacts/app/
// (docs/app-*.png are copies of the CPU run's). Driven from Node. Needs
// `node scripts/build.mjs --no-types` first. The WebGPU half costs about a minute on SwiftShader
// (about 1 token/s there), so Stop and the hub are checked on the CPU half only.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { runtime } from "../harness/env";
import { fakeHub } from "../model/fakeHub";

interface Snapshot { text: string; cells: number[]; memory: string; passes: string; stats: string | undefined }
interface Stats { bytesInUse: number; bytesUncompressed: number; passes: number; sequences: { seqLen: number; keptPerHead: number[] }[] }
type Page = {
  goto(url: string): Promise<unknown>; evaluate<T>(fn: (arg: any) => T, arg?: unknown): Promise<T>;
  click(sel: string): Promise<void>; fill(sel: string, v: string): Promise<void>; check(sel: string): Promise<void>;
  selectOption(sel: string, v: string): Promise<unknown>; focus(sel: string): Promise<void>; keyboard: { press(k: string): Promise<void> };
  waitForFunction(fn: (arg: any) => unknown, arg?: unknown, o?: { timeout: number; polling?: number }): Promise<unknown>;
  setViewportSize(s: { width: number; height: number }): Promise<void>; screenshot(o: { path: string; fullPage: boolean }): Promise<unknown>;
  on(ev: string, f: (x: any) => void): void; route(url: RegExp, handler: (route: any) => unknown): Promise<void>;
  setInputFiles(sel: string, files: string[]): Promise<void>;
};

if (runtime === "node") {
  const t = suite("examples/app in Chromium");
  const MODEL = "/shared/models/stories260K/";
  const ART = `${process.cwd()}/build/artifacts/app`;

  /** In the page: a snapshot of the DOM (and the stats it was drawn from) after every change. */
  const record = () => {
    const w = window as unknown as { __snaps: Snapshot[] };
    w.__snaps = [];
    const take = () => w.__snaps.push({
      text: document.getElementById("text")!.textContent ?? "",
      cells: Array.from(document.querySelectorAll("#heatmap td.cell"), (td) => Number(td.textContent)),
      memory: document.getElementById("fig-memory")!.textContent ?? "",
      passes: document.getElementById("fig-passes")!.textContent ?? "",
      stats: document.body.dataset.stats,
    });
    new MutationObserver(take).observe(document.querySelector(".results")!, { subtree: true, childList: true, characterData: true });
  };

  async function run(backend: "cpu" | "gpu") {
    const { startServer, chromiumPath, CHROMIUM_FLAGS } = await import(`file://${process.cwd()}/scripts/chromium.mjs`);
    const { chromium } = await import(`file://${process.cwd()}/node_modules/playwright-core/index.mjs`);
    const fs = await import("node:fs");
    fs.mkdirSync(ART, { recursive: true });
    const server = await startServer("/unused.js");
    const errors: string[] = [];
    let browser;
    try {
      browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: CHROMIUM_FLAGS });
      const page: Page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      page.on("pageerror", (err: Error) => errors.push(err.message));
      page.on("console", (m: { type(): string; text(): string }) => { if (m.type() === "error" || m.type() === "warning") errors.push(`console ${m.type()}: ${m.text()}`); });
      const q = new URLSearchParams({ model: MODEL, checkpoint: "stories260K.bin", tokenizer: "tok512.bin", backend, context: "512" });
      await page.goto(`http://127.0.0.1:${server.address().port}/examples/app/index.html?${q}`);
      const unlabelled = await page.evaluate(() => Array.from(document.querySelectorAll("input, select, textarea"))
        .filter((el) => (el as HTMLInputElement).labels?.length === 0 && !el.getAttribute("aria-label")).map((el) => el.id));
      assert.equal(unlabelled, [], "every control has a label");

      await page.click("#load");
      await page.waitForFunction(() => !(document.getElementById("generate") as HTMLButtonElement).disabled || document.getElementById("error")!.textContent, null, { timeout: 30_000 });
      const backendShown = await page.evaluate(() => document.getElementById("fig-backend")!.textContent + " " + document.getElementById("error")!.textContent);
      assert.match(backendShown, backend === "gpu" ? /^WebGPU \(.+\) $/ : /^CPU \(wasm-simd\) $/);

      await page.selectOption("#policy", "kvcompress");
      await page.fill("#ratio", "4");
      await page.check("#mode-continual");
      // CPU: the page's own prompt (140 tokens): at ratio 4, budgets of several 16-KV blocks, so heads
      // differ. WebGPU: 55 tokens, as SwiftShader prefills slowly (every head then keeps one block).
      if (backend === "gpu") await page.fill("#prompt", "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. One day, Lily saw a big red ball under a tree.");
      await page.fill("#max-tokens", "32");
      if (backend === "cpu") await page.check("#compare");
      await page.evaluate(record);
      await page.focus("#generate"); // the keyboard, as a person without a mouse
      await page.keyboard.press("Enter");
      await page.waitForFunction(() => /Done|Stopped/.test(document.getElementById("run-status")!.textContent ?? "") || document.getElementById("error")!.textContent, null, { timeout: 150_000 });
      assert.is(await page.evaluate(() => document.getElementById("error")!.textContent), "");
      assert.match(await page.evaluate(() => document.getElementById("fig-tokens")!.textContent ?? ""), / \+ 32 generated$/);

      const snaps: Snapshot[] = await page.evaluate(() => (window as unknown as { __snaps: Snapshot[] }).__snaps);
      const lengths = [...new Set(snaps.map((s) => s.text.length))];
      assert.ok(lengths.length >= 8 && lengths.every((n, i) => i === 0 || n > lengths[i - 1]), `the text grows token by token: ${lengths}`);
      const drawn = snaps.filter((s) => s.stats && s.cells.length > 0);
      const vectors = new Set<string>();
      for (const s of drawn) {
        const st: Stats = JSON.parse(s.stats!);
        const seq = st.sequences[0];
        if (!seq) { assert.ok(s.cells.every((n) => n === 0), "no sequence yet: empty cells"); continue; }
        assert.equal(s.cells, seq.keptPerHead, "each heatmap cell shows stats().keptPerHead");
        assert.is(s.memory, `${/^[\d.]+ \w+/.exec(s.memory)![0]} (${st.bytesInUse} B)`, "the memory figure is stats().bytesInUse");
        assert.is(s.passes, String(st.passes));
        if (st.passes > 0) {
          vectors.add(s.cells.join());
          // Independent of the SDK's own figures: at ratio 4 no head may hold the whole sequence.
          assert.ok(s.cells.every((n) => n < seq.seqLen), `compressed heads keep fewer than ${seq.seqLen}: ${s.cells}`);
          assert.ok(st.bytesInUse < st.bytesUncompressed);
        }
      }
      assert.ok(drawn.length >= 32, `a redraw per token (${drawn.length})`);
      const first = drawn.find((s) => JSON.parse(s.stats!).passes > 0)!;
      assert.ok(first.cells.every((n) => n > 0) && drawn[0].cells.every((n) => n === 0), "empty cells before, filled after the first pass");
      if (backend === "cpu") {
        assert.ok(vectors.size >= 2, `the heatmap changes as compression runs (${vectors.size} states)`);
        assert.ok(new Set(first.cells).size > 1, `after the first pass heads keep different counts: ${first.cells}`);
      }
      if (backend === "cpu") assert.ok((await page.evaluate(() => document.getElementById("full-text")!.textContent ?? "")).length > 20, "the full run shows text");

      for (const width of [1280, 390]) {
        await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.is(overflow, 0, `no sideways scrolling at ${width} px`);
        await page.screenshot({ path: `${ART}/app-${backend}-${width}.png`, fullPage: true });
      }
      const contrast = await page.evaluate(() => {
        const lum = (c: string) => {
          const [r, g, b] = c.match(/\d+/g)!.slice(0, 3).map((x) => { const v = Number(x) / 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
          return 0.2126 * r + 0.7152 * g + 0.0722 * b;
        };
        return Math.min(...Array.from(document.querySelectorAll("#heatmap td.cell"), (td) => {
          const s = getComputedStyle(td);
          const [a, b] = [lum(s.color), lum(s.backgroundColor)].sort((x, y) => y - x);
          return (a + 0.05) / (b + 0.05);
        }));
      });
      assert.ok(contrast >= 4.5, `heatmap numbers contrast ≥ 4.5:1 (${contrast.toFixed(2)})`);

      assert.equal(errors, [], "no console errors");
      if (backend === "gpu") return; // SwiftShader decodes about 1 token/s: Stop is checked on the CPU run
      // Stop: a long run, stopped as soon as its first token shows (the CPU backend would finish
      // 360 tokens before a poll from here could click), ends there; the page can run again.
      await page.fill("#max-tokens", "360");
      await page.evaluate(() => {
        const text = document.getElementById("text")!;
        const obs = new MutationObserver(() => { if (text.textContent) { obs.disconnect(); document.getElementById("stop")!.click(); } });
        obs.observe(text, { childList: true, characterData: true, subtree: true });
      });
      await page.click("#generate");
      await page.waitForFunction(() => /Done|Stopped/.test(document.getElementById("run-status")!.textContent ?? "") || document.getElementById("error")!.textContent, null, { timeout: 20_000 });
      assert.is(await page.evaluate(() => document.getElementById("run-status")!.textContent), "Stopped.");
      const stoppedAt = await page.evaluate(() => [document.getElementById("text")!.textContent, document.getElementById("fig-tokens")!.textContent]);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await page.evaluate(() => [document.getElementById("text")!.textContent, document.getElementById("fig-tokens")!.textContent]), stoppedAt, "nothing after Stop");
      assert.ok(Number(/(\d+) generated/.exec(stoppedAt[1] ?? "")![1]) < 360, stoppedAt[1]!);
      assert.is(await page.evaluate(() => (document.getElementById("generate") as HTMLButtonElement).disabled), false);

      // A hub id (through a mirror this test answers): the Worker keeps the files in Cache Storage,
      // so loading it again reads no network.
      // The mirror is test/model/fakeHub.ts (what @huggingface/hub asks: tree API, Range, ETag).
      const repoFiles = new Map(["stories260K.bin", "tok512.bin"].map((f) => [f, new Uint8Array(fs.readFileSync(`${process.cwd()}/../shared/models/stories260K/${f}`))]));
      const mirror = fakeHub(repoFiles, { repo: "org/stories260K" });
      await page.route(/\/mirror\//, async (route: any) => {
        const req = route.request();
        const res = await mirror.handle(new Request(req.url().replace("/mirror/", "/"), { method: req.method(), headers: req.headers() }));
        const headers: Record<string, string> = {};
        res.headers.forEach((v, k) => { headers[k] = v; });
        return route.fulfill({ status: res.status, headers, body: Buffer.from(await res.arrayBuffer()) });
      });
      const hubUrl = `http://127.0.0.1:${server.address().port}/mirror`;
      for (let visit = 0; visit < 2; visit++) {
        await page.goto(`http://127.0.0.1:${server.address().port}/examples/app/index.html?${new URLSearchParams({ ...Object.fromEntries(q), model: "org/stories260K", hub: hubUrl })}`);
        await page.click("#load");
        await page.waitForFunction(() => !(document.getElementById("generate") as HTMLButtonElement).disabled || document.getElementById("error")!.textContent, null, { timeout: 20_000 });
        assert.match(await page.evaluate(() => document.getElementById("load-status")!.textContent ?? ""), /^Loaded \(llama2c/);
        const gets = mirror.fileGets();
        if (visit === 0) assert.ok(gets.some((f) => f.endsWith("stories260K.bin")), gets.join());
        else assert.equal(gets.filter((f) => f.endsWith(".bin")), [], "the second visit reads the weights from Cache Storage");
        mirror.requests.length = 0;
      }
      // Local files through the picker: the larger .bin is the checkpoint, the other the tokenizer.
      await page.click("details summary");
      await page.fill("#checkpoint", "");
      await page.fill("#tokenizer", "");
      const dir = `${process.cwd()}/../shared/models/stories260K`;
      await page.setInputFiles("#files", [`${dir}/tok512.bin`, `${dir}/stories260K.bin`]);
      await page.click("#load");
      await page.waitForFunction(() => /^Loaded/.test(document.getElementById("load-status")!.textContent ?? "") || document.getElementById("error")!.textContent, null, { timeout: 20_000 });
      assert.match(await page.evaluate(() => document.getElementById("load-status")!.textContent + " " + document.getElementById("error")!.textContent), /^Loaded \(llama2c, 5 layers × 4 KV heads/);
      assert.equal(errors, [], "no console errors");
    } finally {
      await browser?.close();
      server.close();
    }
  }

  t("CPU backend: text streams, the heatmap is stats().keptPerHead, memory is stats().bytesInUse, Stop stops", () => run("cpu"));
  t("WebGPU (SwiftShader): the same on the GPU backend", () => run("gpu"));
  t.run();
}
