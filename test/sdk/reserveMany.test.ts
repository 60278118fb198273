// KvCache.reserveMany (a serving loop's reserve of one step), both backends: three sequences of
// different lengths decode through reserveMany, crossing block boundaries at different steps, and
// every attention output equals a straight f64 loop over all their tokens (on the GPU that needs
// every new length and block entry on the device: syncReservedMany, one patch dispatch); a pool too
// small stops at the sequence that does not fit, reserving the ones before it and nothing after.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createKvCache, InvalidArgumentError, type KvCache } from "../../sdk/index";
import { freshSeed, rng, testDevice } from "../harness/env";
import { SHAPE, attendOver, makeTokens, type Tokens } from "./helpers";

const B = 8;

async function makeCache(backend: "gpu" | "cpu", capacityBlocks: number): Promise<KvCache> {
  const device = backend === "gpu" ? await testDevice() : undefined;
  return createKvCache({ ...SHAPE, blockSize: B, storage: "f32", capacityBlocks, maxSeqs: 4, maxContextTokens: 64, policy: { name: "full" } },
    device ? { device } : { backend: "cpu" });
}

async function prefill(cache: KvCache, t: Tokens): Promise<number> {
  const seq = cache.addSequence();
  await cache.reserve(seq, t.numTokens);
  for (let l = 0; l < SHAPE.numLayers; l++) {
    cache.append(l, seq, t.k[l], t.v[l]);
    await cache.attend(l, seq, t.q[l]);
  }
  await cache.endStep([seq]);
  return seq;
}

function close(got: Float32Array, want: Float64Array, what: string): void {
  for (let i = 0; i < want.length; i++) if (!(Math.abs(got[i]! - want[i]!) <= 1e-5 * Math.max(1, Math.abs(want[i]!)))) assert.unreachable(`${what}[${i}]: ${got[i]}, want ${want[i]}`);
}

for (const backend of ["gpu", "cpu"] as const) {
  const t = suite(`sdk reserveMany (${backend})`);

  t("three sequences, 14 steps: attention over every token, as reserve one by one gives", async () => {
    const seed = freshSeed(), r = rng(seed);
    const prompts = [5, 8, 11], steps = 14; // crossings at steps 3, 0 and 8, 5 and 13
    const toks = prompts.map((p) => makeTokens(r, p + steps));
    const cache = await makeCache(backend, 64);
    try {
      const seqs: number[] = [];
      for (let i = 0; i < prompts.length; i++) seqs.push(await prefill(cache, toks[i]!.slice(0, prompts[i]!)));
      for (let step = 0; step < steps; step++) {
        assert.is(await cache.reserveMany(seqs), seqs.length);
        for (let i = 0; i < seqs.length; i++) {
          const pos = prompts[i]! + step, one = toks[i]!.slice(pos, pos + 1);
          for (let l = 0; l < SHAPE.numLayers; l++) {
            cache.append(l, seqs[i]!, one.k[l], one.v[l]);
            close(await cache.attend(l, seqs[i]!, one.q[l]), attendOver(toks[i]!, l, pos, pos + 1, [...Array(pos + 1).keys()]), `seed ${seed} seq ${i} pos ${pos} layer ${l}`);
          }
        }
        await cache.endStep(seqs);
      }
    } finally {
      cache.destroy();
    }
  });

  t("a pool too small: stops at the first that does not fit, the ones before it reserved", async () => {
    const seed = freshSeed(), r = rng(seed);
    const heads = SHAPE.numLayers * SHAPE.numKvHeads; // 4
    // Two full blocks each (16 tokens, b = 8): a decode token needs a block in every head, 4 a sequence.
    const cache = await makeCache(backend, 3 * 2 * heads + heads + 2);
    try {
      const seqs: number[] = [];
      for (let i = 0; i < 3; i++) seqs.push(await prefill(cache, makeTokens(r, 16)));
      assert.is(await cache.reserveMany(seqs), 1, "room for one sequence's blocks, not two");
      const lens = cache.stats().sequences.map((s) => [s.seqId, s.seqLen]);
      assert.equal(lens, seqs.map((s, i) => [s, i === 0 ? 17 : 16]), "the first holds its token, the others nothing");
      const plan = cache.pressurePlan(seqs[1]!, 1);
      assert.is(plan.action, "preempt");
      const err = await cache.reserveMany([99, seqs[1]!]).then(() => null, (e: unknown) => e);
      assert.ok(err instanceof InvalidArgumentError && /seqId/.test(err.message), `a bad seqId is named: ${err}`);
    } finally {
      cache.destroy();
    }
  });

  t.run();
}
