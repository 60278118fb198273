// A progress bar on stderr for long CLI work (model download, eval). The output stream is
// injected, so the bar is tested with a string array and works in Node and Deno alike.
// On a terminal it redraws one line with "\r"; in a log (CI, a pipe) it prints a fresh line
// every few seconds instead, because "\r" redraws turn a log file into one huge line.

/** Where the bar writes, and whether that is a terminal. */
export interface ProgressSink {
  write(text: string): void;
  isTTY: boolean;
}

export interface ProgressOptions extends ProgressSink {
  /** Shown first on the line, e.g. `download` or `eval`. */
  label: string;
  /** `bytes` formats counts as KiB/MiB/GiB and the rate per second; any other unit is printed as given (`tokens` → tok/s). */
  unit: "bytes" | "tokens" | (string & {});
  /** Total count, when known (a download without Content-Length has none: no bar, no ETA). */
  total?: number;
  /** Clock in milliseconds; injected for tests. Default `performance.now()`. */
  now?: () => number;
  /** Non-TTY: milliseconds between lines (default 5000). */
  intervalMs?: number;
  /** TTY: minimum milliseconds between redraws (default 100), so a fast loop does not flood the terminal. */
  redrawMs?: number;
  /** Bar cells (default 24). */
  barWidth?: number;
}

export interface ProgressBar {
  /** Reports `done` units so far; `total` may be set late, `detail` is appended to the line. */
  update(done: number, extra?: { total?: number; detail?: string }): void;
  /** Draws the final state and ends the line. Idempotent. */
  finish(detail?: string): void;
}

/**
 * @example
 * const bar = createProgressBar({ ...stderrSink(), label: "eval", unit: "tokens", total: 98304 });
 * bar.update(4096, { detail: "window 1/64" });
 * bar.finish();
 */
export function createProgressBar(o: ProgressOptions): ProgressBar {
  const now = o.now ?? (() => performance.now());
  const intervalMs = o.intervalMs ?? 5000;
  const redrawMs = o.redrawMs ?? 100;
  const start = now();
  let total = o.total;
  let done = 0;
  let detail = "";
  let lastDraw = -Infinity;
  let lastLine = start; // non-TTY: the first line comes one interval after the start
  let finished = false;

  const line = (): string => formatProgressLine(o.label, o.unit, done, total, (now() - start) / 1000, detail, o.barWidth ?? 24);
  const draw = (): void => {
    if (o.isTTY) o.write(`\r${line()}\x1b[K`);
    else o.write(`${line()}\n`);
  };

  return {
    update(value, extra) {
      if (finished) return;
      done = value;
      if (extra?.total !== undefined) total = extra.total;
      if (extra?.detail !== undefined) detail = extra.detail;
      const t = now();
      if (o.isTTY) {
        if (t - lastDraw >= redrawMs || (total !== undefined && done >= total)) {
          lastDraw = t;
          draw();
        }
      } else if (t - lastLine >= intervalMs) {
        lastLine = t;
        draw();
      }
    },
    finish(last) {
      if (finished) return;
      finished = true;
      if (last !== undefined) detail = last;
      draw();
      if (o.isTTY) o.write("\n");
    },
  };
}

/**
 * One progress line: `label [#####.....] done/total unit  rate  ETA  detail`.
 * Rate is the average since the start (steadier than an instantaneous rate for bursty work
 * like eval, where every window-runner call delivers a whole window at once).
 */
export function formatProgressLine(
  label: string, unit: string, done: number, total: number | undefined, elapsedS: number, detail: string, barWidth = 24,
): string {
  const bytes = unit === "bytes";
  const count = (v: number) => (bytes ? formatBytes(v) : String(Math.round(v)));
  const parts = [label];
  if (total !== undefined && total > 0) {
    const frac = Math.max(0, Math.min(1, done / total));
    const filled = Math.round(frac * barWidth);
    parts.push(`[${"#".repeat(filled)}${".".repeat(barWidth - filled)}]`, `${count(done)}/${count(total)}${bytes ? "" : ` ${unit}`}`, `${(frac * 100).toFixed(0)}%`);
  } else {
    parts.push(bytes ? count(done) : `${count(done)} ${unit}`);
  }
  const rate = elapsedS > 0 ? done / elapsedS : 0;
  parts.push(rate > 0 ? (bytes ? `${formatBytes(rate)}/s` : `${formatRate(rate)} ${rateUnit(unit)}`) : `-- ${bytes ? "B/s" : rateUnit(unit)}`);
  if (total !== undefined && total > 0) {
    parts.push(done >= total ? `done in ${formatDuration(elapsedS)}` : rate > 0 ? `ETA ${formatDuration((total - done) / rate)}` : "ETA --");
  }
  if (detail) parts.push(detail);
  return parts.join("  ");
}

function rateUnit(unit: string): string {
  return unit === "tokens" ? "tok/s" : `${unit}/s`;
}

function formatRate(r: number): string {
  return r >= 100 ? String(Math.round(r)) : r.toFixed(1);
}

/** 1536 → "1.5 KiB"; binary units because file sizes on disk are reported that way. */
export function formatBytes(b: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = b;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(v)} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** Seconds → "45s", "3m05s", "2h07m". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/**
 * The process's stderr as a sink, in Node or Deno, found through globalThis so this module has
 * no static node: import (it is bundled for every runtime). Returns a silent sink elsewhere.
 */
export function stderrSink(): ProgressSink {
  const g = globalThis as {
    process?: { stderr?: { write(s: string): unknown; isTTY?: boolean } };
    Deno?: { stderr: { writeSync(b: Uint8Array): number; isTerminal?(): boolean } };
  };
  if (g.Deno) {
    const err = g.Deno.stderr;
    const enc = new TextEncoder();
    // writeSync may write only part of the buffer; loop until all of it is out.
    const write = (s: string): void => {
      let bytes = enc.encode(s);
      while (bytes.length > 0) bytes = bytes.subarray(err.writeSync(bytes));
    };
    return { write, isTTY: err.isTerminal?.() ?? false };
  }
  const stderr = g.process?.stderr;
  if (stderr) return { write: (s) => void stderr.write(s), isTTY: stderr.isTTY === true };
  return { write: () => {}, isTTY: false };
}
