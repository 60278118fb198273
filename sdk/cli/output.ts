// Download and load progress for the CLI: one bar per file on stderr, as bytes arrive (none
// with --json, whose stdout is the one JSON document).
import { createProgressBar, stderrSink, type ProgressBar } from "../../src/cli/progress";
import type { ProgressCallback } from "../../src/model/source";

/** A ProgressCallback drawing one bar per file, labelled `<verb> <file>` (nothing when `enabled` is false). */
export function loadProgress(_err: (s: string) => void, enabled: boolean, verb = "load"): ProgressCallback & { done?: () => void } {
  let bar: ProgressBar | undefined;
  let current = "";
  const cb: ProgressCallback & { done?: () => void } = (loaded, total, fileName) => {
    if (!enabled) return;
    if (fileName !== current) {
      bar?.finish();
      current = fileName;
      bar = createProgressBar({ ...stderrSink(), label: `${verb} ${fileName}`, unit: "bytes", total: total || undefined });
    }
    bar!.update(loaded, { total: total || undefined });
  };
  cb.done = () => bar?.finish();
  return cb;
}
