// The stderr progress bar with an injected sink and clock: TTY redraws, non-TTY log lines.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createProgressBar, formatBytes, formatDuration, formatProgressLine } from "../../src/cli/progress";

const t = suite("cli progress");

function harness(isTTY: boolean, unit = "tokens", total?: number) {
  const out: string[] = [];
  let clock = 0;
  const bar = createProgressBar({ write: (s) => out.push(s), isTTY, label: "eval", unit, total, now: () => clock, intervalMs: 5000, redrawMs: 100, barWidth: 10 });
  return { out, bar, tick: (ms: number) => void (clock += ms) };
}

t("TTY: redraws in place with \\r, throttled, ends with a newline", () => {
  const { out, bar, tick } = harness(true, "tokens", 1000);
  tick(1000);
  bar.update(100, { detail: "window 1/10" });
  tick(10);
  bar.update(110); // within 100 ms of the last redraw: skipped
  tick(990);
  bar.update(200);
  assert.is(out.length, 2);
  assert.ok(out.every((s) => s.startsWith("\r") && s.endsWith("\x1b[K")));
  // 100 tokens in 1 s → 100 tok/s; 900 left → ETA 9s.
  assert.is(out[0], "\reval  [#.........]  100/1000 tokens  10%  100 tok/s  ETA 9s  window 1/10\x1b[K");
  bar.finish();
  bar.finish(); // idempotent
  assert.is(out[out.length - 1], "\n");
  assert.is(out.length, 4);
});

t("TTY: reaching the total always draws, even inside the throttle interval", () => {
  const { out, bar, tick } = harness(true, "tokens", 100);
  tick(500);
  bar.update(50);
  tick(1);
  bar.update(100);
  assert.is(out.length, 2);
  assert.ok(out[1].includes("100/100 tokens  100%") && out[1].includes("done in 1s"));
});

t("non-TTY: one plain line per interval, no \\r, and a final line", () => {
  const { out, bar, tick } = harness(false, "tokens", 1000);
  for (let i = 1; i <= 12; i++) {
    tick(1000);
    bar.update(i * 10);
  }
  assert.is(out.length, 2); // at 5 s and 10 s; 5% of 10 cells rounds to 1
  assert.ok(out.every((s) => !s.includes("\r") && s.endsWith("\n")));
  assert.is(out[0], "eval  [#.........]  50/1000 tokens  5%  10.0 tok/s  ETA 1m35s\n");
  bar.finish("12 windows");
  assert.is(out.length, 3);
  assert.ok(out[2].endsWith("12 windows\n"));
});

t("bytes: sizes and rate in binary units; unknown total gives no bar and no ETA", () => {
  // 3 MiB in 2 s → 1.5 MiB/s.
  assert.is(formatProgressLine("download", "bytes", 3 * 1024 * 1024, undefined, 2, ""), "download  3.0 MiB  1.5 MiB/s");
  assert.is(formatProgressLine("download", "bytes", 512, 2048, 0, ""), "download  [######..................]  512 B/2.0 KiB  25%  -- B/s  ETA --");
});

t("formatBytes and formatDuration", () => {
  assert.is(formatBytes(0), "0 B");
  assert.is(formatBytes(1536), "1.5 KiB");
  assert.is(formatBytes(5 * 1024 ** 3), "5.0 GiB");
  assert.is(formatDuration(45), "45s");
  assert.is(formatDuration(185), "3m05s");
  assert.is(formatDuration(7620), "2h07m");
  assert.is(formatDuration(Infinity), "--");
});

t.run();
