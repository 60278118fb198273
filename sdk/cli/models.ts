// Where the CLI finds a model: a directory, a URL, a known id or any Hugging Face id
// (`org/name`). An id is looked up in $KVCOMPRESS_MODELS/<id>, then in the user's cache
// directory, and otherwise downloaded from the Hugging Face hub into that cache
// (KVCOMPRESS_HF_BASE overrides the hub URL). What to download comes from the hub's listing
// (@huggingface/hub listFiles: names, sizes, LFS sha256); downloads go through download.ts, so
// the cache only ever holds whole, verified files.
import { readdir, readFile, stat } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";
import { ModelFormatError, ModelSourceError } from "../../src/errors";
import { parseHfConfig } from "../../src/model/hf";
import { fileLabel, sourceFromPath, sourceFromUrl, type ModelSource, type ProgressCallback } from "../../src/model/source";
import { CliUsageError } from "./args";
import { downloadFile, downloadLimits, ensureWritableDir, hubFileUrl, listHubFolder, type HubFile } from "./download";

/** Models the CLI can fetch by a short id: the hub repository, the folder in it, and the files. */
export const KNOWN_MODELS: Readonly<Record<string, { repo: string; folder: string; files: string[] }>> = Object.freeze({
  stories260K: { repo: "karpathy/tinyllamas", folder: "stories260K", files: ["stories260K.bin", "tok512.bin"] },
  "tinystories-656K": {
    repo: "raincandy-u/TinyStories-656K", folder: "",
    files: ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"],
  },
});

export const DEFAULT_MODEL = "stories260K";

/** A hub id: `org/name`, each part of the characters the hub allows. */
const HUB_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** `$XDG_CACHE_HOME/kvcompress/models` or `~/.cache/kvcompress/models`. */
export function modelCacheDir(env: Record<string, string | undefined> = process.env): string {
  return path.join(env.XDG_CACHE_HOME || path.join(homedir(), ".cache"), "kvcompress", "models");
}

async function isDir(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null))?.isDirectory() ?? false;
}

