// The request loop (src/engine/serve.ts) on both shared models, GPU backend, policy "full",
// greedy: a sequence's ids are the same alone, in a batch of 16, and (stories260K) after being
// preempted and resumed (a pool of 4 blocks per head for 16 sequences); alone, the reference
// prompt gives reference.json's ids. On stories260K also: per-row sampling (a sampled request gives the same
// ids alone and in a batch), abort frees the blocks, a per-request budget, and a prompt the pool
// can never hold is refused by name. Small on purpose: software adapters are slow. The batched
// step's dense kernels: the tiled matmul rows on stories260K, the matvec rows on tinystories-656K.
// The CPU backend's run of the same loop: serveCpu.test.ts.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { loadEngine, type Engine } from "../../sdk/index";
import { KvPoolExhaustedError } from "../../src/errors";
import { makeRng } from "../reference/kernels";
import { readSharedText, runtime, sharedModelSource, testDevice } from "../harness/env";

const MODELS = {
  stories260K: { checkpoint: "stories260K.bin", tokenizer: "tok512.bin" },
  "tinystories-656K": undefined,
} as const;
type Id = keyof typeof MODELS;
const CTX = 32, STEPS = 8;

async function engineFor(id: Id, backend: "gpu" | "cpu" = "gpu"): Promise<Engine> {
  return loadEngine(sharedModelSource(id), {
    ...(backend === "gpu" ? { device: await testDevice() } : { backend: "cpu" as const }), llama2c: MODELS[id], policy: { name: "full" }, maxContextTokens: CTX, maxSeqs: 16, capacityTokens: 16 * CTX,
    batchRows: id === "stories260K" ? "matmul" : "matvec",
  });
}

