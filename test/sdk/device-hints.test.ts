// Issue 14: the no-adapter error tells the user what to do in the runtime it is in, and in
// Node two GPU caches in one process without VK_ICD_FILENAMES both get an adapter (the
// SwiftShader fallback, once found, is remembered and reused).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { noAdapterHint, requestGpuDevice } from "../../sdk/device";
import { runtime } from "../harness/env";

const t = suite(`no-adapter hints (${runtime})`);

t("each runtime gets its own advice, and none gets another runtime's", () => {
  const browser = noAdapterHint("browser"), deno = noAdapterHint("deno"), node = noAdapterHint("node"), worker = noAdapterHint("worker");
  assert.match(browser, /enable-unsafe-webgpu/);
  assert.not.match(browser, /apt-get|npm install/);
  assert.match(deno, /Vulkan/);
  assert.match(deno, /mesa-vulkan-drivers/);
  assert.not.match(deno, /npm install|"webgpu" package/);
  assert.match(node, /"webgpu" package/);
  assert.match(node, /apt-get install chromium/);
  for (const h of [browser, deno, node, worker]) assert.match(h, /backend: "cpu"/);
  // the hint with no argument is the one for the runtime running this test
  assert.is(noAdapterHint(), noAdapterHint(runtime === "chromium" ? "browser" : runtime));
});

if (runtime === "node") {
  t("two GPU caches in one Node process without VK_ICD_FILENAMES both find an adapter", async () => {
    const { spawnSync } = await import("node:child_process");
    const script = `import { createKvCache } from ${JSON.stringify(`${process.cwd()}/dist/kvcompress.node.js`)};
const cfg = { numLayers: 1, numQHeads: 2, numKvHeads: 1, headSize: 16, capacityTokens: 32, maxContextTokens: 32 };
for (let i = 0; i < 2; i++) { const c = await createKvCache(cfg, { backend: "gpu" }); console.log("cache", i, c.backendKind); c.destroy(); }`;
    const env = { ...process.env };
    delete env.VK_ICD_FILENAMES;
    delete env.VK_DRIVER_FILES;
    const r = spawnSync("node", ["--input-type=module", "-e", script], { encoding: "utf8", env, timeout: 60_000 });
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /cache 0 gpu\ncache 1 gpu/);
  });
}
t("a caller's device keeps its adapter's name where the runtime exposes GPUDevice.adapterInfo", async () => {
  const made = await requestGpuDevice();
  try {
    const again = await requestGpuDevice({ device: made.device });
    const info = (made.device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    if (info) assert.is(again.adapterName, made.adapterName);
    else assert.is(again.adapterName, "caller's device");
  } finally {
    made.device.destroy();
  }
});

t.run();
