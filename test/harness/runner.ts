// Runs the uvu suites queued by the test files of one bundle and reports exact counts.
// uvu's own exec() prints totals but returns nothing; this loop keeps the numbers, so the
// harness can print "node: N passed, N failed" and fail a runtime that ran no test.
import { runtime } from "./env";
import { takeSkips } from "./skip";

type SuiteRun = () => Promise<[string | true, number, number, number]>;
type TestFile = readonly [name: string, load: () => Promise<unknown>];

export interface RunResult { runtime: string; passed: number; failed: number; skipped: number; errors: string[]; skips: string[] }

export async function runAll(files: readonly TestFile[]): Promise<RunResult> {
  const g = globalThis as unknown as { UVU_QUEUE: unknown[][]; UVU_INDEX: number; UVU_DEFER: number };
  g.UVU_DEFER = 1;
  g.UVU_QUEUE = [];
  const result: RunResult = { runtime, passed: 0, failed: 0, skipped: 0, errors: [], skips: [] };
  for (let i = 0; i < files.length; i++) {
    const [name, load] = files[i];
    g.UVU_INDEX = i;
    g.UVU_QUEUE[i] = [name];
    try {
      await load();
    } catch (err) {
      result.failed++;
      result.errors.push(`${name}: failed to load: ${(err as Error).stack ?? err}`);
    }
  }
  for (const group of g.UVU_QUEUE) {
    const name = group[0] as string;
    log(`\n${name}`);
    const t0 = Date.now();
    for (const run of group.slice(1) as SuiteRun[]) {
      try {
        takeSkips();
        const [errs, passed, uvuSkipped, total] = await run();
        // A test that called skip() returned early and uvu counted it as passed: move it.
        const skips = takeSkips();
        result.passed += passed - skips.length;
        result.failed += total - passed;
        result.skipped += skips.length + uvuSkipped;
        result.skips.push(...skips);
        if (errs !== true) result.errors.push(stripAnsi(errs));
      } catch (err) {
        result.failed++;
        result.errors.push(`${name}: suite crashed: ${(err as Error).stack ?? err}`);
      }
    }
    // Per-file wall time, so the suite's 20-minute CI budget can be spent where it matters.
    log(`  ${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  for (const s of result.skips) log(`SKIPPED ${s}`);
  for (const e of result.errors) log(`\n${e}`);
  return result;
}

function stripAnsi(s: string): string {
  return s.replace(/\u001b\[[0-9;]*m/g, "");
}

function log(line: string): void {
  console.log(stripAnsi(line));
}
