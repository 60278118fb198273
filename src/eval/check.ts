// The harness checks of issue 8 ("Tests"), as a function so `npm test`, the CLI (a self-check
// before publishing numbers) and the lead's integration test all apply the same rules.
import type { EvalResult } from "./run";

export interface HarnessTolerances {
  /** Max |KL| for `full` and every policy at R = 1. The whole-window pass and prefill+decode
   *  differ by float rounding only; 1e-6 nats is far below any eviction effect. */
  kl: number;
  /** Max |ΔNLL| for the same rows, nats. */
  deltaNll: number;
  /** Min top-1 agreement for the same rows (1 unless near-tied logits flip under rounding). */
  top1: number;
  /** Max relative distance of achievedRatio from 1/R at R > 1 (block granularity moves it). */
  keptRel: number;
}

export const DEFAULT_HARNESS_TOLERANCES: HarnessTolerances = { kl: 1e-6, deltaNll: 1e-4, top1: 1, keptRel: 0.2 };

/**
 * Problems found in an eval result, one readable line each; empty when the harness is sound:
 * `full` and every policy at R = 1 give KL 0, ΔNLL 0, top-1 1 and keep every KV; at R > 1 every
 * policy keeps about 1/R of the KVs and its KL is above 0; every field is a finite number.
 */
export function checkHarness(r: EvalResult, tol: HarnessTolerances = DEFAULT_HARNESS_TOLERANCES): string[] {
  const out: string[] = [];
  for (const row of r.results) {
    const at = `${row.policy}@${row.ratio}`;
    for (const k of ["ratio", "achievedRatio", "nll", "deltaNll", "kl", "top1"] as const) {
      if (typeof row[k] !== "number" || !Number.isFinite(row[k])) out.push(`${at}: ${k} is ${row[k]}, not a finite number`);
    }
    if (row.policy === "full" || row.ratio === 1) {
      if (Math.abs(row.kl) > tol.kl) out.push(`${at}: KL ${row.kl} should be 0 (±${tol.kl})`);
      if (Math.abs(row.deltaNll) > tol.deltaNll) out.push(`${at}: ΔNLL ${row.deltaNll} should be 0 (±${tol.deltaNll})`);
      if (row.top1 < tol.top1) out.push(`${at}: top-1 ${row.top1} should be ≥ ${tol.top1}`);
      if (row.achievedRatio !== 1) out.push(`${at}: achievedRatio ${row.achievedRatio} should be 1 (nothing evicted)`);
    } else {
      const want = 1 / row.ratio;
      if (Math.abs(row.achievedRatio - want) > tol.keptRel * want) {
        out.push(`${at}: kept ${row.achievedRatio.toFixed(4)} of the KVs, want ${want.toFixed(4)} ± ${(tol.keptRel * 100).toFixed(0)}%`);
      }
      if (!(row.kl > 0)) out.push(`${at}: KL ${row.kl} should be > 0 once KVs are evicted`);
    }
  }
  if (!(r.windows > 0) || !(r.tokens > 0)) out.push(`windows ${r.windows}, tokens ${r.tokens}: nothing evaluated`);
  return out;
}
