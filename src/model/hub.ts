// `loadModel` as users of transformers.js or huggingface_hub expect it: a hub id, a URL, a
// directory or a ModelSource in; one overall progress figure, an AbortSignal, and a browser
// cache (Cache Storage) so a second visit does not download again. Offline stays first-class:
// a ModelSource over bytes or a directory never touches the network.
//
// The hub protocol is @huggingface/hub's: `listFiles` (the repo's files and sizes at a revision)
// and `downloadFile` (resolve, then the bytes). Its Node build imports fs/path/os, so browser,
// Deno and workerd bundles take its browser build instead (scripts/esbuild-plugins.mjs).
//
// Why Cache Storage and not OPFS: both count against the same per-origin quota, so neither
// holds more. Cache Storage is keyed by URL (a revision is part of it), takes a Response whole,
// works in pages and workers alike, and the browser evicts or the user clears it as one unit.
// OPFS's advantage, synchronous random-access reads in a worker, buys nothing here: the loader
// needs each file as one Uint8Array. A custom `cache` (an OPFS one included) plugs in through
// ModelFileCache.
import { downloadFile, HubApiError, listFiles } from "@huggingface/hub";
import { InvalidArgumentError, ModelSourceError } from "../errors";
import { loadModel as loadFromSource, type LoadModelOptions } from "./index";
import { sourceFromPath, sourceFromUrl, type ModelSource } from "./source";
import type { LoadedModel } from "./types";

/** One figure for the whole load: bytes of every file the model needs. */
export interface LoadProgress {
  readonly loadedBytes: number;
  /** 0 while the sizes are not known yet. */
  readonly totalBytes: number;
  /** loadedBytes / totalBytes in [0, 1]; 0 while the total is unknown. */
  readonly fraction: number;
  /** The file being read now. */
  readonly file: string;
}

/** Where downloaded files are kept: the page's Cache Storage, a cache of your own, or none. */
export interface ModelFileCache {
  match(url: string): Promise<Response | undefined>;
  put(url: string, response: Response): Promise<void>;
}

/** Where to find a model and how to fetch it: everything but what the loader itself takes. */
export interface OpenModelOptions {
  /** One overall figure for the whole load. */
  progress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
  /** "auto" (default): Cache Storage in browsers (pages and workers); false: never cache. */
  cache?: "auto" | false | ModelFileCache;
  /** Hub base URL (default https://huggingface.co); a mirror or a test server. */
  hubUrl?: string;
  /** Branch, tag or commit (default "main"). */
  revision?: string;
  /** A Hugging Face token, for gated or private repositories. */
  accessToken?: string;
  fetch?: typeof fetch;
}

export interface LoadModelFromOptions extends LoadModelOptions, OpenModelOptions {
  /** One overall figure for the whole load (`onProgress`, still accepted, reports per file). */
  progress?: (p: LoadProgress) => void;
}

const HUB_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;
const CACHE_NAME = "kvcompress-models-v1";

/**
 * Loads a model from a hub id (`"org/name"`), a URL, a directory (Node, Deno) or a ModelSource.
 * A hub id that names a local directory loads from it, with no request.
 * @throws ModelSourceError (a missing file, an HTTP error), ModelFormatError, UnsupportedModelError;
 *   the signal's reason (an AbortError by default) when aborted.
 * @example
 * const { model, tokenizer } = await loadModel("raincandy-u/TinyStories-656K", {
 *   progress: (p) => console.log(`${(100 * p.fraction).toFixed(0)}%`), signal: AbortSignal.timeout(60_000),
 * });
 */
export async function loadModel(spec: string | ModelSource, options: LoadModelFromOptions = {}): Promise<LoadedModel> {
  const { onProgress, llama2c } = options;
  return loadFromSource(await openModel(spec, options), { onProgress, llama2c });
}

/**
 * The ModelSource behind `spec` (a hub id, a URL, a directory or a ModelSource) with the hub
 * protocol, the browser cache, the signal and one overall progress figure wrapped in: what
 * `loadModel` reads from, and what `loadEngine` takes to run a hub model.
 * @throws ModelSourceError when the hub refuses the listing (a gated repo without accessToken).
 * @example
 * const engine = await loadEngine(await openModel("raincandy-u/TinyStories-656K", { progress: (p) => show(p.fraction) }));
 */
