// One test per cache-level bug of issue 15, on both backends: the batch pattern never evicts a
// reserved slot; two endStep calls in flight are serialised; a refused reserve changes nothing;
// NaN/Inf and wrongly typed or sized K/V/Q are rejected with InvalidArgumentError naming the
// field before anything is written; attending before append and a multi-token step after
// prefill are refused before any state changes.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createKvCache, InvalidArgumentError, KvPoolExhaustedError, type KvCache, type PolicyInput } from "../../sdk/index";
import { freshSeed, rng, testDevice } from "../harness/env";
import { SHAPE, makeTokens, type Tokens } from "./helpers";

const B = 8;
const { numLayers: L, numKvHeads: H } = SHAPE;

async function makeCache(backend: "gpu" | "cpu", policy: PolicyInput, capacityBlocks: number, maxSeqs = 2): Promise<KvCache> {
  const device = backend === "gpu" ? await testDevice() : undefined;
  return createKvCache({ ...SHAPE, blockSize: B, storage: "f32", capacityBlocks, maxSeqs, maxContextTokens: 64, policy }, device ? { device } : { backend: "cpu" });
}

async function prefill(cache: KvCache, t: Tokens): Promise<number> {
  const seq = cache.addSequence();
  await cache.reserve(seq, t.numTokens);
  for (let l = 0; l < L; l++) { cache.append(l, seq, t.k[l], t.v[l]); await cache.attend(l, seq, t.q[l]); }
  await cache.endStep([seq]);
  return seq;
}

async function positions(cache: KvCache, seq: number): Promise<number[][]> {
  const out: number[][] = [];
  for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) out.push([...(await cache.readHead(l, seq, h)).positions].sort((a, b) => a - b));
  return out;
}

async function throwsArg(fn: () => unknown, field: string): Promise<void> {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof InvalidArgumentError, `want InvalidArgumentError, got ${e}`);
    assert.is((e as InvalidArgumentError).field, field);
    return;
  }
  assert.unreachable(`no error for ${field}`);
}

