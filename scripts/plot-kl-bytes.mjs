// scripts/plot-kl-bytes.mjs — KL against KV bytes (relative to the f16 full cache) from
// `kvcompress eval --json --storage S` outputs: one SVG per model, and a Markdown table of the
// lowest-KL combination within each byte budget, with kvcompress's best and the best of the other
// policies side by side and their paired margin (mean over windows of the difference, ± its
// standard error; the runs must share their windows, as eval's runs of one text do).
//   node scripts/plot-kl-bytes.mjs OUT_DIR RESULT.json [RESULT.json ...]
// Each RESULT.json is one eval run; its storage is taken from the file name (…-f16.json, …-q8.json).
// "kvcompress" is the row named exactly so (the default); variants `kvcompress+…` are neither it
// nor "the other policies".
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

const [outDir, ...files] = process.argv.slice(2);
if (!outDir || files.length === 0) {
  console.error("usage: node scripts/plot-kl-bytes.mjs OUT_DIR RESULT.json [RESULT.json ...]");
  process.exit(2);
}

/** model → [{ policy, ratio, storage, bytes, kl }] */
const byModel = new Map();
for (const f of files) {
  const storage = /-(f32|f16|q8|q4)\.json$/.exec(f)?.[1];
  if (!storage) throw new Error(`${f}: name must end in -f16.json, -q8.json or -q4.json`);
  const r = JSON.parse(readFileSync(f, "utf8"));
  const model = path.basename(r.model);
  const rows = byModel.get(model) ?? [];
  for (const x of r.results) rows.push({ policy: x.policy, ratio: x.ratio, storage, bytes: x.bytes, kl: x.kl, klSe: x.klSe, perWindow: x.klPerWindow, windows: r.windows });
  byModel.set(model, rows);
}

const COLORS = { f32: "#777777", f16: "#1f77b4", q8: "#2ca02c", q4: "#d62728" };
const MARKS = ["circle", "square", "diamond", "triangle", "cross", "star", "plus", "box"];
const BUDGETS = [1 / 4, 1 / 8, 1 / 16, 1 / 32];

function svgFor(model, rows) {
  const W = 820, H = 440, L = 70, R = 270, T = 40, B = 50;
  const xs = rows.map((r) => Math.log2(r.bytes)), ys = rows.map((r) => Math.log10(Math.max(r.kl, 1e-5)));
  const x0 = Math.min(-6, ...xs), x1 = 0.2, y0 = Math.floor(Math.min(...ys)), y1 = Math.ceil(Math.max(...ys));
  const X = (v) => L + ((v - x0) / (x1 - x0)) * (W - L - R);
  const Y = (v) => T + ((y1 - v) / (y1 - y0 || 1)) * (H - T - B);
  const policies = [...new Set(rows.map((r) => r.policy))];
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${L}" y="22" font-size="14">${model}: KL(full ‖ policy) against KV bytes (f16 full cache = 1)</text>`];
  for (let e = Math.ceil(x0); e <= 0; e++) {
    out.push(`<line x1="${X(e)}" y1="${T}" x2="${X(e)}" y2="${H - B}" stroke="#eee"/>`,
      `<text x="${X(e)}" y="${H - B + 16}" text-anchor="middle">1/${2 ** -e}</text>`);
  }
  for (let e = y0; e <= y1; e++) {
    out.push(`<line x1="${L}" y1="${Y(e)}" x2="${W - R}" y2="${Y(e)}" stroke="#eee"/>`,
      `<text x="${L - 6}" y="${Y(e) + 4}" text-anchor="end">1e${e}</text>`);
  }
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">KV bytes in use / f16 full cache (log2)</text>`,
    `<text x="16" y="${(T + H - B) / 2}" transform="rotate(-90 16 ${(T + H - B) / 2})" text-anchor="middle">KL, nats (log10)</text>`);
  // one polyline per (policy, storage), along the ratios
  for (const storage of Object.keys(COLORS)) for (const [pi, policy] of policies.entries()) {
    const line = rows.filter((r) => r.storage === storage && r.policy === policy).sort((a, b) => b.bytes - a.bytes);
    if (line.length === 0) continue;
    const pts = line.map((r) => `${X(Math.log2(r.bytes)).toFixed(1)},${Y(Math.log10(Math.max(r.kl, 1e-5))).toFixed(1)}`);
    if (line.length > 1) out.push(`<polyline points="${pts.join(" ")}" fill="none" stroke="${COLORS[storage]}" stroke-opacity="0.5"/>`);
    for (const p of pts) out.push(marker(MARKS[pi % MARKS.length], p, COLORS[storage]));
  }
  let ly = T;
  for (const [storage, c] of Object.entries(COLORS)) {
    if (!rows.some((r) => r.storage === storage)) continue;
    out.push(`<rect x="${W - R + 16}" y="${ly}" width="10" height="10" fill="${c}"/><text x="${W - R + 32}" y="${ly + 10}">${storage}</text>`);
    ly += 18;
  }
  ly += 8;
  for (const [pi, policy] of policies.entries()) {
    out.push(marker(MARKS[pi % MARKS.length], `${W - R + 21},${ly + 5}`, "#333"), `<text x="${W - R + 32}" y="${ly + 10}">${policy}</text>`);
    ly += 18;
  }
  out.push("</svg>");
  return out.join("\n") + "\n";
}

