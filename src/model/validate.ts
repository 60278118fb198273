// Checks shared by the weight loaders (issue 15): a checkpoint that parses can still be
// garbage — tensors aliasing each other's bytes, or NaN/Inf weights — and would then load
// and print nonsense with exit 0. Both are refused with a ModelFormatError naming the tensor.
import { ModelFormatError } from "../errors";

/**
 * Throws when any value is NaN or ±Inf. One pass over the floats just converted: `x - x` is 0
 * for every finite x and NaN otherwise, so this is one subtract and compare per weight.
 */
export function checkFinite(values: Float32Array, fileName: string, tensorName: string): void {
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (x - x !== 0) throw new ModelFormatError(fileName, `element ${i} is ${x} (weights must be finite)`, tensorName);
  }
}

/**
 * Throws when two tensors' byte ranges overlap (aliased or overlapping `data_offsets`).
 * Empty tensors take no bytes and cannot overlap anything.
 */
export function checkDisjointRanges(ranges: ReadonlyArray<{ name: string; beginByte: number; endByte: number }>, fileName: string): void {
  const sorted = ranges.filter((r) => r.endByte > r.beginByte).sort((a, b) => a.beginByte - b.beginByte || a.endByte - b.endByte);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1], cur = sorted[i];
    if (cur.beginByte < prev.endByte) {
      throw new ModelFormatError(fileName, `data_offsets overlap tensor "${prev.name}" (bytes ${prev.beginByte}-${prev.endByte} vs ${cur.beginByte}-${cur.endByte}): each tensor needs bytes of its own`, cur.name);
    }
  }
}
