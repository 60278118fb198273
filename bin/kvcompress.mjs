#!/usr/bin/env node
// The `kvcompress` command. The CLI is bundled to dist/cli.mjs by `npm run build`.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
const cli = new URL("../dist/cli.mjs", import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  console.error("kvcompress: dist/cli.mjs is missing; run `npm run build` in the package first");
  process.exit(2);
}
await import(cli.href);
