// scripts/plot-serve.mjs — the serving figure of docs/BENCHMARKS.md: generated tokens per second
// against compression, one line per batched-rows kernel, from a bench JSON made of the bench's
// SERVEJSON rows (docs/bench/serve-h200-*.json: { card, date, utc, env, rows }), with the issue's
// target (5x the best `full`) drawn across.
//   node scripts/plot-serve.mjs docs/bench/serve-h200-2026-12-03.json docs/serve-throughput.svg
import { readFileSync, writeFileSync } from "node:fs";

const [inFile, outFile] = process.argv.slice(2);
if (!inFile || !outFile) {
  console.error("usage: node scripts/plot-serve.mjs BENCH.json OUT.svg");
  process.exit(2);
}
const run = JSON.parse(readFileSync(inFile, "utf8"));
const rows = run.rows;
const ratios = [...new Set(rows.map((r) => r.ratio))].sort((a, b) => a - b);
const kernels = [...new Set(rows.map((r) => r.rows))];
const bestFull = Math.max(...rows.filter((r) => r.ratio === 1).map((r) => r.tokS));
const target = 5 * bestFull;
const W = 660, H = 380, L = 70, R = 50, T = 56, B = 50;
const yMax = Math.ceil(Math.max(target, ...rows.map((r) => r.tokS)) / 500) * 500;
const X = (ratio) => L + (ratios.indexOf(ratio) / Math.max(1, ratios.length - 1)) * (W - L - R);
const Y = (v) => T + (1 - v / yMax) * (H - T - B);
const COLORS = ["#1f77b4", "#d62728", "#2ca02c"];
const r0 = rows[0];
const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  `<rect width="${W}" height="${H}" fill="white"/>`,
  `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">Serving throughput against compression (${run.card}, ${run.date} ${run.utc} UTC)</text>`,
  `<text x="${W / 2}" y="38" text-anchor="middle" fill="#555">${r0.N} requests × ${r0.P} prompt + ${r0.G} generated; pool = ${r0.poolSeqsUncompressed} uncompressed; 1B shape, random bf16</text>`];
for (let v = 0; v <= yMax; v += 500) {
  out.push(`<line x1="${L}" x2="${W - R}" y1="${Y(v).toFixed(1)}" y2="${Y(v).toFixed(1)}" stroke="#ddd"/>`,
    `<text x="${L - 6}" y="${(Y(v) + 4).toFixed(1)}" text-anchor="end">${v}</text>`);
}
for (const ratio of ratios) out.push(`<text x="${X(ratio).toFixed(1)}" y="${H - B + 18}" text-anchor="middle">${ratio === 1 ? "full" : `${ratio}x`}</text>`);
out.push(`<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">policy (kvcompress at R×)</text>`,
  `<text x="16" y="${(T + H - B) / 2}" transform="rotate(-90 16 ${(T + H - B) / 2})" text-anchor="middle">generated tokens / s</text>`,
  `<line x1="${L}" x2="${W - R}" y1="${Y(target).toFixed(1)}" y2="${Y(target).toFixed(1)}" stroke="#999" stroke-dasharray="6 4"/>`,
  `<text x="${W - R}" y="${(Y(target) - 6).toFixed(1)}" text-anchor="end" fill="#555">target: 5 × best full (${target.toFixed(0)})</text>`);
kernels.forEach((k, i) => {
  const line = rows.filter((r) => r.rows === k).sort((a, b) => a.ratio - b.ratio);
  const pts = line.map((r) => `${X(r.ratio).toFixed(1)},${Y(r.tokS).toFixed(1)}`);
  out.push(`<polyline points="${pts.join(" ")}" fill="none" stroke="${COLORS[i % 3]}" stroke-width="2"/>`);
  for (const r of line) {
    out.push(`<circle cx="${X(r.ratio).toFixed(1)}" cy="${Y(r.tokS).toFixed(1)}" r="3.5" fill="${COLORS[i % 3]}"/>`,
      `<text x="${(X(r.ratio) + 5).toFixed(1)}" y="${(Y(r.tokS) - 6).toFixed(1)}" fill="${COLORS[i % 3]}">${(r.tokS / bestFull).toFixed(2)}x</text>`);
  }
  out.push(`<rect x="${L + 10}" y="${T + 8 + 18 * i}" width="10" height="10" fill="${COLORS[i % 3]}"/>`,
    `<text x="${L + 26}" y="${T + 17 + 18 * i}">batched rows on ${k}</text>`);
});
out.push("</svg>");
writeFileSync(outFile, out.join("\n") + "\n");
console.log(`${outFile}: ${rows.length} rows, best full ${bestFull.toFixed(1)} tok/s`);
