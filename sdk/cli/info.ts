// `kvcompress info`: which adapter the cache gets, and one attention kernel run on random
// data checked against a plain loop — a quick way to see that WebGPU (or the CPU backend) works.
import { causalAttention } from "../../src/model/attention";
import { createKvCache } from "../cache";
import { CliUsageError, parseFlags, usage } from "./args";

const FLAGS = {
  backend: { type: "string", help: "gpu|cpu (default: gpu on a hardware adapter, else cpu)" },
  help: { type: "boolean", help: "show this help" },
} as const;

export async function runInfo(argv: readonly string[], io: { out: (s: string) => void }): Promise<void> {
  const f = parseFlags(argv, FLAGS);
  if (f.help) return io.out(usage("info", FLAGS) + "\n");
  const backend = f.backend ?? "auto";
  if (!["auto", "gpu", "cpu"].includes(backend)) throw new CliUsageError(`--backend must be gpu or cpu, got ${JSON.stringify(backend)}`);
  const shape = { numLayers: 1, numQHeads: 8, numKvHeads: 4, headSize: 64 };
  const cache = await createKvCache({ ...shape, storage: "f32", capacityTokens: 256, maxContextTokens: 256, maxSeqs: 1 }, { backend: backend as "auto" | "gpu" | "cpu" });
  try {
    const numTokens = 37;
    const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
    const k = rand(numTokens * 4 * 64), v = rand(numTokens * 4 * 64), q = rand(numTokens * 8 * 64);
    const seq = cache.addSequence();
    await cache.reserve(seq, numTokens);
    cache.append(0, seq, k, v);
    const t0 = performance.now();
    const out = await cache.attend(0, seq, q);
    const ms = performance.now() - t0;
    const ref = causalAttention(q, k, v, numTokens, numTokens, shape);
    let maxErr = 0;
    for (let i = 0; i < ref.length; i++) maxErr = Math.max(maxErr, Math.abs(out[i] - ref[i]));
    io.out(`backend: ${cache.backendKind}\nadapter: ${cache.adapterName}\n` +
      `prefill attention, ${numTokens} tokens × 8 query heads × d 64: max |error| ${maxErr.toExponential(2)} vs a plain loop (${ms.toFixed(1)} ms)\n`);
    if (!(maxErr < 1e-4)) throw new Error(`attention kernel disagrees with the plain loop: max error ${maxErr}`);
  } finally {
    cache.destroy();
  }
}
