// The shipped bundles, not the sources: each runtime imports its own dist entry (Chromium the
// single-file CDN bundle over HTTP) and runs a cache on it. The wasm and the WGSL must be
// inside the file: nothing else is served under those names.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { runtime } from "../harness/env";

const t = suite(`dist bundle (${runtime})`);

async function importDist(): Promise<typeof import("../../sdk/index")> {
  if (runtime === "chromium") return import(/* @vite-ignore */ new URL("/dist/kvcompress.browser.js", location.href).href);
  const { pathToFileURL } = (await import("node:url" as string)) as typeof import("node:url");
  const file = runtime === "deno" ? "dist/kvcompress.deno.js" : "dist/kvcompress.node.js";
  const cwd = runtime === "deno" ? (globalThis as unknown as { Deno: { cwd(): string } }).Deno.cwd() : process.cwd();
  return import(/* @vite-ignore */ pathToFileURL(`${cwd}/${file}`).href);
}

for (const backend of ["gpu", "cpu"] as const) {
  t(`the ${runtime} entry creates a ${backend} cache and compresses`, async () => {
    const kvc = await importDist();
    const cache = await kvc.createKvCache({
      ...kvc.PRESETS["tinystories-656K"], blockSize: 8, capacityTokens: 64, maxContextTokens: 64, storage: "f16",
      policy: { name: "kvcompress", maxTokensPerHead: 16 },
    }, { backend });
    try {
      assert.is(cache.backendKind, backend);
      const seq = cache.addSequence();
      await cache.reserve(seq, 40);
      const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
      for (let l = 0; l < 2; l++) {
        cache.append(l, seq, rand(40 * 4 * 16), rand(40 * 4 * 16));
        const out = await cache.attend(l, seq, rand(40 * 8 * 16));
        assert.ok(out.every(Number.isFinite));
      }
      await cache.endStep([seq]);
      const s = cache.stats();
      assert.is(s.sequences[0].keptKvs, 16 * 2 * 4);
      assert.ok(s.freeBlocks > 0);
    } finally {
      cache.destroy();
    }
  });
}

t.run();
