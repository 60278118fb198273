// The request loop on the CPU backend (src/engine/serve.ts cpuStepper: one forward per
// sequence), both shared models, policy "full", greedy: a sequence's ids are the same alone, in a
// batch of 16 and after preemption and resume; alone, the reference prompt gives reference.json's.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { loadEngine, type Engine } from "../../sdk/index";
import { makeRng } from "../reference/kernels";
import { readSharedText, sharedModelSource } from "../harness/env";

const MODELS = {
  stories260K: { checkpoint: "stories260K.bin", tokenizer: "tok512.bin" },
  "tinystories-656K": undefined,
} as const;
type Id = keyof typeof MODELS;
const CTX = 32, STEPS = 8;

async function engineFor(id: Id, _backend: "cpu"): Promise<Engine> {
  return loadEngine(sharedModelSource(id), {
    backend: "cpu", llama2c: MODELS[id], policy: { name: "full" }, maxContextTokens: CTX, maxSeqs: 16, capacityTokens: 16 * CTX,
  });
}

async function collect(it: AsyncIterable<number>): Promise<number[]> {
  const out: number[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** The GPU test's 16 requests (serve.test.ts). */
function requests(vocab: number): { prompt: number[]; maxTokens: number }[] {
  const rng = makeRng(1234);
  const out = [{ prompt: [1], maxTokens: STEPS }];
  for (let i = 1; i < 16; i++) {
    const n = 3 + Math.floor(rng() * 9);
    out.push({ prompt: [1, ...Array.from({ length: n }, () => 3 + Math.floor(rng() * (vocab - 3)))], maxTokens: 4 + Math.floor(rng() * 7) });
  }
  return out;
}

const t = suite("serve (cpu)");
t("CPU backend, both models: the same loop (a forward per sequence) gives the ids alone = batched = preempted", async () => {
  for (const id of Object.keys(MODELS) as Id[]) {
    const e = await engineFor(id, "cpu");
    try {
      const reqs = requests(e.config.vocabSize);
      const alone: number[][] = [];
      for (const r of reqs) alone.push(await collect(e.submit(r.prompt, { maxTokens: r.maxTokens, stopIds: [] })));
      const ref = JSON.parse(await readSharedText(`models/${id}/reference.json`)).greedy_from_bos;
      assert.equal([1, ...alone[0]!], ref.ids.slice(0, 1 + STEPS), `${id}: the reference ids`);
      assert.equal(await Promise.all(reqs.map((r) => collect(e.submit(r.prompt, { maxTokens: r.maxTokens, stopIds: [] })))), alone, `${id}: batched`);
      const cache = await e.createCache({ name: "full" }, CTX, 16, "f32", { maxSeqs: 16, capacityTokens: 4 * 16 });
      const small = e.serveOn(cache, { admission: "now", spareBlocksPerHead: 0 });
      try {
        const got = await Promise.all(reqs.map((r) => collect(small.submit(r.prompt, { maxTokens: r.maxTokens, stopIds: [] }))));
        assert.ok(small.stats().preemptions > 0, `${id}: preempted (${small.stats().preemptions})`);
        assert.equal(got, alone, `${id}: after preemption and resume`);
      } finally {
        small.destroy();
        cache.destroy();
      }
    } finally {
      e.destroy();
    }
  }
});

t("admission at peak: a compressing pool that thrashed under admission \"now\" serves every request without a preemption", async () => {
  // kvcompress 4x on 128-token prompts keeps one block a head (floor_16(31) = 16): after the
  // prompt's pass every head of every sequence is full, so the first decode step needs a block in
  // every head of every sequence at once, and nothing is over its budget to compress. Admitting
  // what fits now (one spare block a head for all of them) then preempts the newest every step.
  const P = 128, G = 20, N = 16, ctx = 160;
  const e = await loadEngine(sharedModelSource("stories260K"), {
    backend: "cpu", llama2c: MODELS.stories260K, policy: { name: "full" }, maxContextTokens: ctx,
  });
  try {
    const rng = makeRng(99);
    const prompts = Array.from({ length: N }, () => [1, ...Array.from({ length: P - 1 }, () => 3 + Math.floor(rng() * (e.config.vocabSize - 3)))]);
    const run = async (admission: "peak" | "now") => {
      const cache = await e.createCache({ name: "kvcompress", ratio: 4 }, ctx, 16, "f32", { maxSeqs: N, capacityTokens: 3 * ctx });
      const server = e.serveOn(cache, { admission });
      try {
        const got = await Promise.all(prompts.map((p) => collect(server.submit(p, { maxTokens: G, stopIds: [] }))));
        return { lengths: got.map((x) => x.length), stats: server.stats() };
      } finally {
        server.destroy();
        cache.destroy();
      }
    };
    const now = await run("now");
    assert.ok(now.stats.preemptions > N, `admission "now" thrashes here (${now.stats.preemptions} preemptions): the scenario tests something`);
    const peak = await run("peak");
    assert.equal(peak.lengths, prompts.map(() => G), "every request gets its tokens");
    assert.is(peak.stats.preemptions, 0, "no preemption at peak admission");
    assert.is(peak.stats.prefills, N, "one prefill a request");
    assert.ok(peak.stats.meanBatch > 3, `more sequences than fit uncompressed (3) run together: ${peak.stats.meanBatch}`);
  } finally {
    e.destroy();
  }
});

t.run();
