// scripts/plot-serve.mjs as a subprocess on a hand-written bench JSON: each point is labelled with
// its throughput over the best `full` row of any kernel, and the target line is 5 times that.
// Browsers cannot spawn processes, so this suite is registered in Node only.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { runtime } from "../harness/env";

if (runtime === "node") {
  const t = suite("scripts/plot-serve");

  t("labels are ratios to the best full row; the target is 5x it", async () => {
    const fs = (await import("node:fs/promises" as string)) as typeof import("node:fs/promises");
    const os = (await import("node:os" as string)) as typeof import("node:os");
    const { spawnSync } = (await import("node:child_process" as string)) as typeof import("node:child_process");
    const dir = await fs.mkdtemp(`${os.tmpdir()}/kvc-plot-serve-`);
    const row = (rows: string, ratio: number, tokS: number) => ({ rows, ratio, tokS, N: 4, P: 8, G: 2, poolSeqsUncompressed: 1 });
    const run = { card: "test card", date: "2026-12-03", utc: "00:00", rows: [
      row("matmul", 1, 400), row("matmul", 8, 1000), // 1000 / 500 = 2.00x
      row("matvec", 1, 500), row("matvec", 8, 750), // best full: 500; 750 / 500 = 1.50x
    ] };
    await fs.writeFile(`${dir}/run.json`, JSON.stringify(run));
    const r = spawnSync(process.execPath, ["scripts/plot-serve.mjs", `${dir}/run.json`, `${dir}/out.svg`], { encoding: "utf8" });
    assert.is(r.status, 0, r.stderr);
    const svg = await fs.readFile(`${dir}/out.svg`, "utf8");
    const labels = [...svg.matchAll(/>(\d+\.\d\d)x</g)].map((m) => m[1]);
    assert.equal(labels, ["0.80", "2.00", "1.00", "1.50"], "400/500, 1000/500, 500/500, 750/500");
    assert.ok(svg.includes("target: 5 × best full (2500)"), "5 × 500");
    assert.ok(svg.includes("batched rows on matmul") && svg.includes("batched rows on matvec"));
    const bad = spawnSync(process.execPath, ["scripts/plot-serve.mjs"], { encoding: "utf8" });
    assert.is(bad.status, 2, "usage error without arguments");
    await fs.rm(dir, { recursive: true });
  });

  t.run();
}
