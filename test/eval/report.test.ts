// Report output: SVGs are well-formed standalone XML (DOMParser where the runtime has one,
// a tag-balance check everywhere), the Markdown table has a row per result, and writeReport
// goes only through the injected writer.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { REPORT_FILES, escapeXml, fairnessWarnings, heatmapSvg, markdownReport, metricPlotSvg, writeReport } from "../../src/eval/report";
import type { EvalResult, EvalRow } from "../../src/eval/run";

const t = suite("eval report");

const row = (policy: string, ratio: number, kl: number, top1: number, achievedRatio = 1 / ratio): EvalRow =>
  ({ policy, ratio, achievedRatio, nll: 3 + kl, deltaNll: kl - 0.01, kl, klSe: kl / 10, klPerWindow: [kl, kl], top1, bytes: achievedRatio * 0.75 });

function sample(): EvalResult {
  const results: EvalRow[] = [row("full", 1, 0, 1)];
  for (const [policy, k] of [["streamingllm", 3], ["h2o", 2], ["kvcompress", 1], ["a<b&c", 1.5]] as const) {
    for (const r of [2, 4, 8, 16]) results.push(row(policy, r, 0.01 * k * r, 1 - 0.02 * k * Math.log2(r)));
  }
  return {
    model: "stories260K", text: "tinystories_val.txt", windows: 2, tokens: 1022, windowTokens: 512, prefixTokens: 384,
    predictions: 256, mode: "once", fullNll: 3.1, results,
    keptPerHead: { policy: "kvcompress", ratio: 8, kept: [[48, 10, 70.5, 30], [0, 48, 96, 2], [40, 40, 40, 40], [1, 2, 3, 4], [90, 5, 5, 3]], fullKvsPerHead: 384 },
  };
}

/** Tag balance + no raw "<" or stray "&" in text: the failures a hand-written SVG string can have. */
function checkXml(svg: string): void {
  const DOMParserCtor = (globalThis as { DOMParser?: typeof DOMParser }).DOMParser;
  if (DOMParserCtor) {
    const doc = new DOMParserCtor().parseFromString(svg, "image/svg+xml");
    assert.is(doc.getElementsByTagName("parsererror").length, 0, "DOMParser reports a parse error");
    assert.is(doc.documentElement.namespaceURI, "http://www.w3.org/2000/svg");
  }
  const body = svg.replace(/^<\?xml[^?]*\?>\s*/, "");
  assert.match(body, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  for (let m = tag.exec(body); m; m = tag.exec(body)) {
    const between = body.slice(last, m.index);
    assert.not.match(between, /[<>]/, `stray markup before offset ${m.index}: ${between.slice(0, 40)}`);
    assert.not.match(between, /&(?!(amp|lt|gt|quot|apos);)/, "unescaped &");
    last = tag.lastIndex;
    if (m[4] === "/") continue;
    if (m[1] === "/") assert.is(stack.pop(), m[2], `</${m[2]}> closes the wrong element`);
    else stack.push(m[2]);
  }
  assert.is(body.slice(last).trim(), "");
  assert.equal(stack, [], "unclosed elements");
}

t("KL and top-1 plots are well-formed, with a legend entry per policy and axis labels", () => {
  for (const metric of ["kl", "top1"] as const) {
    const svg = metricPlotSvg(sample(), metric);
    checkXml(svg);
    for (const p of ["streamingllm", "h2o", "kvcompress", "a&lt;b&amp;c"]) assert.ok(svg.includes(`>${p}</text>`), `${metric}: legend ${p}`);
    assert.ok(!svg.includes(">full</text>"), "full is the reference, not a line");
    assert.ok(svg.includes("achievedRatio, log scale"));
    assert.is((svg.match(/<polyline/g) ?? []).length, 4);
    assert.ok(svg.includes(">1/16</text>") && svg.includes(">16×</text>"));
  }
});

t("plots survive degenerate input: only ratio-1 rows, or no rows", () => {
  const r = sample();
  checkXml(metricPlotSvg({ ...r, results: [row("full", 1, 0, 1), row("h2o", 1, 0, 1)] }, "kl"));
  checkXml(metricPlotSvg({ ...r, results: [] }, "top1"));
});

t("heatmap is well-formed, one cell per [layer][kvHead]", () => {
  const r = sample();
  const svg = heatmapSvg(r.keptPerHead!, r.windows);
  checkXml(svg);
  assert.is((svg.match(/<title>layer /g) ?? []).length, 5 * 4);
  assert.ok(svg.includes("layer 0, kvHead 2: 70.5 kept"));
  assert.ok(svg.includes("kvcompress, R = 8"));
});

t("Markdown: header, one row per result ordered by ratio then KL, lowest KL bold, plots linked", () => {
  const md = markdownReport(sample());
  const lines = md.split("\n").filter((l) => /^\| \d/.test(l));
  assert.is(lines.length, 17);
  assert.ok(lines[0].startsWith("| 1 | full |"));
  assert.ok(lines[1].startsWith("| 2 | kvcompress |") && lines[1].includes("**0.0200**"));
  assert.ok(lines[2].startsWith("| 2 | a<b&c |"));
  assert.ok(lines[1].includes("| 0.5000 | 2.00× | 0.3750 |"), "achievedRatio, compression, bytes");
  assert.ok(md.includes("| bytes (of f16) |"));
  assert.ok(md.includes("FRACTION of KVs kept"));
  assert.ok(md.includes(`](${REPORT_FILES.kl})`) && md.includes(`](${REPORT_FILES.heatmap})`));
  assert.not.ok(md.includes("differ by more than 5%"));
});

t("fairness: an achieved ratio more than 5% off the median is flagged", () => {
  const rows = [row("h2o", 8, 0.1, 0.9, 0.125), row("snapkv", 8, 0.1, 0.9, 0.126), row("kvcompress", 8, 0.1, 0.9, 0.14)];
  const w = fairnessWarnings(rows);
  assert.is(w.length, 1);
  assert.match(w[0], /kvcompress kept 0\.1400, median 0\.1260/);
  assert.ok(markdownReport({ ...sample(), results: rows }).includes("differ by more than 5%"));
});

t("writeReport writes every file through the injected writer", async () => {
  const files = new Map<string, string>();
  const paths = await writeReport("out/", sample(), async (p, s) => void files.set(p, s));
  assert.equal(paths, ["out/quality.md", "out/result.json", "out/kl.svg", "out/top1.svg", "out/kept-per-head.svg"]);
  assert.equal([...files.keys()], paths);
  const json = JSON.parse(files.get("out/result.json")!);
  for (const k of ["model", "text", "windows", "tokens", "results"]) assert.ok(k in json, k);
  for (const k of ["policy", "ratio", "achievedRatio", "nll", "deltaNll", "kl", "top1"]) assert.ok(k in json.results[0], k);
  const noHeat = await writeReport("d", { ...sample(), keptPerHead: null }, async () => {});
  assert.equal(noHeat, ["d/quality.md", "d/result.json", "d/kl.svg", "d/top1.svg"]);
});

t("escapeXml escapes the five-character set that breaks markup", () => {
  assert.is(escapeXml(`a<b>&"c"`), "a&lt;b&gt;&amp;&quot;c&quot;");
});

t.run();
