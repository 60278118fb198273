// scripts/plot-kl-bytes.mjs as a subprocess on two hand-written eval results (one model, f16 and
// q4): which row is lowest within each budget, kvcompress's best and the best other policy, and
// their margin paired by window. Every expected number is worked out by hand in a comment. Browsers
// cannot spawn processes, so this suite is registered in Node only.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { runtime } from "../harness/env";

if (runtime === "node") {
  const t = suite("scripts/plot-kl-bytes");

  const row = (policy: string, ratio: number, bytes: number, perWindow: number[]) => {
    const kl = perWindow.reduce((a, b) => a + b, 0) / perWindow.length;
    return { policy, ratio, bytes, kl, klSe: 0.001, klPerWindow: perWindow };
  };

  t("budget table: lowest row, kvcompress and the best other within the budget, paired margin", async () => {
    const fs = (await import("node:fs/promises" as string)) as typeof import("node:fs/promises");
    const os = (await import("node:os" as string)) as typeof import("node:os");
    const { spawnSync } = (await import("node:child_process" as string)) as typeof import("node:child_process");
    const dir = await fs.mkdtemp(`${os.tmpdir()}/kvc-plot-`);
    const f16 = {
      model: "m", windows: 2, results: [
        row("kvcompress", 4, 0.25, [0.10, 0.20]), // KL 0.15, fits 1/4
        row("h2o", 4, 0.25, [0.12, 0.16]), // KL 0.14, fits 1/4
      ],
    };
    const q4 = {
      model: "m", windows: 2, results: [
        row("kvcompress", 8, 0.125, [0.30, 0.50]), // KL 0.40, fits 1/8 (and 1/4)
        row("h2o", 8, 0.125, [0.35, 0.37]), // KL 0.36
        row("kvcompress+vnorm+floor100", 8, 0.125, [0.20, 0.30]), // KL 0.25: lowest, neither kvcompress nor "other"
      ],
    };
    await fs.writeFile(`${dir}/m-f16.json`, JSON.stringify(f16));
    await fs.writeFile(`${dir}/m-q4.json`, JSON.stringify(q4));
    const r = spawnSync(process.execPath, ["scripts/plot-kl-bytes.mjs", dir, `${dir}/m-f16.json`, `${dir}/m-q4.json`], { encoding: "utf8" });
    assert.is(r.status, 0, r.stderr);
    const md = await fs.readFile(`${dir}/kl-vs-bytes.md`, "utf8");
    const lines = md.trim().split("\n");
    assert.is(lines.length, 2 + 4, md);
    // 1/4: every row fits; lowest is h2o f16 R=4 (0.14); kvcompress's best is f16 R=4 (0.15, below
    // its q4 0.40); the best other is h2o f16 R=4 (0.14). Margin per window: 0.10−0.12 = −0.02 and
    // 0.20−0.16 = +0.04 → mean +0.01, sd = sqrt(((−0.03)² + 0.03²) / 1) = 0.0424, se = 0.0424/√2 = 0.0300.
    assert.is(lines[2], "| 1/4 | h2o, f16, R=4: 0.1400 | f16 R=4: 0.1500 ± 0.0010 | " +
      "h2o f16 R=4: 0.1400 ± 0.0010 | +0.0100 ± 0.0300 |");
    // 1/8: only the q4 rows fit; lowest is the floor100 variant (0.25). kvcompress 0.40 against h2o 0.36: −0.05 and +0.13 → mean +0.04,
    // sd = sqrt((0.09² + 0.09²) / 1) = 0.1273, se = 0.0900.
    assert.is(lines[3], "| 1/8 | kvcompress+vnorm+floor100, q4, R=8: 0.2500 | q4 R=8: 0.4000 ± 0.0010 | " +
      "h2o q4 R=8: 0.3600 ± 0.0010 | +0.0400 ± 0.0900 |");
    // 1/16 and 1/32: nothing fits.
    assert.is(lines[4], "| 1/16 | none fits | - | - | - |");
    assert.is(lines[5], "| 1/32 | none fits | - | - | - |");
    assert.ok((await fs.readFile(`${dir}/kl-vs-bytes-m.svg`, "utf8")).startsWith("<svg"), "the plot is written");
    await fs.rm(dir, { recursive: true });
  });

  t.run();
}
