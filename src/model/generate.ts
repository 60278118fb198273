// The prefill + decode loop (gpt-fast's prefill / decode_one_token / generate, llama2.c's
// generate()): one forward over the whole prompt, then one forward per new token. Timings are
// split at the same boundary so the CLI can report prefill and decode tokens/s separately.

import { InvalidArgumentError } from "../errors";
import type { AttentionCache } from "./attention";
import type { LlamaModel } from "./llama";
import { type SamplingOptions, createRng, sampleToken } from "./sample";

export interface GenerateOptions extends SamplingOptions {
  /** Tokens to generate after the prompt (fewer when `stopIds` is hit). */
  maxNewTokens: number;
  /** PRNG seed for temperature > 0. @default 0 */
  seed?: number;
  /** Generation ends after emitting one of these (e.g. the tokenizer's eosId). @default [] */
  stopIds?: readonly number[];
  /** Called with each new token as soon as it is sampled (stream text from here). */
  onToken?: (tokenId: number) => void;
}

export interface GenerateResult {
  /** Prompt ids followed by the generated ids. */
  ids: number[];
  numPromptTokens: number;
  prefillMs: number;
  decodeMs: number;
}

/** Runs `promptIds` then samples up to `maxNewTokens`, appending everything to `cache`. */
export async function generate(
  model: LlamaModel,
  cache: AttentionCache,
  promptIds: readonly number[],
  options: GenerateOptions,
): Promise<GenerateResult> {
  if (promptIds.length === 0) throw new InvalidArgumentError("promptIds.length", 0, "at least one token (usually BOS)");
  const rng = createRng(options.seed ?? 0);
  const stopIds = new Set(options.stopIds ?? []);
  const ids = [...promptIds];

  const prefillStart = performance.now();
  let logits = await model.forward(promptIds, cache);
  const prefillMs = performance.now() - prefillStart;

  const decodeStart = performance.now();
  for (let step = 0; step < options.maxNewTokens; step++) {
    const tokenId = sampleToken(logits, options, rng);
    ids.push(tokenId);
    options.onToken?.(tokenId);
    // The last token is not fed back: its K/V would only matter to a token never generated.
    if (stopIds.has(tokenId) || step + 1 === options.maxNewTokens) break;
    logits = await model.forward([tokenId], cache);
  }
  return { ids, numPromptTokens: promptIds.length, prefillMs, decodeMs: performance.now() - decodeStart };
}
