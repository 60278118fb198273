// A sequence's own budget (KvCache.setSequenceBudget, the control plane's SS_BUDGET word): it
// replaces the policy's value for that sequence only, in tokens or as a ratio on its prompt; a
// prompt's pass then keeps that many KVs per head; null restores the policy's; bad values and a
// policy without a budget are refused by name. CPU backend (the control plane is the same wasm).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createKvCache } from "../../sdk/index";
import { ConfigError, InvalidArgumentError } from "../../src/errors";
import { makeRng } from "../reference/kernels";
import { freshSeed } from "../harness/env";

const SHAPE = { numLayers: 2, numQHeads: 6, numKvHeads: 3, headSize: 16 } as const;
const t = suite("sdk: per-sequence budgets");

async function prefill(cache: Awaited<ReturnType<typeof createKvCache>>, seqId: number, n: number, rng: () => number): Promise<void> {
  await cache.reserve(seqId, n);
  const kv = () => Float32Array.from({ length: n * SHAPE.numKvHeads * SHAPE.headSize }, () => rng() * 2 - 1);
  for (let l = 0; l < SHAPE.numLayers; l++) {
    cache.append(l, seqId, kv(), kv());
    await cache.attend(l, seqId, Float32Array.from({ length: n * SHAPE.numQHeads * SHAPE.headSize }, () => rng() * 2 - 1));
  }
  await cache.endStep([seqId]);
}

t("own budgets in tokens and as a ratio; the policy's for the others; null restores it", async () => {
  const seed = freshSeed(), rng = makeRng(seed);
  const cache = await createKvCache({ ...SHAPE, blockSize: 8, storage: "f32", capacityTokens: 4 * 64, maxSeqs: 4, maxContextTokens: 64,
    policy: { name: "kvcompress", ratio: 2, protectedWindow: 2, obsWindow: 0 } }, { backend: "cpu" });
  try {
    const [a, b, c, d] = [0, 1, 2, 3].map(() => cache.addSequence());
    cache.setSequenceBudget(a!, { maxCacheTokens: 24 });
    cache.setSequenceBudget(b!, { ratio: 8 });
    cache.setSequenceBudget(d!, { maxCacheTokens: 8 });
    cache.setSequenceBudget(d!, null);
    assert.is(cache.sequenceBudgetTokens(a!), 24);
    for (const s of [a, b, c, d]) await prefill(cache, s!, 48, rng);
    // ratio R on 48 prompt tokens, blocks of 8: floor_8(48 / R − 1)
    assert.is(cache.sequenceBudgetTokens(b!), 0, "ratio 8: floor_8(5) = 0");
    assert.is(cache.sequenceBudgetTokens(c!), 16, "the policy's ratio 2: floor_8(23) = 16");
    assert.is(cache.sequenceBudgetTokens(d!), 16, "null: the policy's again");
    const heads = SHAPE.numLayers * SHAPE.numKvHeads;
    const kept = new Map(cache.stats().sequences.map((s) => [s.seqId, s.keptKvs / heads]));
    assert.is(kept.get(a!), 24, `own 24 (seed ${seed})`);
    assert.ok(kept.get(b!)! <= 8, `own ratio 8 keeps at most a block per head: ${kept.get(b!)} (seed ${seed})`);
    assert.is(kept.get(c!), 16);
    assert.is(kept.get(d!), 16);
    assert.throws(() => cache.setSequenceBudget(a!, { ratio: 0.5 }), (e: unknown) => e instanceof ConfigError);
    assert.throws(() => cache.setSequenceBudget(a!, { maxCacheTokens: 1.5 }), (e: unknown) => e instanceof ConfigError);
    assert.throws(() => cache.setSequenceBudget(a!, { maxCacheTokens: 0 }), (e: unknown) => e instanceof ConfigError);
    // A fresh sequence in a reused slot starts with the policy's budget.
    cache.removeSequence(a!);
    const e = cache.addSequence();
    await prefill(cache, e, 48, rng);
    assert.is(cache.sequenceBudgetTokens(e), 16);
  } finally {
    cache.destroy();
  }
  const full = await createKvCache({ ...SHAPE, capacityBlocks: 8, policy: { name: "full" } }, { backend: "cpu" });
  try {
    assert.throws(() => full.setSequenceBudget(full.addSequence(), { ratio: 2 }), (e: unknown) => e instanceof ConfigError && /no budget/.test(e.message));
  } finally {
    full.destroy();
  }
});

t("peakBlocks: the whole request without a budget; under one, the budget (or the protected KVs) plus a block a head", async () => {
  const heads = SHAPE.numLayers * SHAPE.numKvHeads; // 6; blocks of 8 tokens below
  const full = await createKvCache({ ...SHAPE, blockSize: 8, capacityBlocks: 64, maxContextTokens: 96, policy: { name: "full" } }, { backend: "cpu" });
  try {
    const s = full.addSequence();
    assert.is(full.peakBlocks(s, 48, 70), 9 * heads, "ceil(70 / 8) = 9 a head");
    assert.is(full.peakBlocks(s, 48, 48), 6 * heads);
    assert.throws(() => full.peakBlocks(s, 48, 47), (e: unknown) => e instanceof InvalidArgumentError && /finalTokens/.test((e as Error).message));
    assert.throws(() => full.peakBlocks(s, 0, 8), (e: unknown) => e instanceof InvalidArgumentError && /promptTokens/.test((e as Error).message));
  } finally {
    full.destroy();
  }
  const cache = await createKvCache({ ...SHAPE, blockSize: 8, capacityBlocks: 64, maxContextTokens: 96, maxSeqs: 4,
    policy: { name: "kvcompress", ratio: 2, protectedWindow: 2, obsWindow: 0 } }, { backend: "cpu" });
  try {
    const [a, b, c] = [0, 1, 2].map(() => cache.addSequence());
    // ratio 2 on a 48-token prompt: C = floor_8(48 / 2 − 1) = 16, 2 blocks, + 1 for growth
    assert.is(cache.peakBlocks(a!, 48, 70), 3 * heads, "the budget's 2 blocks + 1, not the 9 uncompressed");
    // a short request: its uncompressed blocks are fewer than budget + 1
    assert.is(cache.peakBlocks(a!, 8, 8), 1 * heads, "8 tokens: one block, whatever the budget");
    // C = floor_8(8 / 2 − 1) = 0; the protected window (2 KVs) keeps a block, + 1
    assert.is(cache.peakBlocks(a!, 8, 40), 2 * heads, "protected KVs, then growth");
    cache.setSequenceBudget(b!, { maxCacheTokens: 24 });
    assert.is(cache.peakBlocks(b!, 48, 70), 4 * heads, "own 24 tokens: 3 blocks + 1");
    cache.setSequenceBudget(c!, { ratio: 8 });
    assert.is(cache.peakBlocks(c!, 48, 70), 2 * heads, "own ratio 8 on 48: C = 0, the protected block + 1");
  } finally {
    cache.destroy();
  }
});

t.run();
