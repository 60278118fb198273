// Random-operation stress of the public KvCache API on both backends (issue 15): the guide's
// batch pattern (reserve one token per decoding sequence, append, attendBatch, endStep), two
// endStep/compress calls in flight at once, a pool far too small for every sequence at full
// length, refused reservations and preemption. After every call it checks, against a model
// of what the cache was given: no KV disappears outside a pass and every one that does is
// reported in the stats, no protected KV (sinks, the last protectedWindow positions) is ever
// evicted, a refused reserve changes nothing, the stats agree with what the heads hold, and
// attention equals a straight f64 loop over exactly the KVs the cache reports as kept.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createKvCache, KvPoolExhaustedError, type KvCache, type PolicyInput } from "../../sdk/index";
import { freshSeed, rng, testDevice } from "../harness/env";
import { SHAPE, attendOver, makeTokens, type Tokens } from "./helpers";

const B = 8;
const MAX_CTX = 64;
const { numLayers: L, numKvHeads: H, numQHeads: QH, headSize: D } = SHAPE;

interface Seq {
  id: number;
  tok: Tokens;
  seqLen: number; // tokens reserved so far (the cache's seqLen)
  /** kept[l][h]: positions the cache holds (appended ones only). */
  kept: Set<number>[][];
  numNew: number;
  appended: boolean[];
  prefilling: boolean;
  evicted: number; // evictions seen so far
  /** seqLen when a pass could last have run on it, where that differs from seqLen. */
  lenAtPass?: number;
}

class Stress {
  readonly seqs = new Map<number, Seq>();
  ops = 0;
  evictedTotal = 0; // over every sequence, removed ones included
  refused = 0; // reserves refused for want of blocks
  reserveEvictions = 0; // KVs a reserve compressed away to make room
  constructor(readonly cache: KvCache, readonly rand: () => number, readonly what: string, readonly pw: number, readonly sinks: number) {}

  private fail(msg: string): never {
    assert.unreachable(`${this.what}, op ${this.ops}: ${msg}`);
    throw new Error("unreachable");
  }

