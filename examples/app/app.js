// The page: settings in, the Worker's messages out to the DOM. No model code here (worker.js).
// URL parameters prefill the form: ?model=…&checkpoint=…&tokenizer=…&backend=…&context=…&hub=…
const $ = (id) => document.getElementById(id);
const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
const params = new URLSearchParams(location.search);
let picked = null; // [{ name, file }] from the picker or a drop
let info = null;   // the "loaded" message
let busy = false;

for (const [key, id] of [["model", "model"], ["checkpoint", "checkpoint"], ["tokenizer", "tokenizer"], ["backend", "backend"], ["context", "context"]]) {
  if (params.has(key)) $(id).value = params.get(key);
}

// ── model source ──

/** Folder-relative names: the dropped or chosen folder's own name is dropped. */
function setPicked(entries) {
  const strip = entries.length > 0 && entries.every((e) => e.name.includes("/")) ? (n) => n.slice(n.indexOf("/") + 1) : (n) => n;
  picked = entries.map((e) => ({ name: strip(e.name), file: e.file }));
  $("picked").textContent = picked.length ? `${picked.length} file(s): ${picked.map((p) => p.name).join(", ")}` : "";
  if (picked.length) $("model").value = "";
}

async function entriesOf(entry, prefix = "") {
  if (entry.isFile) return [{ name: prefix + entry.name, file: await new Promise((ok, fail) => entry.file(ok, fail)) }];
  const reader = entry.createReader();
  const out = [];
  for (let batch; (batch = await new Promise((ok, fail) => reader.readEntries(ok, fail))).length;) {
    for (const e of batch) out.push(...await entriesOf(e, `${prefix}${entry.name}/`));
  }
  return out;
}

$("files").addEventListener("change", (e) => setPicked([...e.target.files].map((file) => ({ name: file.name, file }))));
$("folder").addEventListener("change", (e) => setPicked([...e.target.files].map((file) => ({ name: file.webkitRelativePath || file.name, file }))));
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", async (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const items = [...e.dataTransfer.items].map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
  if (items.length) setPicked((await Promise.all(items.map((it) => entriesOf(it)))).flat());
  else setPicked([...e.dataTransfer.files].map((file) => ({ name: file.name, file })));
});
$("model").addEventListener("input", () => { if ($("model").value) setPicked([]); });

/** Local llama2.c files: the largest .bin is the checkpoint, another .bin the tokenizer. */
function llama2cNames(names) {
  const out = {};
  if ($("checkpoint").value) out.checkpoint = $("checkpoint").value.trim();
  if ($("tokenizer").value) out.tokenizer = $("tokenizer").value.trim();
  if (names && !names.includes("config.json")) {
    const bins = picked.filter((p) => p.name.endsWith(".bin")).sort((a, b) => b.file.size - a.file.size);
    out.checkpoint ??= bins[0]?.name;
    out.tokenizer ??= bins.find((b) => b.name !== out.checkpoint)?.name;
  }
  return out;
}

function sourceSpec() {
  if (picked?.length) return { source: { kind: "files", files: picked }, llama2c: llama2cNames(picked.map((p) => p.name)) };
  const value = $("model").value.trim();
  if (!value) throw new Error("Enter a Hugging Face id or a URL, or choose files.");
  if (/^[\w.-]+\/[\w.-]+$/.test(value) && !value.startsWith(".")) return { source: { kind: "hub", id: value, hubUrl: params.get("hub") ?? undefined }, llama2c: llama2cNames() };
  const url = new URL(value, location.href);
  const llama2c = llama2cNames();
  if (url.pathname.endsWith(".bin")) { // a checkpoint's own URL: its folder is the source
    llama2c.checkpoint ??= url.pathname.slice(url.pathname.lastIndexOf("/") + 1);
    url.pathname = url.pathname.slice(0, url.pathname.lastIndexOf("/") + 1);
  }
  return { source: { kind: "url", url: url.href }, llama2c };
}

// ── settings ──

