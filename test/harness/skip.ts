// A test that cannot run here (its feature is absent on this adapter) calls skip(name, reason) and
// returns: the runner then counts it as skipped, not passed, and lists it with the reason. uvu
// decides skips only at registration (test.skip), before a device is known; this is the run-time half.
const SKIPS_KEY = "__kvcSkips";

/** Marks the running test as skipped; the caller returns right after. */
export function skip(name: string, reason: string): void {
  const g = globalThis as unknown as Record<string, string[] | undefined>;
  (g[SKIPS_KEY] ??= []).push(`${name}: ${reason}`);
}

/** Takes the skips recorded since the last call. */
export function takeSkips(): string[] {
  const g = globalThis as unknown as Record<string, string[] | undefined>;
  const s = g[SKIPS_KEY] ?? [];
  g[SKIPS_KEY] = [];
  return s;
}
