// append — write new K/V rows (keys after RoPE), their positions and metric 0 into the
// slots the control plane already reserved (it has raised ctxLens before this call).
// Logical index of new row t of a sequence with numNew rows: ctxLen − (numNew − t)
// (e.g. ctxLen 10, numNew 3: rows go to logical 7, 8, 9).
import {
  blockSize, headSize, isF16, keyRowAddr, metricsBase, positionsBase, numKvHeads,
  tableRow, ctxLenAt, rowBytes, storageCode, STORAGE_Q8, STORAGE_Q4, QUANT_GROUP, quantGroups,
} from "./pool";
import { f32ToF16, f16ToF32 } from "./simd";

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
        writeRow(keyRowAddr(slot) + <usize>blockSize * rowBytes, v + src, d);
        store<f32>(metricsBase + (<usize>slot << 2), 0);
        store<u32>(positionsBase + (<usize>slot << 2), load<u32>(positions + (<usize>(r0 + t) << 2)));
      }
    }
  }
  return skipped;
}

function writeRow(dst: usize, src: usize, d: i32): void {
  if (storageCode == STORAGE_Q8 || storageCode == STORAGE_Q4) { quantizeRow(dst, src, d); return; }
  if (!isF16) { memory.copy(dst, src, <usize>d << 2); return; }
  for (let j = 0; j < d; j++) {
    store<u16>(dst + (<usize>j << 1), <u16>f32ToF16(load<f32>(src + (<usize>j << 2))));
  }
}

// ── q8 / q4 (docs/QUANTIZATION.md): per group of 32 channels, (s, m) = f16((hi − lo) / L), f16(lo);
// code = the lowest level whose fl(fl(q·s) + m) is nearest x. The same steps as
// shaders/common/kv_q8.wgsl / kv_q4.wgsl (the division only guesses; the walk decides), so both
// backends store the same bits. ──

/** Dequantized level q: fl(q·s + m) (q·s is exact in f32). */
// @ts-ignore: decorator
@inline function quantLevel(q: f32, s: f32, m: f32): f32 { return q * s + m; }

function quantCode(x: f32, s: f32, m: f32, levels: f32): u32 {
  if (s == 0) return 0;
  let qb = min<f32>(max<f32>(Mathf.round((x - m) / s), 0), levels);
  while (qb > 0 && quantLevel(qb - 1, s, m) >= x) qb -= 1;
  while (qb < levels && quantLevel(qb, s, m) < x) qb += 1;
  const vb = quantLevel(qb, s, m);
  if (vb < x) {   // every level is below x: the lowest level equal to the top one
    while (qb > 0 && quantLevel(qb - 1, s, m) == vb) qb -= 1;
    return <u32>qb;
  }
  if (qb == 0) return 0;
  let qa = qb - 1;
  const va = quantLevel(qa, s, m);
  while (qa > 0 && quantLevel(qa - 1, s, m) == va) qa -= 1;
  return <u32>(Mathf.abs(va - x) <= Mathf.abs(vb - x) ? qa : qb);
}

/** One record: quantGroups scale words pack2x16float(s, m), then the codes (q8: a byte each;
 *  q4: element 8w + e in bits 4e..4e+3 of code word w). */
function quantizeRow(dst: usize, src: usize, d: i32): void {
  const q4 = storageCode == STORAGE_Q4;
  const levels: f32 = q4 ? 15 : 255;
  const codes = dst + (<usize>quantGroups << 2);
  if (q4) memory.fill(codes, 0, <usize>d >> 1);
  for (let g = 0; g < quantGroups; g++) {
    const j0 = g * QUANT_GROUP, j1 = min(d, j0 + QUANT_GROUP);
    let lo = load<f32>(src + (<usize>j0 << 2)), hi = lo;
    for (let j = j0; j < j1; j++) { const x = load<f32>(src + (<usize>j << 2)); lo = min(lo, x); hi = max(hi, x); }
    const sw = f32ToF16((hi - lo) / levels) | (f32ToF16(lo) << 16);
    store<u32>(dst + (<usize>g << 2), sw);
    const s = f16ToF32(sw & 0xffff), m = f16ToF32(sw >>> 16);
    for (let j = j0; j < j1; j++) {
      const c = quantCode(load<f32>(src + (<usize>j << 2)), s, m, levels);
      if (q4) {
        const p = codes + (<usize>j >> 1);
        store<u8>(p, load<u8>(p) | <u8>(c << (4 * (j & 1))));
      } else {
        store<u8>(codes + <usize>j, <u8>c);
      }
    }
  }
}
