// exports.ts — the raw ABI of control.wasm (assembly/index.ts), typed for the wrapper.
// Negative results: −1 capacity shortfall, −2/−3 misuse (see each function in assembly/).

export interface ControlExports {
  memory: WebAssembly.Memory;
  init(numLayers: number, numKvHeads: number, blockSize: number, numBlocks: number, maxSeqs: number, maxBlocksPerHead: number): number;
  layoutOffsets(): number;
  addSequence(): number;
  removeSequence(seqId: number): number;
  reserve(seqId: number, numTokens: number): number;
  blocksToReserve(seqId: number, numTokens: number): number;
  freeTailBlocks(seqId: number, layer: number, kvHead: number, numTailBlocks: number): number;
  isActive(seqId: number): number;
  numFreeBlocks(): number;
  freeRingHead(): number;
  seqAllocatedBlocks(seqId: number): number;
  budgetMaxTokens(seqId: number, capTokens: number): number;
  capTokensForRatio(promptTokens: number, ratioMilli: number, minTokens: number): number;
  budgetRatio(seqId: number, promptTokens: number, ratioMilli: number, minTokens: number): number;
  uniformLayerCaps(capTokens: number): void;
  pyramidLayerCaps(capTokens: number, beta: number): void;
  seqMaxFreeable(seqId: number, protectedWindow: number, sinks: number): number;
  scheduleKvCompress(k: number): number;
  scheduleByLayer(k: number): number;
  scheduleUniform(k: number): number;
  setHeadFloor(milli: number): number;
  planMoves(k: number): number;
  applyEvictCounts(k: number): number;
  lastNumFreed(): number;
  lastBadHead(): number;
  reserveStep(seqId: number, numTokens: number): number;
  markAppended(seqId: number, layer: number): number;
  cancelStep(seqId: number): number;
  rewindSteps(seqId: number, n: number): number;
  endStep(seqId: number): number;
  isBetweenSteps(seqId: number): number;
  setPolicy(kind: number, value: number, minTokens: number, protectedWindow: number, sinks: number, continual: number, ranking: number, beta: number): number;
  seqCapTokens(seqId: number): number;
  seqPeakBlocks(seqId: number, promptTokens: number, finalTokens: number): number;
  setSeqBudget(seqId: number, value: number): number;
  seqBudgetBlocks(seqId: number): number;
  schedulePass(k: number): number;
  writePassBudgets(k: number): void;
  passOnDevice(): number;
  pressurePlan(seqId: number, numTokens: number): number;
  blocksForPrompt(promptTokens: number): number;
  blocksForNextStep(): number;
  computeSeqBlocks(): number;
  uncompressedBlocks(): number;
}