for (const backend of ["gpu", "cpu"] as const) {
  const t = suite(`sdk regressions (${backend})`);

  t("batch pattern: reserve(a), then a short pool at reserve(b) never evicts from a (mid-step)", async () => {
    const tok = makeTokens(rng(freshSeed()), 25);
    const cache = await makeCache(backend, { name: "kvcompress", maxTokensPerHead: 8, protectedWindow: 1 }, 16);
    try {
      const a = await prefill(cache, tok.slice(0, 16)); // compressed to 8 per head: 4 blocks
      for (let p = 16; p < 24; p++) { // decode to 16 per head (no continual trigger): 8 blocks
        const one = tok.slice(p, p + 1);
        await cache.reserve(a, 1);
        for (let l = 0; l < L; l++) { cache.append(l, a, one.k[l], one.v[l]); await cache.attend(l, a, one.q[l]); }
        await cache.endStep([a]);
      }
      const keptA = await positions(cache, a);
      await cache.reserve(a, 1); // a third block per head: 12 of 16 in use
      const b = cache.addSequence();
      // b's prompt needs 8 blocks; only a holds KVs beyond its budget, and a is mid-step.
      try {
        await cache.reserve(b, 16);
        assert.unreachable("reserve(b) should have been refused");
      } catch (e) {
        assert.ok(e instanceof KvPoolExhaustedError, String(e));
      }
      // The reserved slot is the last in logical order and holds no KV yet: compare the others.
      for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) {
        const held = (await cache.readHead(l, a, h)).positions;
        assert.equal([...held.subarray(0, held.length - 1)].sort((x, y) => x - y), keptA[l * H + h], `head ${l}/${h}: a lost nothing while mid-step`);
      }
      const one = tok.slice(24, 25);
      for (let l = 0; l < L; l++) cache.append(l, a, one.k[l], one.v[l]);
      assert.equal(await positions(cache, a), keptA.map((p) => [...p, 24]), "a's append landed in its reserved slot");
    } finally {
      cache.destroy();
    }
  });

  t("two endStep calls in flight run one after the other and both report", async () => {
    const tok = makeTokens(rng(freshSeed()), 24);
    const cache = await makeCache(backend, { name: "kvcompress", maxTokensPerHead: 8, protectedWindow: 2 }, 64);
    try {
      const seqs = [cache.addSequence(), cache.addSequence()];
      for (const s of seqs) {
        await cache.reserve(s, 24);
        for (let l = 0; l < L; l++) { cache.append(l, s, tok.k[l], tok.v[l]); await cache.attend(l, s, tok.q[l]); }
      }
      const [r0, r1] = await Promise.all([cache.endStep([seqs[0]]), cache.endStep([seqs[1]])]);
      assert.ok(r0 && r1);
      assert.equal(r0!.seqIds, [seqs[0]]);
      assert.equal(r1!.seqIds, [seqs[1]]);
      const st = cache.stats();
      assert.is(st.passes, 2);
      for (const s of st.sequences) {
        assert.is(s.passes, 1, `seq ${s.seqId}: one pass`);
        assert.is(s.evictedKvs, 16 * L * H, `seq ${s.seqId}: 24 → 8 per head`);
      }
      assert.is(r0!.evictedKvs + r1!.evictedKvs, st.evictedKvs);
      // A pass queued behind nothing starts a microtask later: a sequence removed before it
      // starts is refused by the pass with a named error, and nothing else changes.
      const pass = cache.compress([seqs[1]]);
      cache.removeSequence(seqs[1]);
      await throwsArg(() => pass, "seqId");
      assert.is(cache.stats().sequences.length, 1);
      await cache.compress();
    } finally {
      cache.destroy();
    }
  });

  t("a refused reserve changes nothing (no eviction first)", async () => {
    const tok = makeTokens(rng(freshSeed()), 24);
    const cache = await makeCache(backend, { name: "kvcompress", maxTokensPerHead: 8, protectedWindow: 2 }, 12);
    try {
      const a = await prefill(cache, tok.slice(0, 8)); // at its budget: 4 blocks
      for (let p = 8; p < 16; p++) { // decode to 16 per head (no continual trigger): 8 blocks, 4 beyond budget
        const one = tok.slice(p, p + 1);
        await cache.reserve(a, 1);
        for (let l = 0; l < L; l++) { cache.append(l, a, one.k[l], one.v[l]); await cache.attend(l, a, one.q[l]); }
        await cache.endStep([a]);
      }
      const before = JSON.stringify({ ...cache.stats(), sequences: undefined });
      const keptA = await positions(cache, a);
      const b = cache.addSequence();
      // 24 tokens need 12 blocks; 4 are free and compressing a frees 4 more: not enough.
      try {
        await cache.reserve(b, 24);
        assert.unreachable("reserve should have been refused");
      } catch (e) {
        assert.ok(e instanceof KvPoolExhaustedError, String(e));
      }
      assert.is(JSON.stringify({ ...cache.stats(), sequences: undefined }), before);
      assert.equal(await positions(cache, a), keptA);
      await cache.reserve(b, 16); // 8 blocks: fits once a is compressed
      assert.is(cache.stats().sequences[0].keptKvs, 8 * L * H);
    } finally {
      cache.destroy();
    }
  });

  t("NaN/Inf and wrong types or lengths in k, v, q: InvalidArgumentError naming the field, nothing written", async () => {
    const tok = makeTokens(rng(freshSeed()), 4);
    const cache = await makeCache(backend, { name: "kvcompress", maxTokensPerHead: 8 }, 32);
    try {
      const s = cache.addSequence();
      await cache.reserve(s, 4);
      const bad = tok.k[0].slice(); bad[5] = NaN;
      await throwsArg(() => cache.append(0, s, bad, tok.v[0]), "k[5]");
      const inf = tok.v[0].slice(); inf[0] = -Infinity;
      await throwsArg(() => cache.append(0, s, tok.k[0], inf), "v[0]");
      await throwsArg(() => cache.append(0, s, Float64Array.from(tok.k[0]) as unknown as Float32Array, tok.v[0]), "k");
      await throwsArg(() => cache.append(0, s, Array.from(tok.k[0]) as unknown as Float32Array, tok.v[0]), "k");
      await throwsArg(() => cache.append(0, s, tok.k[0], tok.v[0].subarray(1)), "v.length");
      // Nothing was appended: attending layer 0 is refused, then the real append works.
      await throwsArg(() => cache.attend(0, s, tok.q[0]), "seqId");
      cache.append(0, s, tok.k[0], tok.v[0]);
      const q = tok.q[0].slice(); q[3] = NaN;
      await throwsArg(() => cache.attend(0, s, q), "q[3]");
      const out = await cache.attend(0, s, tok.q[0]);
      assert.ok(out.every(Number.isFinite));
    } finally {
      cache.destroy();
    }
  });

  t("attending a reserved but unappended slot, and a 3-token step after prefill, are refused before any change", async () => {
    const tok = makeTokens(rng(freshSeed()), 12);
    const cache = await makeCache(backend, { name: "full" }, 32);
    try {
      const s = await prefill(cache, tok.slice(0, 8));
      const before = cache.stats().sequences[0].seqLen;
      await throwsArg(() => cache.reserve(s, 3), "numTokens");
      assert.is(cache.stats().sequences[0].seqLen, before, "seqLen unchanged");
      await cache.reserve(s, 1);
      const one = tok.slice(8, 9);
      cache.append(0, s, one.k[0], one.v[0]);
      await throwsArg(() => cache.attend(1, s, one.q[1]), "seqId"); // layer 1 not appended yet
      await throwsArg(() => cache.attendBatch(1, [s], one.q[1]), "seqId");
      await throwsArg(() => cache.reserve(s, 1), "seqId"); // a second reserve before endStep
      cache.append(1, s, one.k[1], one.v[1]);
      await cache.attendBatch(1, [s], one.q[1]);
      await cache.endStep([s]);
      assert.is(cache.stats().sequences[0].seqLen, before + 1);
    } finally {
      cache.destroy();
    }
  });

  t.run();
}
