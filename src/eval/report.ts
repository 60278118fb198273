// The published form of an eval run (issue 8): a Markdown table and hand-written SVG plots.
// SVG is produced as plain strings, standalone (xmlns, explicit width/height/viewBox, inline
// styles) so a browser shows the file as is, and no plotting library enters the package.
import type { EvalResult, EvalRow, KeptPerHead } from "./run";

/** Writes one text file; the CLI passes a node:fs/Deno writer, tests pass a Map. */
export type ReportWriter = (path: string, text: string) => Promise<void>;

/** File names `writeReport` produces, relative to its directory. */
export const REPORT_FILES = { markdown: "quality.md", json: "result.json", kl: "kl.svg", top1: "top1.svg", heatmap: "kept-per-head.svg" } as const;

// Colours chosen to stay apart for 9 series; one per policy, in the order the policies were given.
const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"];
// Achieved ratios of one nominal ratio that differ by more than this are flagged: issue 8 asks
// for equal achieved ratios "within a few percent" for the comparison to be fair.
const FAIRNESS_TOLERANCE = 0.05;

/**
 * Writes quality.md, result.json, kl.svg, top1.svg and (when the result has one) kept-per-head.svg
 * into `dir` through `write`. Returns the paths written.
 */
export async function writeReport(dir: string, result: EvalResult, write: ReportWriter): Promise<string[]> {
  const base = dir.replace(/\/+$/, "");
  const files: [string, string][] = [
    [REPORT_FILES.markdown, markdownReport(result)],
    [REPORT_FILES.json, JSON.stringify(result, null, 2) + "\n"],
    [REPORT_FILES.kl, metricPlotSvg(result, "kl")],
    [REPORT_FILES.top1, metricPlotSvg(result, "top1")],
  ];
  if (result.keptPerHead) files.push([REPORT_FILES.heatmap, heatmapSvg(result.keptPerHead, result.windows)]);
  const paths: string[] = [];
  for (const [name, text] of files) {
    const path = base === "" ? name : `${base}/${name}`;
    await write(path, text);
    paths.push(path);
  }
  return paths;
}

// ---- Markdown

/** The Markdown table: rows by ratio, then by KL ascending (KL is the ranking measure). */
export function markdownReport(r: EvalResult): string {
  const rows = [...r.results].sort((a, b) => a.ratio - b.ratio || a.kl - b.kl);
  const bestKl = new Map<number, number>();
  // R = 1 is the harness check (every KL should be 0), so no "best" there.
  for (const row of rows) if (row.policy !== "full" && row.ratio !== 1 && !bestKl.has(row.ratio)) bestKl.set(row.ratio, row.kl);
  const lines = [
    `# KV-cache compression quality: ${r.model} on ${r.text}`,
    "",
    `${r.windows} windows of T = ${r.windowTokens} tokens (${r.tokens} text tokens, BOS in front of each),`,
    `prefix P = ${r.prefixTokens}, ${r.predictions} predictions per row, mode \`${r.mode}\`. ` +
      `Full-cache NLL ${fmt(r.fullNll)} nats.`,
    "",
    "**achievedRatio** is the FRACTION of KVs kept: KVs kept ÷ KVs of the full cache, over all layers and KV",
    "heads, averaged over windows (≈ 1/R; 0.125 = 8× compression). Policies are ranked by KL(full ‖ policy);",
    "ΔNLL is reported but is often negative on these models (docs/METHOD.md §5). The lowest KL per ratio is bold;",
    "± is the standard error over windows. **bytes** is the KV bytes in use (whole blocks, q8/q4 scales included)",
    "over the bytes of the full cache stored in f16.",
    "",
    "| ratio R | policy | achievedRatio (kept) | compression | bytes (of f16) | KL(full ‖ policy) ± se | top-1 agreement | NLL | ΔNLL |",
    "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const row of rows) {
    const kl = row.policy !== "full" && bestKl.get(row.ratio) === row.kl ? `**${fmt(row.kl)}**` : fmt(row.kl);
    lines.push(`| ${row.ratio} | ${row.policy} | ${row.achievedRatio.toFixed(4)} | ${(1 / row.achievedRatio).toFixed(2)}× | ${row.bytes.toFixed(4)} | ` +
      `${kl} ± ${fmt(row.klSe)} | ${row.top1.toFixed(4)} | ${fmt(row.nll)} | ${fmtSigned(row.deltaNll)} |`);
  }
  const unfair = fairnessWarnings(r.results);
  if (unfair.length > 0) lines.push("", "Achieved ratios that differ by more than 5% at one nominal ratio:", "", ...unfair.map((w) => `- ${w}`));
  lines.push("", `![KL(full ‖ policy) against achieved ratio](${REPORT_FILES.kl})`, "", `![top-1 agreement against achieved ratio](${REPORT_FILES.top1})`);
  if (r.keptPerHead) {
    lines.push("", `![KVs kept per [layer][kvHead], ${r.keptPerHead.policy} at R = ${r.keptPerHead.ratio}](${REPORT_FILES.heatmap})`);
  }
  return lines.join("\n") + "\n";
}

