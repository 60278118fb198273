// Plugs one sequence of a KvCache into the model's AttentionCache seam (src/model/attention.ts):
// layer 0 of a chunk reserves its slots, every layer appends and attends through the cache,
// and commit() ends the step, which is where the policy compresses.
import type { KvCache, PassReport } from "../cache";
import type { AttentionCache } from "./attention";

/**
 * One sequence of a KvCache as the model's AttentionCache (src/model/llama.ts).
 * @example
 * ```ts
 * const seq = new CachedSequence(cache, cache.addSequence());
 * const { ids } = await generate(model, seq, promptIds, { maxNewTokens: 64 });
 * ```
 */
export class CachedSequence implements AttentionCache {
  private committed = 0;
  /** Compression passes that ran at the end of a step (prefill or continual). */
  readonly passes: PassReport[] = [];

  constructor(readonly cache: KvCache, readonly seqId: number) {}

  get seqLen(): number {
    return this.committed;
  }

  async append(layer: number, k: Float32Array, v: Float32Array, numTokens: number): Promise<void> {
    if (layer === 0) await this.cache.reserve(this.seqId, numTokens);
    this.cache.append(layer, this.seqId, k, v);
  }

  attend(layer: number, q: Float32Array): Promise<Float32Array> {
    return this.cache.attend(layer, this.seqId, q);
  }

  async commit(numTokens: number): Promise<void> {
    this.committed += numTokens;
    const report = await this.cache.endStep([this.seqId]);
    if (report && report.evictedKvs > 0) this.passes.push(report);
  }
}