  /** Reads every head and the stats; checks them against the model and commits evictions. */
  async check(mayEvict: ReadonlySet<number>): Promise<void> {
    const st = this.cache.stats();
    const c = this.cache.config;
    let blocks = 0;
    assert.is(st.sequences.length, this.seqs.size, `${this.what} op ${this.ops}: live sequences`);
    assert.is(st.freeBlocks + st.blocksInUse, c.numBlocks, `${this.what} op ${this.ops}: free + in use`);
    for (const ss of st.sequences) {
      const s = this.seqs.get(ss.seqId) ?? this.fail(`stats list unknown sequence ${ss.seqId}`);
      if (ss.seqLen !== s.seqLen) this.fail(`seq ${s.id}: seqLen ${ss.seqLen}, want ${s.seqLen}`);
      let removed = 0, keptKvs = 0, seqBlocks = 0;
      for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) {
        const head = await this.cache.readHead(l, s.id, h);
        const ctx = ss.keptPerHead[l * H + h];
        keptKvs += ctx;
        seqBlocks += Math.ceil(ctx / B);
        if (head.positions.length !== ctx) this.fail(`seq ${s.id} head ${l}/${h}: readHead has ${head.positions.length} slots, stats ${ctx}`);
        // Reserved slots not yet appended sit at the end and hold no KV.
        const pending = s.appended[l] ? 0 : s.numNew;
        const now = new Set(Array.from(head.positions.subarray(0, ctx - pending)));
        if (now.size !== ctx - pending) this.fail(`seq ${s.id} head ${l}/${h}: duplicate positions`);
        for (const p of now) if (!s.kept[l][h].has(p)) this.fail(`seq ${s.id} head ${l}/${h}: position ${p} appeared from nowhere`);
        for (const p of s.kept[l][h]) {
          if (now.has(p)) continue;
          if (!mayEvict.has(s.id)) this.fail(`seq ${s.id} head ${l}/${h}: position ${p} lost outside a pass`);
          const len = s.lenAtPass ?? s.seqLen;
          if (p < this.sinks || p >= len - this.pw) this.fail(`seq ${s.id} head ${l}/${h}: protected position ${p} evicted (seqLen ${len})`);
          removed++;
        }
        s.kept[l][h] = now;
      }
      if (keptKvs !== ss.keptKvs) this.fail(`seq ${s.id}: keptKvs ${ss.keptKvs}, heads hold ${keptKvs}`);
      if (seqBlocks !== ss.blocksInUse) this.fail(`seq ${s.id}: blocksInUse ${ss.blocksInUse}, heads need ${seqBlocks}`);
      s.evicted += removed;
      this.evictedTotal += removed;
      if (ss.evictedKvs !== s.evicted) this.fail(`seq ${s.id}: stats evictedKvs ${ss.evictedKvs}, seen ${s.evicted}`);
      if (removed > 0 && ss.passes === 0) this.fail(`seq ${s.id}: evicted without a pass`);
      blocks += ss.blocksInUse;
    }
    assert.is(blocks, st.blocksInUse, `${this.what} op ${this.ops}: blocks per sequence add up`);
    assert.is(st.evictedKvs, this.evictedTotal, `${this.what} op ${this.ops}: every eviction reported`);
  }

  private snapshot(): string {
    const st = this.cache.stats();
    return JSON.stringify({ ...st, sequences: st.sequences.map((s) => ({ ...s, keptPerHead: Array.from(s.keptPerHead) })) });
  }

  /** reserve; a refusal must change nothing. Returns whether it was granted. */
  async reserve(s: Seq, n: number): Promise<boolean> {
    const before = this.snapshot();
    this.ops++;
    try {
      await this.cache.reserve(s.id, n);
    } catch (e) {
      if (!(e instanceof KvPoolExhaustedError)) throw e;
      this.refused++;
      assert.is(this.snapshot(), before, `${this.what} op ${this.ops}: a refused reserve changed nothing`);
      await this.check(new Set());
      return false;
    }
    // Only sequences between steps (this one included, before its new slots exist) may give up
    // KVs to this reservation.
    const may = new Set([...this.seqs.values()].filter((o) => !o.prefilling && o.numNew === 0).map((o) => o.id));
    s.lenAtPass = s.seqLen;
    s.seqLen += n;
    s.numNew = n;
    s.appended.fill(false);
    const seen = this.evictedTotal;
    await this.check(may);
    this.reserveEvictions += this.evictedTotal - seen;
    s.lenAtPass = undefined;
    return true;
  }

  async append(s: Seq, l: number): Promise<void> {
    const from = s.seqLen - s.numNew, t = s.tok.slice(from, s.seqLen);
    this.ops++;
    this.cache.append(l, s.id, t.k[l], t.v[l]);
    s.appended[l] = true;
    for (let h = 0; h < H; h++) for (let p = from; p < s.seqLen; p++) s.kept[l][h].add(p);
    await this.check(new Set());
  }

  private expect(s: Seq, l: number, got: Float32Array, row: number): void {
    const from = s.seqLen - s.numNew;
    const want = attendOver(s.tok, l, from, s.seqLen, s.kept[l].map((k) => [...k]));
    const off = row * QH * D;
    for (let i = 0; i < want.length; i++) {
      const g = got[off + i];
      if (!(Math.abs(g - want[i]) <= 1e-4 * Math.max(1, Math.abs(want[i])))) this.fail(`seq ${s.id} layer ${l} out[${i}]: got ${g}, want ${want[i]}`);
    }
  }

  async attend(s: Seq, l: number): Promise<void> {
    this.ops++;
    const out = await this.cache.attend(l, s.id, s.tok.slice(s.seqLen - s.numNew, s.seqLen).q[l]);
    this.expect(s, l, out, 0);
    await this.check(new Set());
  }

  async attendBatch(batch: Seq[], l: number): Promise<void> {
    const q = new Float32Array(batch.length * QH * D);
    batch.forEach((s, i) => q.set(s.tok.slice(s.seqLen - 1, s.seqLen).q[l], i * QH * D));
    this.ops++;
    const out = await this.cache.attendBatch(l, batch.map((s) => s.id), q);
    batch.forEach((s, i) => this.expect(s, l, out, i));
    await this.check(new Set());
  }

  /** endStep of `groups` at once (in flight together), maybe with a compress() beside them. */
  async endSteps(groups: Seq[][], withCompress: boolean): Promise<void> {
    const ended = groups.flat();
    const before = this.evictedTotal;
    const calls: Promise<{ evictedKvs: number } | null>[] = groups.map((g) => this.cache.endStep(g.map((s) => s.id)));
    if (withCompress) calls.push(this.cache.compress());
    this.ops += calls.length;
    const reports = await Promise.all(calls);
    for (const s of ended) { s.numNew = 0; s.prefilling = false; }
    // Any sequence between steps now may have been compressed (compress() takes all of them).
    const may = new Set([...this.seqs.values()].filter((o) => o.numNew === 0 && !o.prefilling).map((o) => o.id));
    await this.check(may);
    const reported = reports.reduce((a, r) => a + (r?.evictedKvs ?? 0), 0);
    assert.is(reported, this.evictedTotal - before, `${this.what} op ${this.ops}: the reports account for every eviction`);
  }

  remove(s: Seq): void {
    this.ops++;
    this.cache.removeSequence(s.id);
    this.seqs.delete(s.id);
  }

  newest(): Seq | undefined {
    return [...this.seqs.values()].pop();
  }
}

