// esbuild plugins shared by the dist build, the test harness and the benches.
// - `*.wgsl` imports become strings (loader "text").
// - `kvcompress:wasm/<name>` imports become the bytes of build/wasm/<name>.<variant>.wasm,
//   embedded in the bundle (base64 → Uint8Array), so no bundle ever fetches its own wasm.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** @param {"debug" | "release"} variant */
export function wasmPlugin(variant) {
  return {
    name: "kvcompress-wasm",
    setup(build) {
      build.onResolve({ filter: /^kvcompress:wasm\// }, (args) => ({
        path: path.join(repoRoot, "build", "wasm", `${args.path.slice("kvcompress:wasm/".length)}.${variant}.wasm`),
        namespace: "kvc-wasm",
      }));
      build.onLoad({ filter: /.*/, namespace: "kvc-wasm" }, async (args) => {
        let bytes;
        try {
          bytes = await readFile(args.path);
        } catch {
          return { errors: [{ text: `missing ${path.relative(repoRoot, args.path)}: run "npm run build:wasm" first` }] };
        }
        return { contents: bytes, loader: "binary", watchFiles: [args.path] };
      });
    },
  };
}

/** `kvcompress:source/<repo path>` imports become that file's text: tests that check a
 *  contract against the AssemblyScript sources read them this way in every runtime. */
export function sourceTextPlugin() {
  return {
    name: "kvcompress-source-text",
    setup(build) {
      build.onResolve({ filter: /^kvcompress:source\// }, (args) => ({
        path: path.join(repoRoot, args.path.slice("kvcompress:source/".length)),
        namespace: "kvc-source",
      }));
      build.onLoad({ filter: /.*/, namespace: "kvc-source" }, async (args) => ({
        contents: await readFile(args.path, "utf8"), loader: "text", watchFiles: [args.path],
      }));
    },
  };
}

/** Non-Node bundles (browser, Deno, workerd): `@huggingface/hub` becomes its browser build.
 *  Its package `exports` has only `import`/`require` (the Node build, which imports fs, path and
 *  os at the top); the browser build is named only in its legacy `browser` field, which esbuild
 *  does not apply to a path that `exports` resolved. */
export function hubBrowserPlugin() {
  return {
    name: "kvcompress-hub-browser",
    setup(build) {
      if (build.initialOptions.platform === "node") return;
      // require.resolve gives dist/index.js (the `require` condition); the browser build sits beside it.
      // Resolved on first import only, so a bundle that never imports the hub does not need it.
      build.onResolve({ filter: /^@huggingface\/hub$/ }, () => {
        const require = createRequire(path.join(repoRoot, "package.json"));
        return { path: path.join(path.dirname(require.resolve("@huggingface/hub")), "browser", "index.mjs") };
      });
    },
  };
}

/** Options every bundle shares. */
export function commonOptions(variant) {
  return {
    bundle: true,
    format: "esm",
    target: "es2022",
    loader: { ".wgsl": "text" },
    plugins: [wasmPlugin(variant), sourceTextPlugin(), hubBrowserPlugin()],
    logLevel: "warning",
    legalComments: "none",
  };
}

/** Browser, Deno and workerd bundles: sdk/node-gpu.ts (Dawn via the `webgpu` package, node:fs)
 *  becomes sdk/node-gpu.none.ts, so those bundles hold no Node-only import at all. */
export function noNodeGpuPlugin() {
  return {
    name: "kvcompress-no-node-gpu",
    setup(build) {
      build.onResolve({ filter: /\/node-gpu$/ }, (args) => ({ path: path.join(args.resolveDir, "node-gpu.none.ts") }));
    },
  };
}

/** workerd bundle: `kvcompress:wasm/<name>` stays an import of `./<name>.wasm` (copied beside the
 *  bundle by build.mjs), which workerd and wrangler load as a precompiled WebAssembly.Module. */
export function wasmModulesPlugin() {
  return {
    name: "kvcompress-wasm-modules",
    setup(build) {
      build.onResolve({ filter: /^kvcompress:wasm\// }, (args) => ({ path: `./${args.path.slice("kvcompress:wasm/".length)}.wasm`, external: true }));
    },
  };
}
