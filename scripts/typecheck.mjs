// Type-checks src/, sdk/, test/, bench/ and examples/ (TypeScript strict) before the tests run.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { repoRoot } from "./esbuild-plugins.mjs";
const res = spawnSync(path.join(repoRoot, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.json", "--noEmit"], { cwd: repoRoot, stdio: "inherit" });
if (res.status !== 0) {
  console.log("typecheck: failed");
  console.log("0 passed, 1 failed");
  process.exit(1);
}