/** Rows whose achievedRatio differs from the median of their nominal ratio by more than 5%. */
export function fairnessWarnings(results: readonly EvalRow[]): string[] {
  const out: string[] = [];
  for (const ratio of [...new Set(results.map((x) => x.ratio))].sort((a, b) => a - b)) {
    const group = results.filter((x) => x.ratio === ratio && x.policy !== "full");
    const sorted = group.map((x) => x.achievedRatio).sort((a, b) => a - b);
    if (sorted.length < 2) continue;
    const median = sorted[Math.floor((sorted.length - 1) / 2)];
    for (const x of group) {
      const dev = Math.abs(x.achievedRatio - median) / median;
      if (dev > FAIRNESS_TOLERANCE) out.push(`R = ${ratio}: ${x.policy} kept ${x.achievedRatio.toFixed(4)}, median ${median.toFixed(4)} (${(dev * 100).toFixed(1)}% off)`);
    }
  }
  return out;
}

function fmt(x: number): string {
  if (x === 0) return "0";
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) < 1e-3 ? x.toExponential(2) : x.toFixed(4);
}

function fmtSigned(x: number): string {
  return x > 0 ? `+${fmt(x)}` : fmt(x);
}

// ---- SVG helpers

/** Escapes text for XML content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function svgOpen(width: number, height: number): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    `font-family="sans-serif" font-size="12">\n<rect width="${width}" height="${height}" fill="#ffffff"/>\n`;
}

function text(x: number, y: number, s: string, attrs = ""): string {
  return `<text x="${n(x)}" y="${n(y)}"${attrs ? " " + attrs : ""}>${escapeXml(s)}</text>\n`;
}

/** Coordinates rounded to 0.01 px: enough for display, and stable text for tests and diffs. */
function n(x: number): string {
  return String(Math.round(x * 100) / 100);
}

/** "Nice" linear ticks (steps of 1, 2 or 5 × 10^k) from 0 to at least `max`. */
function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let i = 0; ticks.length === 0 || ticks[ticks.length - 1] < max - 1e-12 * max; i++) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}

// ---- line plots

/**
 * KL or top-1 agreement against achievedRatio, one line per policy (`full` is left out: it is the
 * reference, a single point at (1, 0) / (1, 1)). x is log2 of the kept fraction, reversed so
 * more compression is further right; ticks at powers of two label both the fraction and the factor.
 */
