// batchRows "auto" (src/engine/gpuBatch.ts batchRowsFor): the matvec rows below 32 rows a step,
// the matmul from 32; a fixed mode is kept at every batch size.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { AUTO_MATMUL_MIN_ROWS, batchRowsFor } from "../../src/engine/gpuBatch";

const t = suite("batchRows auto");

t("auto switches at 32 rows; matvec and matmul never switch", () => {
  assert.is(AUTO_MATMUL_MIN_ROWS, 32);
  assert.equal([1, 16, 31, 32, 33, 128].map((n) => batchRowsFor("auto", n)), ["matvec", "matvec", "matvec", "matmul", "matmul", "matmul"]);
  for (const mode of ["matvec", "matmul"] as const) assert.equal([1, 31, 32, 128].map((n) => batchRowsFor(mode, n)), [mode, mode, mode, mode]);
});

t.run();