function marker(kind, at, color) {
  const [x, y] = at.split(",").map(Number);
  const s = 4;
  switch (kind) {
    case "circle": return `<circle cx="${x}" cy="${y}" r="${s}" fill="${color}"/>`;
    case "square": return `<rect x="${x - s}" y="${y - s}" width="${2 * s}" height="${2 * s}" fill="${color}"/>`;
    case "diamond": return `<polygon points="${x},${y - s - 1} ${x + s + 1},${y} ${x},${y + s + 1} ${x - s - 1},${y}" fill="${color}"/>`;
    case "triangle": return `<polygon points="${x},${y - s - 1} ${x + s + 1},${y + s} ${x - s - 1},${y + s}" fill="${color}"/>`;
    case "plus": return `<path d="M${x - s - 1} ${y}L${x + s + 1} ${y}M${x} ${y - s - 1}L${x} ${y + s + 1}" stroke="${color}" stroke-width="2"/>`;
    case "box": return `<rect x="${x - s}" y="${y - s}" width="${2 * s}" height="${2 * s}" fill="none" stroke="${color}" stroke-width="2"/>`;
    case "cross": return `<path d="M${x - s} ${y - s}L${x + s} ${y + s}M${x + s} ${y - s}L${x - s} ${y + s}" stroke="${color}" stroke-width="2"/>`;
    default: return `<circle cx="${x}" cy="${y}" r="${s}" fill="none" stroke="${color}" stroke-width="2"/>`;
  }
}

const fmt = (x) => (x < 0.001 ? x.toExponential(2) : x.toFixed(4));
const withSe = (r) => (r.klSe !== undefined ? `${fmt(r.kl)} ± ${r.klSe.toFixed(4)}` : fmt(r.kl));
const label = (r) => `${r.policy}, ${r.storage}, R=${r.ratio}`;

/** Mean and standard error over windows of a.kl − b.kl, paired by window; null without per-window KL. */
function pairedMargin(a, b) {
  if (!a.perWindow || !b.perWindow || a.perWindow.length !== b.perWindow.length) return null;
  const d = a.perWindow.map((x, i) => x - b.perWindow[i]);
  const n = d.length, mean = d.reduce((s, x) => s + x, 0) / n;
  const se = n > 1 ? Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1) / n) : 0;
  return { mean, se };
}

// One table per model, so that a row fits in 140 columns.
const lines = [];
for (const [model, rows] of byModel) {
  const name = model.replace(/[^A-Za-z0-9._-]/g, "_");
  writeFileSync(path.join(outDir, `kl-vs-bytes-${name}.svg`), svgFor(model, rows));
  if (lines.length > 0) lines.push("");
  lines.push(`| ${model}, budget | lowest KL: policy, storage, R | best kvcompress | best other policy | kvcompress − other, paired |`,
    "|---|---|---|---|---|");
  for (const b of BUDGETS) {
    const within = rows.filter((r) => r.bytes <= b * 1.0001).sort((x, y) => x.kl - y.kl);
    const budget = `1/${Math.round(1 / b)}`;
    const best = within[0];
    if (!best) {
      lines.push(`| ${budget} | none fits | - | - | - |`);
      continue;
    }
    const kvc = within.find((r) => r.policy === "kvcompress");
    const other = within.find((r) => !r.policy.startsWith("kvcompress"));
    const m = kvc && other ? pairedMargin(kvc, other) : null;
    lines.push(`| ${budget} | ${label(best)}: ${fmt(best.kl)} | ${kvc ? `${kvc.storage} R=${kvc.ratio}: ${withSe(kvc)}` : "none fits"} | ` +
      `${other ? `${other.policy} ${other.storage} R=${other.ratio}: ${withSe(other)}` : "none fits"} | ` +
      `${m ? `${m.mean >= 0 ? "+" : "−"}${Math.abs(m.mean).toFixed(4)} ± ${m.se.toFixed(4)}` : "-"} |`);
  }
}
writeFileSync(path.join(outDir, "kl-vs-bytes.md"), lines.join("\n") + "\n");
console.log(lines.join("\n"));