async function collect(it: AsyncIterable<number>): Promise<number[]> {
  const out: number[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** 16 requests: the reference prompt (BOS), then BOS + 3..11 fixed random ids; 4..10 tokens each
 *  (so that many cross a 16-token block boundary). */
function requests(vocab: number): { prompt: number[]; maxTokens: number }[] {
  const rng = makeRng(1234);
  const out = [{ prompt: [1], maxTokens: STEPS }];
  for (let i = 1; i < 16; i++) {
    const n = 3 + Math.floor(rng() * 9);
    out.push({ prompt: [1, ...Array.from({ length: n }, () => 3 + Math.floor(rng() * (vocab - 3)))], maxTokens: 4 + Math.floor(rng() * 7) });
  }
  return out;
}

const t = suite("serve (gpu)");
// stories260K in every runtime; tinystories-656K (the matvec rows, the slower half on software
// adapters) in Node only, to keep the suite's time down: the kernels are the same in all three.
for (const id of (runtime === "node" ? Object.keys(MODELS) : ["stories260K"]) as Id[]) {
  t(`${id}: greedy ids alone = in a batch of 16${id === "stories260K" ? " = after preemption and resume" : ""}; alone = reference`, async () => {
    const ref = JSON.parse(await readSharedText(`models/${id}/reference.json`)).greedy_from_bos;
    const e = await engineFor(id);
    try {
      const reqs = requests(e.config.vocabSize);
      // Alone: four of the sixteen (software adapters are slow), one at a time.
      const ALONE = [0, 3, 9, 15];
      const alone: number[][] = [];
      for (const i of ALONE) alone.push(await collect(e.submit(reqs[i]!.prompt, { maxTokens: reqs[i]!.maxTokens, stopIds: [] })));
      assert.equal([...ref.prompt_ids, ...alone[0]!], ref.ids.slice(0, 1 + STEPS), "alone: the reference ids");
      const s1 = e.serveStats()!;
      assert.is(s1.meanBatch, 1, "alone: one row per step");
      assert.is(s1.blocksInUse, 0, "every retired sequence freed its blocks");

      const streams = reqs.map((r) => e.submit(r.prompt, { maxTokens: r.maxTokens, stopIds: [] }));
      const batched = await Promise.all(streams.map(collect));
      assert.equal(ALONE.map((i) => batched[i]), alone, "in a batch of 16: the same ids");
      const s2 = e.serveStats()!;
      const meanBatch = (s2.meanBatch * s2.decodeSteps - s1.meanBatch * s1.decodeSteps) / (s2.decodeSteps - s1.decodeSteps);
      assert.ok(meanBatch > 4, `batched (mean ${meanBatch})`);
      assert.is(s2.preemptions, 0);
      const st = streams[0]!.stats();
      assert.is(st.state, "finished");
      assert.is(st.generatedTokens, STEPS);
      assert.ok(st.cache && st.cache.keptKvs > 0 && st.cache.keptPerHead.length === e.config.numLayers * e.config.numKvHeads, "per-request kept KVs");

      // 4 blocks of 16 per head for 16 sequences of up to 22 tokens, admitted with no spare
      // blocks: growth past a block boundary preempts the newest. On stories260K only: preemption
      // and replay are the loop's, not the dense rows' (the suite's time on software adapters).
      if (id !== "stories260K") return;
      const cache = await e.createCache({ name: "full" }, CTX, 16, "f32", { maxSeqs: 16, capacityTokens: 4 * 16 });
      const small = e.serveOn(cache, { admission: "now", spareBlocksPerHead: 0 });
      try {
        const ps = reqs.map((r) => small.submit(r.prompt, { maxTokens: r.maxTokens, stopIds: [] }));
        const got = await Promise.all(ps.map(collect));
        const s = small.stats();
        assert.ok(s.preemptions > 0, `preempted (${s.preemptions})`);
        assert.ok(s.replayedTokens > 0, "resumed sequences fed their tokens again");
        assert.equal(got, batched, "after preemption and resume: the same ids");
        assert.ok(ps.some((x) => x.stats().preemptions > 0));
        assert.is(s.blocksInUse, 0);
      } finally {
        small.destroy();
        cache.destroy();
      }
    } finally {
      e.destroy();
    }
  });
}

t("stories260K: per-row sampling, abort, a per-request budget, a prompt the pool can never hold", async () => {
  const e = await engineFor("stories260K");
  try {
    // A sampled request alone and beside others (sampled and greedy): the same ids.
    const o = { maxTokens: 10, temperature: 0.8, topP: 0.9, seed: 7, stopIds: [] };
    const alone = await collect(e.submit([1, 50, 60], o));
    const others = [1, 2].map((i) => e.submit([1, 10 * i], { maxTokens: 8, temperature: 1, seed: i, stopIds: [] }));
    const greedy = e.submit([1, 50, 60], { maxTokens: 10, stopIds: [] });
    const [again, g] = await Promise.all([collect(e.submit([1, 50, 60], o)), collect(greedy), ...others.map(collect)]);
    assert.equal(again, alone, "sampled: alone = in a batch");
    assert.is(alone.length, 10);
    assert.not.equal(g, alone, "greedy differs from the sampled stream");

    // Abort between steps: the stream throws the signal's reason, its blocks go back, others go on.
    const ac = new AbortController();
    const a = e.submit([1, 20], { maxTokens: 20, stopIds: [], signal: ac.signal });
    const b = e.submit([1, 30], { maxTokens: 12, stopIds: [] });
    const got: number[] = [];
    let err: unknown;
    try {
      for await (const x of a) { got.push(x); if (got.length === 2) ac.abort(new Error("stop here")); }
    } catch (e2) { err = e2; }
    assert.ok(err instanceof Error && err.message === "stop here", `aborted with the signal's reason (${err})`);
    assert.ok(got.length >= 2 && got.length < 20);
    assert.is((await collect(b)).length, 12);
    assert.is(a.stats().state, "aborted");
    assert.is(e.serveStats()!.blocksInUse, 0);
    // A budget needs a policy with one.
    assert.throws(() => e.submit([1], { maxTokens: 2, budget: { ratio: 2 } }), /budget/);
  } finally {
    e.destroy();
  }
});

t("stories260K kvcompress pool: a request's own budget holds its sequence to it; too long a prompt is refused", async () => {
  const e = await engineFor("stories260K");
  const cache = await e.createCache({ name: "kvcompress", ratio: 2, protectedWindow: 2, obsWindow: 0 }, CTX, 8, "f32", { maxSeqs: 4, capacityTokens: 24 });
  const server = e.serveOn(cache);
  try {
    const prompt = [1, ...Array.from({ length: 23 }, (_, i) => 5 + i)];
    const own = server.submit(prompt, { maxTokens: 2, stopIds: [], budget: { maxCacheTokens: 16 } });
    const pool = server.submit(prompt, { maxTokens: 2, stopIds: [] });
    await Promise.all([collect(own), collect(pool)]);
    // Kept per head after the prompt's pass (+ the decode token): 16 (+1) of its own budget vs the
    // pool's ratio 2 on 24 tokens, floor_8(24 / 2 − 1) = 8 (+1).
    const kOwn = own.stats().cache!, kPool = pool.stats().cache!;
    const perHead = (s: typeof kOwn) => s.keptKvs / (e.config.numLayers * e.config.numKvHeads);
    assert.ok(perHead(kOwn) > 12 && perHead(kOwn) <= 17, `own budget 16: ${perHead(kOwn)} KVs per head`);
    assert.ok(perHead(kPool) <= 9, `pool ratio 2: ${perHead(kPool)} KVs per head`);
    assert.ok(kOwn.passes >= 1 && server.stats().compressionPasses >= 2);
    let err: unknown;
    try { await collect(server.submit(Array.from({ length: 30 }, (_, i) => 1 + i), { maxTokens: 1 })); } catch (x) { err = x; }
    assert.ok(err instanceof KvPoolExhaustedError, `a 30-token prompt in a 24-token pool: KvPoolExhaustedError (${err})`);
  } finally {
    server.destroy();
    cache.destroy();
    e.destroy();
  }
});

t.run();