function policy() {
  const name = $("policy").value;
  if (name === "full") return { name };
  const p = { name, protectedWindow: intOf("protected", 0), trigger: $("mode-once").checked ? "prefill" : "continual" };
  // The heatmap shows the paper's per-head rates. headFloor 0 is kvcompress's default (docs/QUALITY.md);
  // it is spelled out because a floor of 1 would keep every head at the mean and the heatmap flat.
  if (name === "kvcompress") p.headFloor = 0;
  if ($("budget-tokens").checked) p.maxTokensPerHead = intOf("max-tokens-per-head", 1);
  else p.ratio = Number($("ratio").value);
  return p;
}

function intOf(id, min) {
  const v = Number($(id).value);
  if (!Number.isInteger(v) || v < min) throw new Error(`${$(id).labels?.[0]?.textContent ?? $(id).getAttribute("aria-label")}: a whole number ≥ ${min}, please.`);
  return v;
}

function syncPolicyControls() {
  const full = $("policy").value === "full";
  $("budget-set").disabled = full;
  $("mode-set").disabled = full;
  $("ratio").disabled = full || !$("budget-ratio").checked;
  $("max-tokens-per-head").disabled = full || !$("budget-tokens").checked;
}
for (const id of ["policy", "budget-ratio", "budget-tokens"]) $(id).addEventListener("change", syncPolicyControls);
syncPolicyControls();

// ── running ──

function setBusy(b) {
  busy = b;
  $("load").disabled = b;
  $("generate").disabled = b || !info;
  $("stop").disabled = !b || !info;
}

function fail(message) {
  $("error").textContent = message;
  console.error(message);
}

$("load-form").addEventListener("submit", (e) => {
  e.preventDefault();
  $("error").textContent = "";
  try {
    const { source, llama2c } = sourceSpec();
    info = null;
    setBusy(true);
    $("stop").disabled = true;
    $("progress").hidden = false;
    $("progress").value = 0;
    $("load-status").textContent = "Loading…";
    worker.postMessage({ type: "load", source, llama2c, backend: $("backend").value, maxContextTokens: intOf("context", 16), policy: policy() });
  } catch (err) {
    fail(err.message);
  }
});

$("gen-form").addEventListener("submit", (e) => {
  e.preventDefault();
  if (busy || !info) return;
  $("error").textContent = "";
  try {
    const msg = { type: "generate", prompt: $("prompt").value, maxTokens: intOf("max-tokens", 1), policy: policy(), compare: $("compare").checked };
    $("text").textContent = "";
    $("full-text").textContent = "";
    $("full-figure").hidden = !msg.compare;
    $("text-caption").textContent = describe(msg.policy);
    $("run-status").textContent = "Generating…";
    setBusy(true);
    worker.postMessage(msg);
  } catch (err) {
    fail(err.message);
  }
});
$("stop").addEventListener("click", () => worker.postMessage({ type: "stop" }));

function describe(p) {
  if (p.name === "full") return "full (no compression)";
  const budget = p.ratio !== undefined ? `ratio ${p.ratio}` : `≤ ${p.maxTokensPerHead} KVs per head`;
  return `${p.name}, ${budget}, ${p.trigger === "prefill" ? "once" : "continual"}`;
}

worker.onmessage = (e) => {
  const m = e.data;
  if (m.type === "progress") {
    const mb = (n) => (n / 1048576).toFixed(1);
    $("progress").value = m.totalBytes > 0 ? m.loadedBytes / m.totalBytes : 0;
    $("load-status").textContent = `Loading ${m.file}: ${mb(m.loadedBytes)} of ${m.totalBytes > 0 ? mb(m.totalBytes) : "?"} MB`;
  } else if (m.type === "loaded") {
    info = m;
    $("progress").hidden = true;
    $("load-status").textContent = `Loaded (${m.format}, ${m.numLayers} layers × ${m.numKvHeads} KV heads, ${(m.weightBytes / 1048576).toFixed(1)} MB of weights) on ${backendName(m)}.`;
    buildHeatmap(m.numLayers, m.numKvHeads);
    render(m.stats, null);
    setBusy(false);
  } else if (m.type === "step") {
    $("text").textContent += m.text;
    if (m.fullText) $("full-text").textContent += m.fullText;
    render(m.stats, m);
  } else if (m.type === "done" || m.type === "stopped") {
    $("text").textContent += m.text;
    if (m.fullText) $("full-text").textContent += m.fullText;
    render(m.stats, null);
    $("run-status").textContent = m.type === "done" ? "Done." : "Stopped.";
    setBusy(false);
  } else if (m.type === "error") {
    $("progress").hidden = true;
    if (!info) $("load-status").textContent = "No model loaded.";
    $("run-status").textContent = "";
    fail(`${m.name}: ${m.message}`);
    setBusy(false);
  }
};
worker.onerror = (e) => { fail(`worker: ${e.message}`); setBusy(false); };