export function metricPlotSvg(r: EvalResult, metric: "kl" | "top1"): string {
  const W = 720, H = 440, left = 80, right = 190, top = 50, bottom = 70;
  const plotW = W - left - right, plotH = H - top - bottom;
  const policies = [...new Set(r.results.map((x) => x.policy))].filter((p) => p !== "full");
  const pts = r.results.filter((x) => x.policy !== "full" && x.achievedRatio > 0);
  const lx = pts.map((x) => Math.log2(x.achievedRatio));
  let xMin = Math.min(0, ...lx), xMax = Math.max(0, ...lx); // log2(1) = 0 always on the axis
  xMin = Math.floor(xMin - 1e-9);
  if (xMin === xMax) xMin = xMax - 1;
  // Reversed axis: kept fraction 1 (log 0) at the left edge.
  const sx = (kept: number) => left + ((xMax - Math.log2(kept)) / (xMax - xMin)) * plotW;
  const yTicks = metric === "top1" ? [0, 0.2, 0.4, 0.6, 0.8, 1] : niceTicks(Math.max(...pts.map((x) => x.kl), 0));
  const yMax = yTicks[yTicks.length - 1];
  const sy = (v: number) => top + plotH - (Math.min(v, yMax) / yMax) * plotH;
  const yName = metric === "kl" ? "KL(full ‖ policy), nats per token" : "top-1 agreement with full";
  let s = svgOpen(W, H);
  s += text(left + plotW / 2, 26, `${metric === "kl" ? "KL divergence" : "Top-1 agreement"} vs KVs kept — ${r.model}, ${r.windows} windows, mode ${r.mode}`,
    `text-anchor="middle" font-size="14" font-weight="bold"`);
  s += `<g stroke="#dddddd" stroke-width="1">\n`;
  for (const v of yTicks) s += `<line x1="${left}" y1="${n(sy(v))}" x2="${left + plotW}" y2="${n(sy(v))}"/>\n`;
  for (let e = xMin; e <= xMax; e++) s += `<line x1="${n(sx(2 ** e))}" y1="${top}" x2="${n(sx(2 ** e))}" y2="${top + plotH}"/>\n`;
  s += `</g>\n<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333333"/>\n`;
  for (const v of yTicks) s += text(left - 8, sy(v) + 4, metric === "kl" ? String(v) : v.toFixed(1), `text-anchor="end"`);
  for (let e = xMin; e <= xMax; e++) {
    s += text(sx(2 ** e), top + plotH + 18, e === 0 ? "1" : `1/${2 ** -e}`, `text-anchor="middle"`);
    s += text(sx(2 ** e), top + plotH + 32, `${2 ** -e}×`, `text-anchor="middle" fill="#666666" font-size="10"`);
  }
  s += text(left + plotW / 2, H - 14, "KVs kept ÷ full-cache KVs (achievedRatio, log scale; more compression →)", `text-anchor="middle"`);
  s += text(20, top + plotH / 2, yName, `text-anchor="middle" transform="rotate(-90 20 ${n(top + plotH / 2)})"`);
  policies.forEach((policy, i) => {
    const color = PALETTE[i % PALETTE.length];
    const series = pts.filter((x) => x.policy === policy).sort((a, b) => b.achievedRatio - a.achievedRatio);
    const coords = series.map((x) => `${n(sx(x.achievedRatio))},${n(sy(x[metric]))}`).join(" ");
    s += `<g stroke="${color}" fill="${color}">\n<polyline points="${coords}" fill="none" stroke-width="2"/>\n`;
    for (const x of series) {
      s += `<circle cx="${n(sx(x.achievedRatio))}" cy="${n(sy(x[metric]))}" r="3.5"><title>${escapeXml(
        `${policy} R=${x.ratio}: kept ${x.achievedRatio.toFixed(4)}, ${metric} ${fmt(x[metric])}`)}</title></circle>\n`;
    }
    s += `</g>\n`;
    const ly = top + 10 + i * 20;
    s += `<line x1="${left + plotW + 16}" y1="${ly}" x2="${left + plotW + 40}" y2="${ly}" stroke="${color}" stroke-width="2"/>\n`;
    s += `<circle cx="${left + plotW + 28}" cy="${ly}" r="3.5" fill="${color}"/>\n`;
    s += text(left + plotW + 46, ly + 4, policy);
  });
  return s + "</svg>\n";
}

// ---- heatmap

/**
 * Mean KVs kept per [layer][kvHead]: layers down, KV heads across, white (0) → dark blue (the
 * largest head). Scaled to the largest head rather than to the full cache: at R = 8 every head
 * keeps a small fraction of the full cache, and the point of the plot is how unequal they are.
 */
