// table_patch.wgsl (src/gpu/kernels/tablePatch.ts) against a straight loop: random headTables
// words, random distinct (word, value) pairs (negative values too: a −1 table entry), awkward
// counts around the workgroup size and a grid past one row; every word the pairs do not name
// stays as it was.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createGpuKvPool } from "../../src/gpu/pool";
import { createTablePatcher } from "../../src/gpu/kernels/tablePatch";
import { makeRng } from "../reference/kernels";
import { testDevice } from "../harness/env";
import { freshSeed, kernelDims, readBuffer, runPass, storageBuffer } from "./helpers";

const test = suite("gpu: table_patch");

test("scattered words of headTables, counts 1 to all 1 470, against a straight loop", async () => {
  const device = await testDevice();
  const seed = freshSeed(), rng = makeRng(seed);
  // 3 KV heads of 9 query heads, 5 layers, 7 sequences, 13 blocks a head: 105 lengths + 1 365 entries.
  const dims = { numLayers: 5, maxSeqs: 7, numKvHeads: 3, headSize: 8, blockSize: 4, numBlocks: 600, maxBlocksPerHead: 13 };
  const pool = createGpuKvPool(device, kernelDims(dims, 9, "f32"));
  const words = pool.blockTablesOffsetBytes / 4 + dims.numLayers * dims.maxSeqs * dims.numKvHeads * dims.maxBlocksPerHead;
  const patcher = await createTablePatcher(device, pool);
  try {
    for (const n of [1, 63, 64, 65, 1000, words]) { // words = 1 470: every word once
      const before = Int32Array.from({ length: words }, () => Math.floor(rng() * 2e6) - 1e6);
      device.queue.writeBuffer(pool.headTables, 0, before);
      // n distinct words (a partial shuffle), values of both signs
      const order = Array.from({ length: words }, (_, i) => i);
      for (let i = 0; i < n; i++) { const j = i + Math.floor(rng() * (words - i)); [order[i], order[j]] = [order[j]!, order[i]!]; }
      const pairs = new Uint32Array(2 * (n + 3));
      pairs.fill(0xdeadbeef); // pairs outside [firstPatch, firstPatch + n) must not be read
      const first = 3;
      const want = before.slice();
      for (let i = 0; i < n; i++) {
        const value = Math.floor(rng() * 2e6) - 1e6;
        pairs[2 * (first + i)] = order[i]!;
        pairs[2 * (first + i) + 1] = value >>> 0;
        want[order[i]!] = value;
      }
      const buf = storageBuffer(device, pairs.slice(0, 2 * (first + n)));
      await runPass(device, (pass) => patcher.encode(pass, { patches: buf, numPatches: n, firstPatch: first }));
      const got = new Int32Array(await readBuffer(device, pool.headTables, 0, 4 * words));
      { const bad: number[] = []; for (let i = 0; i < words; i++) if (got[i] !== want[i]) bad.push(i); if (bad.length) assert.unreachable(`n=${n}: ${bad.length} words differ, first ${bad.slice(0, 5).map((i) => `${i}: ${got[i]} want ${want[i]} before ${before[i]}`).join("; ")} (seed ${seed})`); }
      buf.destroy();
    }
  } finally {
    patcher.destroy();
    pool.destroy();
  }
});

test.run();