export async function openModel(spec: string | ModelSource, options: OpenModelOptions = {}): Promise<ModelSource> {
  const { progress, signal, cache = "auto", hubUrl = "https://huggingface.co", revision = "main", accessToken, fetch: fetchImpl = globalThis.fetch } = options;
  signal?.throwIfAborted();
  let source: ModelSource;
  let listing: RepoListing | undefined;
  if (typeof spec !== "string") source = spec;
  else if (/^https?:\/\//.test(spec)) source = sourceFromUrl(spec, (input, init) => fetchImpl(input, { ...init, signal }));
  else if (HUB_ID_RE.test(spec) && !(await isLocalDir(spec))) {
    const repo: HubRepo = { name: spec, revision, hubUrl: hubUrl.replace(/\/$/, ""), accessToken, fetch: guardedFetch(fetchImpl, signal) };
    listing = await listRepo(repo, signal);
    source = hubSource(repo, listing, await openCache(cache), signal);
  } else source = sourceFromPath(spec);
  return withProgress(withSignal(source, signal), progress && overallProgress(progress, listing && plannedFiles(listing.sizes)));
}

/** Options of {@link sourceFromHub}: where the hub is, which revision, the file cache, a token. */
export interface HubSourceOptions {
  /** "auto" (default): Cache Storage in browsers (pages and workers); false: never cache. */
  cache?: "auto" | false | ModelFileCache;
  /** Hub base URL (default https://huggingface.co); a mirror or a test server. */
  hubUrl?: string;
  /** Branch, tag or commit (default "main"). */
  revision?: string;
  /** A Hugging Face token, for gated or private repositories. */
  accessToken?: string;
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

/**
 * The files of a hub repository as a ModelSource, made synchronously: the listing and the cache
 * open on the first read. The same requests and cache as {@link openModel} with a hub id (a
 * second visit reads Cache Storage, not the network); `openModel` adds one overall progress figure.
 * @throws InvalidArgumentError when `id` is not "org/name".
 * @example
 * const engine = await loadEngine(sourceFromHub("HuggingFaceTB/SmolLM2-135M"), { onProgress: (l, t, f) => console.log(f, l, t) });
 */
export function sourceFromHub(id: string, options: HubSourceOptions = {}): ModelSource {
  if (!HUB_ID_RE.test(id)) throw new InvalidArgumentError("id", id, 'a hub id "org/name"');
  const { cache = "auto", hubUrl = "https://huggingface.co", revision = "main", accessToken, fetch: fetchImpl = globalThis.fetch, signal } = options;
  const repo: HubRepo = { name: id, revision, hubUrl: hubUrl.replace(/\/$/, ""), accessToken, fetch: guardedFetch(fetchImpl, signal) };
  let opened: Promise<ModelSource> | undefined;
  const open = async () => withSignal(hubSource(repo, await listRepo(repo, signal), await openCache(cache), signal), signal);
  return {
    location: `${repo.hubUrl}/${id}/resolve/${encodeURIComponent(revision)}`,
    read: async (fileName, onProgress) => (await (opened ??= open())).read(fileName, onProgress),
  };
}

/** Feeds every read's per-file progress to `overall` as well as to the reader's own callback. */
function withProgress(source: ModelSource, overall?: (loaded: number, total: number, file: string) => void): ModelSource {
  if (!overall) return source;
  return {
    location: source.location,
    read: (fileName, onProgress) => source.read(fileName, (l, t, f) => { overall(l, t, f); onProgress?.(l, t, f); }),
  };
}

/** One repository at one revision, as @huggingface/hub's calls take it. */
interface HubRepo {
  readonly name: string;
  readonly revision: string;
  readonly hubUrl: string;
  readonly accessToken?: string;
  readonly fetch: typeof fetch;
}

/**
 * The files the loaders will read, from the listing, so the overall total is right from the
 * first byte: config and tokenizer files, then the one weight file or the index and its shards
 * (every root `.safetensors` file), or a llama2.c checkpoint's `.bin` files.
 */
function plannedFiles(sizes: Map<string, number>): Map<string, number> {
  const names = [...sizes.keys()].filter((f) => !f.includes("/"));
  let planned: string[];
  if (!sizes.has("config.json")) planned = names.filter((f) => f.endsWith(".bin"));
  else {
    planned = ["config.json", "tokenizer.json", "tokenizer_config.json"];
    if (sizes.has("model.safetensors")) planned.push("model.safetensors");
    else planned.push("model.safetensors.index.json", ...names.filter((f) => f.endsWith(".safetensors")));
  }
  return new Map(planned.filter((f) => sizes.has(f)).map((f) => [f, sizes.get(f)!]));
}

/** Aggregates per-file progress into one figure; sizes from the hub listing when it gave them. */
function overallProgress(report: (p: LoadProgress) => void, planned?: Map<string, number>): (loaded: number, total: number, file: string) => void {
  const loadedByFile = new Map<string, number>();
  const totalByFile = new Map<string, number>();
  const plannedBytes = planned ? [...planned.values()].reduce((a, b) => a + b, 0) : 0;
  return (loaded, total, file) => {
    loadedByFile.set(file, loaded);
    if (total > 0) totalByFile.set(file, total);
    const loadedBytes = [...loadedByFile.values()].reduce((a, b) => a + b, 0);
    // Without a listing, the total grows as each file announces its size.
    let totalBytes = planned ? plannedBytes : [...totalByFile.values()].reduce((a, b) => a + b, 0);
    totalBytes = Math.max(totalBytes, loadedBytes);
    report({ loadedBytes, totalBytes, fraction: totalBytes > 0 ? loadedBytes / totalBytes : 0, file });
  };
}

/** What the hub's listing says: each root file's size (LFS files: the real size, not the
 *  pointer's) and, for LFS files, the sha256 of the content. */
interface RepoListing {
  readonly sizes: Map<string, number>;
  readonly sha256: Map<string, string>;
}

async function listRepo(repo: HubRepo, signal?: AbortSignal): Promise<RepoListing | undefined> {
  try {
    const listing: RepoListing = { sizes: new Map(), sha256: new Map() };
    for await (const e of listFiles({ repo: repo.name, revision: repo.revision, hubUrl: repo.hubUrl, accessToken: repo.accessToken, fetch: repo.fetch })) {
      if (e.type !== "file") continue;
      listing.sizes.set(e.path, e.lfs?.size ?? e.size);
      if (e.lfs?.oid && /^[0-9a-f]{64}$/.test(e.lfs.oid)) listing.sha256.set(e.path, e.lfs.oid);
    }
    return listing;
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    if (err instanceof ModelSourceError) throw err;
    if (err instanceof HubApiError && (err.statusCode === 401 || err.statusCode === 403)) {
      throw new ModelSourceError(`${repo.hubUrl}/${repo.name}`, `the hub refused the listing (HTTP ${err.statusCode}): a gated or private repository needs accessToken`, false);
    }
    return undefined; // a mirror without the API still loads, with a growing total
  }
}

/**
 * `fetch` for @huggingface/hub's calls: the caller's signal on every request, and an HTML answer
 * (a login wall, a captive portal) refused as a ModelSourceError before anyone parses it.
 */
function guardedFetch(fetchImpl: typeof fetch, signal?: AbortSignal): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const res = await fetchImpl(input, { ...init, signal });
    const type = res.headers.get("content-type") ?? "";
    if (/text\/html/i.test(type) && res.ok) {
      await res.body?.cancel().catch(() => {});
      const url = String(input instanceof Request ? input.url : input);
      throw new ModelSourceError(url, `the server answered with an HTML page (content-type ${type}), not ${url.split("/").pop()}`, false);
    }
    return res;
  }) as typeof fetch;
}

