// Where the CLI finds a model: a directory, a URL, or a known id. An id is looked up in
// $KVCOMPRESS_MODELS/<id>, then in the user's cache directory, and otherwise downloaded from
// the Hugging Face hub into that cache (KVCOMPRESS_HF_BASE overrides the hub URL).
import { mkdir, rename, stat, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";
import { ModelSourceError } from "../../src/errors";
import { sourceFromPath, sourceFromUrl, type ModelSource, type ProgressCallback } from "../../src/model/source";

/** Models the CLI can fetch by id: the hub repository, the folder in it, and the files. */
export const KNOWN_MODELS: Record<string, { repo: string; folder: string; files: string[] }> = {
  stories260K: { repo: "karpathy/tinyllamas", folder: "stories260K", files: ["stories260K.bin", "tok512.bin"] },
  "tinystories-656K": {
    repo: "raincandy-u/TinyStories-656K", folder: "",
    files: ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"],
  },
};

export const DEFAULT_MODEL = "stories260K";

/** `$XDG_CACHE_HOME/kvcompress/models` or `~/.cache/kvcompress/models`. */
export function modelCacheDir(env: Record<string, string | undefined> = process.env): string {
  return path.join(env.XDG_CACHE_HOME || path.join(homedir(), ".cache"), "kvcompress", "models");
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function hasFiles(dir: string, files: string[]): Promise<boolean> {
  for (const f of files) {
    try {
      if (!(await stat(path.join(dir, f))).isFile()) return false;
    } catch {
      return false;
    }
  }
  return true;
}

export interface ResolvedModel {
  /** What the user named, for messages and JSON output. */
  readonly name: string;
  readonly source: ModelSource;
  /** llama2.c file names when the model is in that format. */
  readonly llama2c?: { checkpoint: string; tokenizer: string };
}

/**
 * Turns `--model` into a ModelSource, downloading a known id when no local copy exists.
 * @throws ModelSourceError when the path does not exist or the id is unknown.
 */
export async function resolveModel(spec: string | undefined, onProgress?: ProgressCallback, env: Record<string, string | undefined> = process.env): Promise<ResolvedModel> {
  const name = spec ?? DEFAULT_MODEL;
  if (/^https?:\/\//.test(name)) return { name, source: sourceFromUrl(name), llama2c: llama2cNames(name) };
  const known = KNOWN_MODELS[name];
  if (!known) {
    if (await isDir(name)) return { name, source: sourceFromPath(name), llama2c: await llama2cNamesIn(name) };
    throw new ModelSourceError(name, `no such model directory, and not a known model id (${Object.keys(KNOWN_MODELS).join(", ")})`, true);
  }
  const llama2c = known.files[0].endsWith(".bin") ? { checkpoint: known.files[0], tokenizer: known.files[1] } : undefined;
  const candidates = [env.KVCOMPRESS_MODELS ? path.join(env.KVCOMPRESS_MODELS, name) : "", path.join(modelCacheDir(env), name)].filter(Boolean);
  for (const dir of candidates) if (await hasFiles(dir, known.files)) return { name, source: sourceFromPath(dir), llama2c };
  const dir = path.join(modelCacheDir(env), name);
  await download(known, dir, env.KVCOMPRESS_HF_BASE ?? "https://huggingface.co", onProgress);
  return { name, source: sourceFromPath(dir), llama2c };
}

/** Downloads every file to `<dir>/<file>.part`, then renames it, so a broken download never looks complete. */
async function download(known: { repo: string; folder: string; files: string[] }, dir: string, hubBase: string, onProgress?: ProgressCallback): Promise<void> {
  await mkdir(dir, { recursive: true });
  const base = `${hubBase.replace(/\/$/, "")}/${known.repo}/resolve/main/${known.folder ? known.folder + "/" : ""}`;
  const hub = sourceFromUrl(base);
  for (const file of known.files) {
    const bytes = await hub.read(file, onProgress);
    const target = path.join(dir, file);
    await writeFile(target + ".part", bytes);
    await rename(target + ".part", target);
  }
}

function llama2cNames(url: string): { checkpoint: string; tokenizer: string } | undefined {
  return /stories260K/.test(url) ? { checkpoint: "stories260K.bin", tokenizer: "tok512.bin" } : undefined;
}

/** In a directory without config.json, take the one .bin checkpoint and tokenizer found there. */
async function llama2cNamesIn(dir: string): Promise<{ checkpoint: string; tokenizer: string } | undefined> {
  const { readdir } = await import("node:fs/promises");
  const files = await readdir(dir);
  if (files.includes("config.json")) return undefined;
  const tokenizer = files.find((f) => /^tok.*\.bin$/.test(f));
  const checkpoint = files.find((f) => f.endsWith(".bin") && f !== tokenizer);
  return checkpoint && tokenizer ? { checkpoint, tokenizer } : undefined;
}
