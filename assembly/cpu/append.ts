// append — write new K/V rows (keys after RoPE), their positions and metric 0 into the
// slots the control plane already reserved (it has raised ctxLens before this call).
// Logical index of new row t of a sequence with numNew rows: ctxLen − (numNew − t)
// (e.g. ctxLen 10, numNew 3: rows go to logical 7, 8, 9).
import {
  blockSize, headSize, isF16, keyRowAddr, metricsBase, positionsBase, numKvHeads,
  tableRow, ctxLenAt,
} from "./pool";
import { f32ToF16 } from "./simd";

/**
 * @param tables, ctxLens  control-plane regions (pool.ts), `layer` selects the slab
 * @param seqIds      i32[numSeqs]
 * @param rowOffsets  i32[numSeqs + 1]: rows of sequence i are [rowOffsets[i], rowOffsets[i+1])
 * @param k, v        f32[rows, numKvHeads, headSize]
 * @param positions   u32[rows]
 * Returns the number of rows skipped because ctxLen < numNew (0 when the caller is right).
 */
export function cpuAppend(
  tables: usize, ctxLens: usize, layer: i32, numSeqs: i32, seqIds: usize, rowOffsets: usize,
  k: usize, v: usize, positions: usize,
): i32 {
  const d = headSize;
  const srcRow = <usize>d << 2;
  let skipped = 0;
  for (let i = 0; i < numSeqs; i++) {
    const seq = load<i32>(seqIds + (<usize>i << 2));
    const r0 = load<i32>(rowOffsets + (<usize>i << 2));
    const numNew = load<i32>(rowOffsets + (<usize>(i + 1) << 2)) - r0;
    for (let h = 0; h < numKvHeads; h++) {
      const row = tableRow(tables, layer, seq, h);
      const ctx = ctxLenAt(ctxLens, layer, seq, h);
      for (let t = 0; t < numNew; t++) {
        const idx = ctx - (numNew - t);
        if (idx < 0) { skipped++; continue; }
        const slot = load<i32>(row + (<usize>(idx / blockSize) << 2)) * blockSize + idx % blockSize;
        const src = <usize>((r0 + t) * numKvHeads + h) * srcRow;
        writeRow(keyRowAddr(slot), k + src, d);
        writeRow(keyRowAddr(slot) + <usize>blockSize * (isF16 ? <usize>d << 1 : <usize>d << 2), v + src, d);
        store<f32>(metricsBase + (<usize>slot << 2), 0);
        store<u32>(positionsBase + (<usize>slot << 2), load<u32>(positions + (<usize>(r0 + t) << 2)));
      }
    }
  }
  return skipped;
}

function writeRow(dst: usize, src: usize, d: i32): void {
  if (!isF16) { memory.copy(dst, src, <usize>d << 2); return; }
  for (let j = 0; j < d; j++) {
    store<u16>(dst + (<usize>j << 1), <u16>f32ToF16(load<f32>(src + (<usize>j << 2))));
  }
}