/** Random steps until `ops` public calls have been checked. */
async function run(cache: KvCache, seed: number, ops: number, policy: PolicyInput, pw: number, sinks: number): Promise<Stress> {
  const rand = rng(seed);
  const x = new Stress(cache, rand, `seed ${seed} ${policy.name}`, pw, sinks);
  const pick = <T>(a: T[]): T => a[Math.floor(rand() * a.length)];
  while (x.ops < ops) {
    const r = rand();
    const live = [...x.seqs.values()];
    if (r < 0.2 && x.seqs.size < cache.config.maxSeqs) {
      // A new sequence and its prompt; refused → removed again (admission failed).
      const id = cache.addSequence();
      x.ops++;
      const s: Seq = { id, tok: makeTokens(rand, MAX_CTX, [0.5, 3]), seqLen: 0, kept: [...Array(L)].map(() => [...Array(H)].map(() => new Set<number>())),
        numNew: 0, appended: Array(L).fill(false), prefilling: true, evicted: 0 };
      x.seqs.set(id, s);
      await x.check(new Set());
      if (!(await x.reserve(s, 1 + Math.floor(rand() * 30)))) { x.remove(s); continue; }
      for (let l = 0; l < L; l++) { await x.append(s, l); await x.attend(s, l); }
      await x.endSteps([[s]], false);
    } else if (r < 0.27 && live.length) {
      x.remove(pick(live)); // a sequence finishes or the caller drops it
      await x.check(new Set());
    } else {
      // One batch decode step over the decoding sequences, the guide's way.
      const batch: Seq[] = [];
      for (const s of live.filter((o) => !o.prefilling)) {
        if (!x.seqs.has(s.id)) continue; // preempted below
        if (s.seqLen + 1 > MAX_CTX) { x.remove(s); continue; }
        if (await x.reserve(s, 1)) { batch.push(s); continue; }
        // Pool short even after compression: preempt the newest sequence.
        const victim = x.newest()!;
        x.remove(victim);
        await x.check(new Set());
        const at = batch.indexOf(victim);
        if (at >= 0) batch.splice(at, 1);
      }
      if (!batch.length) continue;
      for (let l = 0; l < L; l++) {
        for (const s of batch) await x.append(s, l);
        await x.attendBatch(batch, l);
      }
      const cut = Math.floor(rand() * (batch.length + 1));
      const groups = rand() < 0.5 ? [batch.slice(0, cut), batch.slice(cut)].filter((g) => g.length) : [batch];
      await x.endSteps(groups, rand() < 0.2);
    }
  }
  return x;
}

// Pools of 20–28 blocks for 4 sequences of up to 64 tokens (up to 32 blocks each): short.
const POLICIES: { policy: PolicyInput; pw: number; sinks: number; blocks: number }[] = [
  { policy: { name: "kvcompress", ratio: 2, protectedWindow: 3, sinks: 1, trigger: "continual" }, pw: 3, sinks: 1, blocks: 20 },
  { policy: { name: "kvcompress", maxTokensPerHead: 12, protectedWindow: 0, sinks: 0 }, pw: 0, sinks: 0, blocks: 28 },
  { policy: { name: "h2o", maxTokensPerHead: 10, protectedWindow: 2, sinks: 2 }, pw: 2, sinks: 2, blocks: 24 },
  { policy: { name: "snapkv", ratio: 3, protectedWindow: 4 }, pw: 4, sinks: 0, blocks: 24 },
];

for (const backend of ["cpu", "gpu"] as const) {
  const t = suite(`sdk stress (${backend})`);
  const opsPerPolicy = backend === "cpu" ? 2600 : 150;
  for (const { policy, pw, sinks, blocks } of POLICIES) {
    t(`${policy.name} ${JSON.stringify(policy)}: ${opsPerPolicy} random calls keep every invariant`, async () => {
      const device = backend === "gpu" ? await testDevice() : undefined;
      const cache = await createKvCache({ ...SHAPE, blockSize: B, storage: "f32", capacityBlocks: blocks, maxSeqs: 4, maxContextTokens: MAX_CTX, policy },
        device ? { device } : { backend: "cpu" });
      try {
        const x = await run(cache, freshSeed(), opsPerPolicy, policy, pw, sinks);
        assert.ok(x.ops >= opsPerPolicy);
        // The long CPU runs must have met the short pool (a refusal or a reserve that compressed).
        if (backend === "cpu") assert.ok(x.refused + x.reserveEvictions > 0, `seed ${x.what}: the pool was never short`);
      } finally {
        cache.destroy();
      }
    });
  }
  t.run();
}