export function heatmapSvg(h: KeptPerHead, numWindows: number): string {
  const numLayers = h.kept.length;
  const numKvHeads = Math.max(1, ...h.kept.map((l) => l.length));
  const cellW = Math.max(28, Math.min(64, Math.floor(560 / numKvHeads)));
  const cellH = Math.max(14, Math.min(36, Math.floor(560 / Math.max(1, numLayers))));
  const left = 70, top = 60, barW = 16;
  const gridW = cellW * numKvHeads, gridH = cellH * numLayers;
  const W = left + gridW + 160, H = top + gridH + 60;
  const full = h.fullKvsPerHead > 0 ? h.fullKvsPerHead : 1;
  const maxKept = Math.max(1e-9, ...h.kept.flat());
  const showValues = cellW >= 36 && cellH >= 16;
  let s = svgOpen(W, Math.max(H, top + 200));
  s += text(left, 24, `KVs kept per [layer][kvHead] — ${h.policy}, R = ${h.ratio}`, `font-size="14" font-weight="bold"`);
  s += text(left, 42, `mean over ${numWindows} windows; full cache ${fmtCount(full)} KVs per head, a uniform budget ${fmtCount(full / h.ratio)}`, `fill="#555555"`);
  for (let l = 0; l < numLayers; l++) {
    for (let k = 0; k < h.kept[l].length; k++) {
      const v = h.kept[l][k];
      const frac = Math.max(0, Math.min(1, v / full));
      const shade = Math.max(0, Math.min(1, v / maxKept));
      const x = left + k * cellW, y = top + l * cellH;
      s += `<rect x="${x}" y="${y}" width="${cellW}" height="${cellH}" fill="${blue(shade)}" stroke="#ffffff">` +
        `<title>${escapeXml(`layer ${l}, kvHead ${k}: ${fmtCount(v)} kept (${(frac * 100).toFixed(1)}%)`)}</title></rect>\n`;
      if (showValues) s += text(x + cellW / 2, y + cellH / 2 + 4, fmtCount(v), `text-anchor="middle" font-size="10" fill="${shade > 0.55 ? "#ffffff" : "#000000"}"`);
    }
    s += text(left - 6, top + l * cellH + cellH / 2 + 4, String(l), `text-anchor="end" font-size="10"`);
  }
  for (let k = 0; k < numKvHeads; k++) s += text(left + k * cellW + cellW / 2, top + gridH + 14, String(k), `text-anchor="middle" font-size="10"`);
  s += text(left + gridW / 2, top + gridH + 34, "KV head", `text-anchor="middle"`);
  s += text(22, top + gridH / 2, "layer", `text-anchor="middle" transform="rotate(-90 22 ${n(top + gridH / 2)})"`);
  // Colour bar: 10 steps from full (top) to 0 (bottom).
  const barX = left + gridW + 24, barH = Math.max(gridH, 140);
  for (let i = 0; i < 10; i++) {
    s += `<rect x="${barX}" y="${n(top + (i * barH) / 10)}" width="${barW}" height="${n(barH / 10 + 0.5)}" fill="${blue(1 - (i + 0.5) / 10)}"/>\n`;
  }
  s += `<rect x="${barX}" y="${top}" width="${barW}" height="${n(barH)}" fill="none" stroke="#333333"/>\n`;
  s += text(barX + barW + 4, top + 8, `${fmtCount(maxKept)} (${((maxKept / full) * 100).toFixed(0)}% of full)`, `font-size="10"`);
  s += text(barX + barW + 4, top + barH, "0", `font-size="10"`);
  return s + "</svg>\n";
}

function fmtCount(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

/** Linear blend from #f7fbff (0) to #08306b (1). */
function blue(t: number): string {
  const c = (a: number, b: number) => Math.round(a + (b - a) * t).toString(16).padStart(2, "0");
  return `#${c(0xf7, 0x08)}${c(0xfb, 0x30)}${c(0xff, 0x6b)}`;
}