// ── the live view ──

function backendName(m) {
  return m.backend === "gpu" ? `WebGPU (${m.adapterName})` : `CPU (${m.adapterName})`;
}

function fmtBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0, v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

function buildHeatmap(numLayers, numKvHeads) {
  const table = $("heatmap");
  table.querySelector("thead")?.remove();
  const head = table.createTHead().insertRow();
  head.appendChild(Object.assign(document.createElement("th"), { scope: "col", textContent: "layer" }));
  for (let h = 0; h < numKvHeads; h++) head.appendChild(Object.assign(document.createElement("th"), { scope: "col", textContent: `head ${h}` }));
  const body = table.tBodies[0];
  body.replaceChildren();
  for (let l = 0; l < numLayers; l++) {
    const row = body.insertRow();
    row.appendChild(Object.assign(document.createElement("th"), { scope: "row", textContent: String(l) }));
    for (let h = 0; h < numKvHeads; h++) row.insertCell().className = "cell";
  }
}

/** Light (keeps least) → dark blue (keeps most, of all heads now); the text colour that contrasts more. */
function shade(fraction) {
  const lo = [239, 244, 255], hi = [8, 48, 107];
  const rgb = lo.map((a, i) => Math.round(a + (hi[i] - a) * Math.min(1, Math.max(0, fraction))));
  const lum = rgb.map((c) => { c /= 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; });
  const L = 0.2126 * lum[0] + 0.7152 * lum[1] + 0.0722 * lum[2];
  return { background: `rgb(${rgb.join(",")})`, color: (L + 0.05) / 0.05 >= 1.05 / (L + 0.05) ? "#000" : "#fff" };
}

function render(stats, step) {
  const s = stats.sequences[0];
  const cells = $("heatmap").querySelectorAll("td.cell");
  const most = s ? Math.max(1, ...s.keptPerHead) : 1;
  cells.forEach((td, i) => {
    const kept = s ? s.keptPerHead[i] : 0;
    td.textContent = String(kept);
    td.title = s ? `layer ${Math.floor(i / info.numKvHeads)}, KV head ${i % info.numKvHeads}: ${kept} of ${s.seqLen} KVs kept` : "";
    Object.assign(td.style, shade(kept / most));
  });
  $("fig-backend").textContent = backendName(info);
  $("fig-memory").textContent = `${fmtBytes(stats.bytesInUse)} (${stats.bytesInUse} B)`;
  $("fig-uncompressed").textContent = `${fmtBytes(stats.bytesUncompressed)} (${stats.bytesUncompressed} B)`
    + (stats.bytesInUse > 0 ? `, ${(stats.bytesUncompressed / stats.bytesInUse).toFixed(2)}× smaller in use` : "");
  $("memory-meter").value = stats.bytesUncompressed > 0 ? stats.bytesInUse / stats.bytesUncompressed : 0;
  $("fig-passes").textContent = String(stats.passes);
  if (step) {
    $("fig-speed").textContent = `${step.tokensPerSecond > 0 ? `${step.tokensPerSecond.toFixed(1)} tok/s` : "–"}, prompt in ${(step.prefillMs / 1000).toFixed(2)} s`;
    $("fig-tokens").textContent = `${step.promptTokens} prompt + ${step.generated} generated`;
  }
  // The stats this view was drawn from, as the SDK returned them: a test reads them here.
  document.body.dataset.stats = JSON.stringify({ ...stats, sequences: stats.sequences.map((q) => ({ ...q, keptPerHead: Array.from(q.keptPerHead) })) });
}
