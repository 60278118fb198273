// The CPU backend's wasm ABI (flat i32 / usize / f32 arguments only, STYLE.md L13).
export {
  cpuPoolInit, cpuPoolBytes, cpuKvBase,
  cpuMetricsBase, cpuPositionsBase, cpuScratch,
} from "./pool";
export { cpuAppend } from "./append";
export { cpuDecodeAttention, cpuPrefillAttention } from "./attend";
export { cpuSortScores, cpuSelectEvicted, cpuExecuteMoves } from "./order";
export { cpuF32ToF16, cpuF16ToF32, cpuStreamRead } from "./convert";
export {
  cpuDenseAlloc, cpuDenseAllocError, cpuDenseMatmul, cpuDenseHalvesFinite,
  cpuDenseRmsNorm, cpuDenseSwiglu, cpuDenseEmbed,
} from "./dense";