async function hasFiles(dir: string, files: string[]): Promise<boolean> {
  for (const f of files) if (!((await stat(path.join(dir, f)).catch(() => null))?.isFile() ?? false)) return false;
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
 * Turns `--model` into a ModelSource, downloading an id when no local copy exists.
 * @throws ModelSourceError when the path does not exist, the id is unknown or a download fails.
 */
export async function resolveModel(spec: string | undefined, onProgress?: ProgressCallback, env: Record<string, string | undefined> = process.env): Promise<ResolvedModel> {
  const name = spec ?? DEFAULT_MODEL;
  if (/^https?:\/\//.test(name)) return { name, source: sourceFromUrl(name), llama2c: llama2cNames(name) };
  if (await isDir(name)) return { name, source: cachedFirstRead(sourceFromPath(name)), llama2c: await llama2cNamesIn(name) };
  // Object.hasOwn: ids such as `constructor` or `__proto__` are not models.
  const known = Object.hasOwn(KNOWN_MODELS, name) ? KNOWN_MODELS[name] : undefined;
  const hubBase = (env.KVCOMPRESS_HF_BASE ?? "https://huggingface.co").replace(/\/$/, "");
  const limits = downloadLimits(env);
  if (known) {
    const llama2c = known.files[0].endsWith(".bin") ? { checkpoint: known.files[0], tokenizer: known.files[1] } : undefined;
    const candidates = [env.KVCOMPRESS_MODELS ? path.join(env.KVCOMPRESS_MODELS, name) : "", path.join(modelCacheDir(env), name)].filter(Boolean);
    for (const dir of candidates) if (await hasFiles(dir, known.files)) return { name, source: cachedFirstRead(sourceFromPath(dir)), llama2c };
    const dir = path.join(modelCacheDir(env), name);
    await ensureWritableDir(dir, "the model cache (XDG_CACHE_HOME)");
    const listed = await listHubFolder(hubBase, known.repo, "main", known.folder, limits.stallMs);
    for (const file of known.files) {
      const hubFile = listed?.get(file) ?? { hubUrl: hubBase, repo: known.repo, revision: "main", path: known.folder ? `${known.folder}/${file}` : file };
      await downloadFile(hubFile, path.join(dir, file), file, limits, onProgress);
    }
    return { name, source: cachedFirstRead(sourceFromPath(dir)), llama2c };
  }
  // `org/name@revision`: a branch, tag or commit (default main); kept in its own cache folder.
  const at = name.lastIndexOf("@");
  const repo = at > 0 ? name.slice(0, at) : name;
  const revision = at > 0 ? name.slice(at + 1) : "main";
  if (!HUB_ID_RE.test(repo) || repo.split("/").some((p) => p === "." || p === "..")) {
    throw new ModelSourceError(name, `no such model directory, not a known model id (${Object.keys(KNOWN_MODELS).join(", ")}) and not a hub id like org/name`, true);
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(revision)) throw new CliUsageError(`--model: revision ${JSON.stringify(revision)} is not a branch, tag or commit name`);
  // Offline first: a copy under KVCOMPRESS_MODELS is used as it is; the cache's copy only once complete.
  const offline = env.KVCOMPRESS_MODELS ? path.join(env.KVCOMPRESS_MODELS, name) : "";
  if (offline && await hasFiles(offline, ["config.json"])) return { name, source: cachedFirstRead(sourceFromPath(offline)) };
  const dir = path.join(modelCacheDir(env), revision === "main" ? repo : `${repo}@${revision}`);
  if (await hasFiles(dir, [".complete"])) return { name, source: cachedFirstRead(sourceFromPath(dir)) };
  await ensureWritableDir(dir, "the model cache (XDG_CACHE_HOME)");
  await downloadHubModel(hubBase, repo, revision, dir, limits, onProgress);
  return { name, source: cachedFirstRead(sourceFromPath(dir)) };
}

/**
 * A Hugging Face safetensors model: config, tokenizer, then one weight file or an index and its
 * shards. The listing says which files exist; a hub without the tree API is asked file by file.
 */
async function downloadHubModel(hubUrl: string, repo: string, revision: string, dir: string, limits: ReturnType<typeof downloadLimits>, onProgress?: ProgressCallback): Promise<void> {
  const listed = await listHubFolder(hubUrl, repo, revision, "", limits.stallMs);
  const fileOf = (name: string): HubFile => listed?.get(name) ?? { hubUrl, repo, revision, path: name };
  const get = (name: string) => {
    if (listed && !listed.has(name)) throw new ModelSourceError(hubFileUrl(fileOf(name)), `not in ${repo} at ${revision}`, true);
    return downloadFile(fileOf(name), path.join(dir, name), name, limits, onProgress);
  };
  const optional = async (name: string): Promise<boolean> => {
    try {
      await get(name);
      return true;
    } catch (err) {
      if (err instanceof ModelSourceError && err.notFound) return false;
      throw err;
    }
  };
  await get("config.json");
  // Fail on an unsupported architecture before the weights, the big download.
  parseHfConfig(JSON.parse(await readFile(path.join(dir, "config.json"), "utf8")), hubFileUrl(fileOf("config.json")));
  await get("tokenizer.json");
  await optional("tokenizer_config.json");
  if (!(await optional("model.safetensors"))) {
    if (!(await optional("model.safetensors.index.json"))) {
      throw new ModelSourceError(hubFileUrl(fileOf("model.safetensors")), "the repository has neither model.safetensors nor model.safetensors.index.json", true);
    }
    const indexUrl = hubFileUrl(fileOf("model.safetensors.index.json"));
    const index = JSON.parse(await readFile(path.join(dir, "model.safetensors.index.json"), "utf8")) as { weight_map?: Record<string, string> };
    const shards = [...new Set(Object.values(index.weight_map ?? {}))];
    for (const shard of shards) {
      if (!/^[A-Za-z0-9._-]+\.safetensors$/.test(shard)) throw new ModelFormatError(indexUrl, `shard name ${JSON.stringify(shard)} is not a plain .safetensors file name`);
      await get(shard);
    }
  }
  // Marks the set complete: a run stopped between files downloads the rest next time.
  const { writeFile } = await import("node:fs/promises");
  await writeFile(path.join(dir, ".complete"), "");
}

/**
 * Reads each file at most once: the CLI reads config.json (or the llama2.c header) to check
 * flags against the context length before the loader reads it again.
 */
function cachedFirstRead(source: ModelSource): ModelSource {
  const memo = new Map<string, Uint8Array>();
  return {
    location: source.location,
    // Range reads (the GPU engine's loader) pass through: they hold one tensor, not a file.
    ...(source.open ? { open: (fileName: string) => source.open!(fileName) } : {}),
    async read(fileName, onProgress) {
      const hit = memo.get(fileName);
      if (hit) {
        memo.delete(fileName);
        onProgress?.(hit.byteLength, hit.byteLength, fileName);
        return hit;
      }
      const bytes = await source.read(fileName, onProgress);
      if (fileName === "config.json" || fileName.endsWith(".bin")) memo.set(fileName, bytes);
      return bytes;
    },
  };
}

/**
 * The model's context length in tokens, from config.json or the llama2.c header, without
 * reading the weights of an HF model: flags bounded by it are checked before the big read.
 */
export async function readContextLength(resolved: ResolvedModel): Promise<number> {
  const { source } = resolved;
  if (resolved.llama2c) {
    const bytes = await source.read(resolved.llama2c.checkpoint);
    if (bytes.byteLength < 28) throw new ModelFormatError(fileLabel(source, resolved.llama2c.checkpoint), `truncated: ${bytes.byteLength} bytes, the header alone is 28`);
    return new DataView(bytes.buffer, bytes.byteOffset, 28).getInt32(24, true);
  }
  const label = fileLabel(source, "config.json");
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(await source.read("config.json")));
  } catch (err) {
    if (err instanceof ModelSourceError) throw err;
    throw new ModelFormatError(label, `not valid JSON (${(err as Error).message})`);
  }
  return parseHfConfig(json, label).llama.maxSeqLen;
}

