// Shared model fixtures for the model tests: the two real models in ../shared, read through the
// harness (file system in Node/Deno, HTTP in Chromium), plus the NLL of a token window.
import { readShared, readSharedText } from "../harness/env";
import { type LoadedModel, createFullAttentionCache, loadHfModel, loadLlama2cModel } from "../../src/model/index";
import { type ModelSource, sourceFromFiles, sourceFromReader } from "../../src/model/source";

export const STORIES_DIR = "models/stories260K";
export const TINY_HF_DIR = "models/tinystories-656K";
export const HF_FILES = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"] as const;

export interface Reference {
  greedy_from_bos: { prompt_ids: number[]; steps: number; ids: number[]; text: string };
  tinystories_val_window: { num_tokens: number; first_16_ids: number[]; mean_nll_nats_over_511_predictions: number };
}

export async function readReference(dir: string): Promise<Reference> {
  return JSON.parse(await readSharedText(`${dir}/reference.json`)) as Reference;
}

/** A source over a shared model directory. */
export function sharedSource(dir: string): ModelSource {
  return sourceFromReader(dir, (fileName) => readShared(`${dir}/${fileName}`));
}

/** The HF model's files as a name → bytes map, to corrupt copies of in tests. */
export async function readHfFiles(): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  for (const name of HF_FILES) files.set(name, await readShared(`${TINY_HF_DIR}/${name}`));
  return files;
}

export function hfSourceWith(files: Map<string, Uint8Array>, replaced: Record<string, Uint8Array>): ModelSource {
  return sourceFromFiles(new Map([...files, ...Object.entries(replaced)]));
}

let stories: Promise<LoadedModel> | undefined;
let tinyHf: Promise<LoadedModel> | undefined;

export function loadStories(): Promise<LoadedModel> {
  stories ??= loadLlama2cModel(sharedSource(STORIES_DIR), { checkpoint: "stories260K.bin", tokenizer: "tok512.bin" });
  return stories;
}

export function loadTinyHf(): Promise<LoadedModel> {
  tinyHf ??= loadHfModel(sharedSource(TINY_HF_DIR));
  return tinyHf;
}

/** The first 4000 characters of the validation text (reference.json's window source). */
export async function valText(): Promise<string> {
  return (await readSharedText("data/tinystories-val/tinystories_val.txt")).slice(0, 4000);
}

/** Greedy ids after `promptIds`, one forward per generated token, full attention. */
export async function greedyIds(loaded: LoadedModel, promptIds: number[], steps: number): Promise<number[]> {
  const cache = createFullAttentionCache(loaded.model);
  const ids = [...promptIds];
  let logits = await loaded.model.forward(promptIds, cache);
  for (let s = 0; s < steps; s++) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
    ids.push(best);
    if (s + 1 < steps) logits = await loaded.model.forward([best], cache);
  }
  return ids;
}

/** Mean NLL (nats) of ids[t+1] given ids[..t], over ids.length - 1 predictions, one prefill. */
export async function meanNll(loaded: LoadedModel, ids: number[]): Promise<number> {
  const logits = await loaded.model.forward(ids, createFullAttentionCache(loaded.model), { allLogits: true });
  const vocabSize = loaded.model.config.vocabSize;
  let total = 0;
  for (let t = 0; t + 1 < ids.length; t++) {
    const row = logits.subarray(t * vocabSize, (t + 1) * vocabSize);
    let maxLogit = -Infinity;
    for (const x of row) if (x > maxLogit) maxLogit = x;
    let sum = 0;
    for (const x of row) sum += Math.exp(x - maxLogit);
    total += maxLogit + Math.log(sum) - row[ids[t + 1]!]!;
  }
  return total / (ids.length - 1);
}