/** Files of one hub repository; whole, verified answers are kept in `cache`. */
function hubSource(repo: HubRepo, listing: RepoListing | undefined, cache: ModelFileCache | undefined, signal?: AbortSignal): ModelSource {
  const sizes = listing?.sizes;
  const base = `${repo.hubUrl}/${repo.name}/resolve/${encodeURIComponent(repo.revision)}/`;
  return {
    location: base.slice(0, -1),
    async read(fileName, onProgress) {
      const url = base + fileName;
      // The listing answers "is it there" for optional files without a request.
      if (sizes && !sizes.has(fileName)) throw new ModelSourceError(url, `not in ${repo.name} at ${repo.revision}`, true);
      const hit = await cache?.match(url).catch(() => undefined);
      if (hit) {
        const bytes = new Uint8Array(await hit.arrayBuffer());
        onProgress?.(bytes.byteLength, bytes.byteLength, fileName);
        return bytes;
      }
      const bytes = await downloadBytes(repo, fileName, url, onProgress, signal);
      if (sizes && bytes.byteLength !== sizes.get(fileName)) throw new ModelSourceError(url, `incomplete: ${bytes.byteLength} of ${sizes.get(fileName)} bytes`, false);
      // Only what the loader will accept is worth keeping: an HTML error page never is.
      if (fileName.endsWith(".json") && bytes[0] === 0x3c) throw new ModelSourceError(url, `starts with "<": an HTML page, not ${fileName}`, false);
      const want = listing?.sha256.get(fileName);
      const got = want && await sha256Hex(bytes);
      if (got && got !== want) throw new ModelSourceError(url, `sha256 ${got} does not match the hub's ${want}`, false);
      // new Response copies the bytes (a BufferSource body is copied when the Response is made);
      // a full quota rejects the put, and the load goes on without the cache.
      await cache?.put(url, new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { "content-length": String(bytes.byteLength) } })).catch(() => {});
      return bytes;
    },
  };
}