/** Reads a text file named by a flag; a missing file, a directory or a FIFO is a usage error naming the flag. */
export async function readTextFlag(flag: string, file: string, maxBytes = 256 << 20): Promise<string> {
  let s;
  try {
    s = await stat(file);
  } catch (err) {
    throw new CliUsageError(`${flag}: cannot read ${JSON.stringify(file)}: ${(err as { code?: string }).code === "ENOENT" ? "no such file" : (err as Error).message}`);
  }
  if (!s.isFile()) throw new CliUsageError(`${flag}: ${JSON.stringify(file)} is ${s.isDirectory() ? "a directory" : "not a regular file"}, not a text file`);
  if (s.size > maxBytes) throw new CliUsageError(`${flag}: ${JSON.stringify(file)} is ${s.size} bytes, over the ${maxBytes}-byte limit`);
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    throw new CliUsageError(`${flag}: cannot read ${JSON.stringify(file)}: ${(err as Error).message}`);
  }
}

function llama2cNames(url: string): { checkpoint: string; tokenizer: string } | undefined {
  return /stories260K/.test(url) ? { checkpoint: "stories260K.bin", tokenizer: "tok512.bin" } : undefined;
}

/**
 * In a directory without config.json, take the one .bin checkpoint and tokenizer found there.
 * @throws ModelSourceError naming the file that is missing (config.json, the checkpoint or the tokenizer).
 */
async function llama2cNamesIn(dir: string): Promise<{ checkpoint: string; tokenizer: string } | undefined> {
  const files = await readdir(dir);
  if (files.includes("config.json")) return undefined;
  const tokenizer = files.find((f) => /^tok.*\.bin$/.test(f)) ?? (files.includes("tokenizer.bin") ? "tokenizer.bin" : undefined);
  const checkpoint = files.find((f) => f.endsWith(".bin") && f !== tokenizer);
  if (!checkpoint) {
    throw new ModelSourceError(path.join(dir, "config.json"), "not found, and no llama2.c checkpoint (*.bin) either: not a model directory", true);
  }
  if (!tokenizer) throw new ModelSourceError(path.join(dir, "tokenizer.bin"), `not found: the llama2.c checkpoint ${checkpoint} needs its tokenizer (tok*.bin or tokenizer.bin)`, true);
  return { checkpoint, tokenizer };
}
