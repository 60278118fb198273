// Next-token sampling: greedy at temperature 0, otherwise temperature + nucleus (top-p) with
// a seeded PRNG, so a (seed, logits) pair always gives the same token in every runtime.

import { InvalidArgumentError } from "../errors";

export interface SamplingOptions {
  /** 0 = greedy (argmax). @default 0 */
  temperature?: number;
  /** Nucleus mass in (0, 1]; 1 disables top-p. @default 1 */
  topP?: number;
}

/** A uniform [0, 1) generator. */
export type Rng = () => number;

/**
 * mulberry32: 32-bit state, tiny, and identical in every JS engine (only int32 math), which
 * Math.random is not. Good enough for sampling; not for anything security-related.
 */
export function createRng(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

/** Index of the largest logit; the lowest index wins ties (as llama2.c's argmax). */
export function argmax(logits: Float32Array): number {
  let bestId = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[bestId]!) bestId = i;
  return bestId;
}

/**
 * Picks the next token from `logits` [vocabSize].
 * @throws RangeError for a negative temperature or topP outside (0, 1]
 */
export function sampleToken(logits: Float32Array, options: SamplingOptions, rng: Rng): number {
  const temperature = options.temperature ?? 0;
  const topP = options.topP ?? 1;
  if (!(temperature >= 0)) throw new InvalidArgumentError("temperature", temperature, "≥ 0 (0 = greedy)");
  if (!(topP > 0 && topP <= 1)) throw new InvalidArgumentError("topP", topP, "in (0, 1]");
  if (temperature === 0) return argmax(logits);

  const probs = softmax(logits, temperature);
  const r = rng();
  if (topP >= 1) return sampleFrom(probs, r);
  return sampleTopP(probs, topP, r);
}

function softmax(logits: Float32Array, temperature: number): Float64Array {
  let maxLogit = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > maxLogit) maxLogit = logits[i]!;
  const probs = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    probs[i] = Math.exp((logits[i]! - maxLogit) / temperature);
    sum += probs[i]!;
  }
  for (let i = 0; i < probs.length; i++) probs[i]! /= sum;
  return probs;
}

function sampleFrom(probs: Float64Array, r: number): number {
  let cumulative = 0;
  for (let i = 0; i < probs.length; i++) {
    cumulative += probs[i]!;
    if (r < cumulative) return i;
  }
  return probs.length - 1; // rounding left r just above the total
}

/**
 * Smallest set of most-probable tokens whose mass exceeds topP, renormalised. Order: probability
 * descending, then id ascending, so ties resolve the same everywhere (Array sort is stable).
 */
function sampleTopP(probs: Float64Array, topP: number, r: number): number {
  // Tokens below (1 - topP) / (n - 1) can never be in the nucleus (llama2.c's cutoff trick).
  const cutoff = (1 - topP) / (probs.length - 1);
  const candidateIds: number[] = [];
  for (let i = 0; i < probs.length; i++) if (probs[i]! >= cutoff) candidateIds.push(i);
  candidateIds.sort((a, b) => probs[b]! - probs[a]! || a - b);
  let lastIdx = candidateIds.length - 1;
  let mass = 0;
  for (let i = 0; i < candidateIds.length; i++) {
    mass += probs[candidateIds[i]!]!;
    if (mass > topP) { lastIdx = i; break; }
  }
  const target = r * mass;
  let cumulative = 0;
  for (let i = 0; i <= lastIdx; i++) {
    cumulative += probs[candidateIds[i]!]!;
    if (target < cumulative) return candidateIds[i]!;
  }
  return candidateIds[lastIdx]!;
}