/** One file through @huggingface/hub's downloadFile, streamed with progress. */
async function downloadBytes(repo: HubRepo, fileName: string, url: string, onProgress: ((l: number, t: number, f: string) => void) | undefined, signal?: AbortSignal): Promise<Uint8Array> {
  let blob: Blob | null;
  try {
    blob = await downloadFile({ repo: repo.name, path: fileName, revision: repo.revision, hubUrl: repo.hubUrl, accessToken: repo.accessToken, fetch: repo.fetch });
  } catch (err) {
    throw hubError(err, url, signal);
  }
  if (!blob) throw new ModelSourceError(url, "not found", true);
  const totalBytes = blob.size;
  const bytes = new Uint8Array(totalBytes);
  let loadedBytes = 0;
  const reader = blob.stream().getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (loadedBytes + value.byteLength > totalBytes) throw new ModelSourceError(url, `the body runs past the ${totalBytes} bytes the hub announced`, false);
      bytes.set(value, loadedBytes);
      loadedBytes += value.byteLength;
      onProgress?.(loadedBytes, totalBytes, fileName);
    }
  } catch (err) {
    await reader.cancel().catch(() => {});
    if (signal?.aborted) throw signal.reason;
    if (err instanceof ModelSourceError) throw err;
    // The hub's Blob aborts its stream with a message string, not the error.
    throw new ModelSourceError(url, `download stopped after ${loadedBytes} bytes: ${err instanceof Error ? err.message : String(err)}`, false);
  }
  if (loadedBytes !== totalBytes) throw new ModelSourceError(url, `incomplete: ${loadedBytes} of ${totalBytes} bytes`, false);
  if (totalBytes === 0) onProgress?.(0, 0, fileName);
  return bytes;
}

/** Hex SHA-256 through Web Crypto (every runtime here has it); undefined where it is missing. */
async function sha256Hex(bytes: Uint8Array): Promise<string | undefined> {
  const subtle = (globalThis as { crypto?: Crypto }).crypto?.subtle;
  if (!subtle) return undefined; // an http:// page that is not localhost has no Web Crypto
  const digest = new Uint8Array(await subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function hubError(err: unknown, url: string, signal?: AbortSignal): unknown {
  if (signal?.aborted) return signal.reason;
  if (err instanceof ModelSourceError) return err;
  if (err instanceof HubApiError) return new ModelSourceError(url, `HTTP ${err.statusCode}`, err.statusCode === 404);
  return new ModelSourceError(url, `fetch failed: ${(err as Error).message}`, false);
}

async function openCache(cache: "auto" | false | ModelFileCache): Promise<ModelFileCache | undefined> {
  if (cache === false) return undefined;
  if (cache !== "auto") return cache;
  const g = globalThis as { caches?: CacheStorage; Deno?: unknown; navigator?: { userAgent?: string } };
  // Browsers, in pages and workers. Node has none; Deno's is a disk cache of its own and the
  // CLI keeps models on disk anyway; a Worker's Cache API is per data centre with small limits.
  if (!g.caches || g.Deno !== undefined || g.navigator?.userAgent === "Cloudflare-Workers") return undefined;
  const storage = g.caches;
  try {
    const c = await storage.open(CACHE_NAME);
    return { match: (url) => c.match(url), put: (url, res) => c.put(url, res) };
  } catch {
    return undefined; // opaque origins and private modes refuse Cache Storage: load without it
  }
}

function withSignal(source: ModelSource, signal?: AbortSignal): ModelSource {
  if (!signal) return source;
  return {
    location: source.location,
    async read(fileName, onProgress) {
      signal.throwIfAborted();
      const bytes = await source.read(fileName, (l, t, f) => {
        signal.throwIfAborted();
        onProgress?.(l, t, f);
      }).catch((err: unknown) => { throw signal.aborted ? signal.reason : err; });
      signal.throwIfAborted();
      return bytes;
    },
  };
}

async function isLocalDir(p: string): Promise<boolean> {
  // Only where a file system can be: a browser would log a failed load of "node:fs/promises".
  const g = globalThis as { Deno?: unknown; process?: { versions?: { node?: string } } };
  if (g.Deno === undefined && g.process?.versions?.node === undefined) return false;
  const specifier = ["node", "fs/promises"].join(":");
  try {
    const fs = (await import(/* @vite-ignore */ specifier)) as { stat(p: string): Promise<{ isDirectory(): boolean }> };
    return (await fs.stat(p)).isDirectory();
  } catch {
    return false;
  }
}
