// Downloads one model file into the CLI's cache so that the cache only ever holds whole,
// verified files: the body streams to a private temporary file, is checked against the hub's
// size (and sha256, which the hub's listing gives for LFS files), and is renamed into place
// under a per-file lock, so two processes fetching one id never see each other's half-written
// files. A silent server trips a stall timeout; a body past the expected size or the cap stops.
// The hub protocol (resolving a file, its size and ETag, the bytes) is @huggingface/hub's
// downloadFile; what this file adds is the cache discipline around it.
import { createHash } from "node:crypto";
import { mkdir, open, rename, rm, stat, utimes, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { downloadFile as hubDownload, HubApiError, listFiles } from "@huggingface/hub";
import { ModelSourceError } from "../../src/errors";
import type { ProgressCallback } from "../../src/model/source";

export interface DownloadLimits {
  /** Abort when no byte arrives for this long (ms). */
  readonly stallMs: number;
  /** Refuse a file larger than this, whatever the server says. */
  readonly maxBytes: number;
}

/** Defaults, overridable with KVCOMPRESS_STALL_MS and KVCOMPRESS_MAX_DOWNLOAD_BYTES. */
export function downloadLimits(env: Record<string, string | undefined>): DownloadLimits {
  const num = (name: string, fallback: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === "") return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new ModelSourceError(name, `must be a positive number, got ${JSON.stringify(raw)}`, false);
    return n;
  };
  // 60 s covers a slow hub redirect; 64 GiB is past every model this package runs in memory.
  return { stallMs: num("KVCOMPRESS_STALL_MS", 60_000), maxBytes: num("KVCOMPRESS_MAX_DOWNLOAD_BYTES", 64 * 2 ** 30) };
}

/**
 * Checks up front that `dir` is (or can become) a writable directory, so an unusable cache is
 * one clear error before any request, never a hang or a stack trace halfway through.
 */
export async function ensureWritableDir(dir: string, what: string): Promise<void> {
  try {
    const s = await stat(dir).catch((err: { code?: string }) => { if (err.code === "ENOENT") return null; throw err; });
    if (s && !s.isDirectory()) throw new Error("exists and is not a directory");
    if (!s) await mkdirEachLevel(dir);
    const probe = path.join(dir, `.probe-${process.pid}-${Math.random().toString(36).slice(2)}`);
    const fh = await open(probe, "wx");
    await fh.close();
    await rm(probe, { force: true });
  } catch (err) {
    throw new ModelSourceError(dir, `${what} is not a usable directory: ${(err as Error).message}`, false);
  }
}

/**
 * `mkdir -p` one level at a time. Node's own recursive mkdir spins forever on a path under
 * /proc (each mkdir there answers ENOENT, which it takes as "make the parent first").
 */
async function mkdirEachLevel(dir: string): Promise<void> {
  const missing: string[] = [];
  let p = path.resolve(dir);
  for (;;) {
    const s = await stat(p).catch(() => null);
    if (s) {
      if (!s.isDirectory()) throw new Error(`${p} is not a directory`);
      break;
    }
    missing.push(p);
    const parent = path.dirname(p);
    if (parent === p) break;
    p = parent;
  }
  for (const m of missing.reverse()) {
    await mkdir(m).catch((err: { code?: string }) => { if (err.code !== "EEXIST") throw err; });
  }
}

/** One file of a hub repository, with what the hub's listing said about it. */
export interface HubFile {
  readonly hubUrl: string;
  readonly repo: string;
  readonly revision: string;
  /** The path in the repository (`stories260K/tok512.bin`). */
  readonly path: string;
  /** From the listing (the LFS size for LFS files); absent when the hub has no tree API. */
  readonly size?: number;
  /** From the listing, for LFS files. */
  readonly sha256?: string;
}

export function hubFileUrl(f: HubFile): string {
  return `${f.hubUrl}/${f.repo}/resolve/${encodeURIComponent(f.revision)}/${f.path}`;
}

/**
 * The files under `folder` of a repository (keys relative to it), with sizes and LFS hashes,
 * through @huggingface/hub's listFiles. `undefined` when the hub has no tree API (a plain mirror).
 */
export async function listHubFolder(hubUrl: string, repo: string, revision: string, folder: string, stallMs: number): Promise<Map<string, HubFile> | undefined> {
  const files = new Map<string, HubFile>();
  const signal = AbortSignal.timeout(stallMs);
  try {
    for await (const e of listFiles({ repo, revision, hubUrl, path: folder || undefined, fetch: (input, init) => fetch(input, { ...init, signal }) })) {
      if (e.type !== "file") continue;
      const name = folder ? e.path.slice(folder.length + 1) : e.path;
      files.set(name, { hubUrl, repo, revision, path: e.path, size: e.lfs?.size ?? e.size, sha256: e.lfs?.oid });
    }
  } catch (err) {
    if (err instanceof HubApiError && (err.statusCode === 401 || err.statusCode === 403)) {
      throw new ModelSourceError(`${hubUrl}/${repo}`, `the hub refused the listing (HTTP ${err.statusCode}): a gated or private repository`, false);
    }
    return undefined;
  }
  return files;
}

/** Waits for the lock on `target`, taking it over when its holder stopped touching it (a crash). */
async function acquireLock(lockPath: string, staleMs: number, signal?: AbortSignal): Promise<FileHandle> {
  for (;;) {
    try {
      return await open(lockPath, "wx");
    } catch (err) {
      if ((err as { code?: string }).code !== "EEXIST") throw err;
    }
    signal?.throwIfAborted();
    const s = await stat(lockPath).catch(() => null);
    if (s && Date.now() - s.mtimeMs > staleMs) await rm(lockPath, { force: true });
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Whether `p` is a regular file (a cached file is only ever renamed into place whole). */
async function isFile(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null))?.isFile() ?? false;
}

/**
 * Downloads `url` to `target` unless it is already there.
 * @throws ModelSourceError naming the URL: HTTP errors (notFound on 404), an HTML page where a
 *   model file was expected, a size or hash mismatch, a stall, a body past the cap.
 */
export async function downloadFile(file: HubFile, target: string, fileName: string, limits: DownloadLimits, onProgress?: ProgressCallback, signal?: AbortSignal): Promise<void> {
  if (await isFile(target)) return;
  const lockPath = target + ".lock";
  const lock = await acquireLock(lockPath, Math.max(4 * limits.stallMs, 10_000), signal);
  try {
    // The other holder may have finished it while we waited.
    if (await isFile(target)) return;
    const tmp = `${target}.${process.pid}-${Math.random().toString(36).slice(2)}.part`;
    try {
      await fetchTo(file, tmp, fileName, limits, () => void utimes(lockPath, new Date(), new Date()).catch(() => {}), onProgress, signal);
      await rename(tmp, target);
    } finally {
      await rm(tmp, { force: true });
    }
  } finally {
    await lock.close();
    await rm(lockPath, { force: true });
  }
}

async function fetchTo(file: HubFile, tmp: string, fileName: string, limits: DownloadLimits, touch: () => void, onProgress?: ProgressCallback, signal?: AbortSignal): Promise<void> {
  const url = hubFileUrl(file);
  if (file.size !== undefined && file.size > limits.maxBytes) {
    throw new ModelSourceError(url, `the hub lists ${file.size} bytes, over the cap of ${limits.maxBytes} bytes (KVCOMPRESS_MAX_DOWNLOAD_BYTES)`, false);
  }
  const stall = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => stall.abort(new Error(`no data for ${limits.stallMs} ms`)), limits.stallMs);
  };
  arm();
  const abortSignal = signal ? AbortSignal.any([stall.signal, signal]) : stall.signal;
  // Every request of the hub client: the stall and the caller's signal, and no HTML page
  // (a login wall, a captive portal, a proxy error answers 200 with one) taken for a model file.
  const guarded = (async (input: string | URL | Request, init?: RequestInit) => {
    const res = await fetch(input, { ...init, signal: abortSignal });
    arm();
    const type = res.headers.get("content-type") ?? "";
    if (res.ok && /text\/html/i.test(type)) {
      await res.body?.cancel().catch(() => {});
      throw new ModelSourceError(url, `the server answered with an HTML page (content-type ${type}), not ${fileName}`, false);
    }
    return res;
  }) as typeof fetch;
  const why = (err: unknown) => (stall.signal.aborted ? (stall.signal.reason as Error).message : err instanceof Error ? err.message : String(err));
  const out = await open(tmp, "wx");
  let loaded = 0;
  try {
    let blob: Blob | null;
    try {
      blob = await hubDownload({ repo: file.repo, path: file.path, revision: file.revision, hubUrl: file.hubUrl, fetch: guarded });
    } catch (err) {
      if (err instanceof ModelSourceError) throw err;
      if (err instanceof HubApiError) throw new ModelSourceError(url, `HTTP ${err.statusCode}`, err.statusCode === 404);
      throw new ModelSourceError(url, `fetch failed: ${why(err)}`, false);
    }
    if (!blob) throw new ModelSourceError(url, "HTTP 404 Not Found", true);
    const expected = file.size ?? blob.size;
    if (expected > limits.maxBytes) throw new ModelSourceError(url, `${expected} bytes, over the cap of ${limits.maxBytes} bytes (KVCOMPRESS_MAX_DOWNLOAD_BYTES)`, false);
    const hash = file.sha256 ? createHash("sha256") : undefined;
    let first = true;
    const reader = blob.stream().getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        arm();
        if (first && value.byteLength > 0) {
          first = false;
          if (fileName.endsWith(".json") && value[0] === 0x3c) throw new ModelSourceError(url, `starts with "<": an HTML page, not ${fileName}`, false);
        }
        loaded += value.byteLength;
        if (loaded > expected) throw new ModelSourceError(url, `the body runs past the ${expected} bytes the hub announced`, false);
        hash?.update(value);
        await out.write(value);
        touch();
        onProgress?.(loaded, expected, fileName);
      }
    } catch (err) {
      await reader.cancel().catch(() => {});
      if (err instanceof ModelSourceError) throw err;
      // The hub client's Blob aborts its stream with the error's message, not the error.
      throw new ModelSourceError(url, `download stopped after ${loaded} bytes: ${why(err)}`, false);
    }
    if (loaded !== expected) throw new ModelSourceError(url, `incomplete: ${loaded} of ${expected} bytes`, false);
    if (hash && file.sha256) {
      const got = hash.digest("hex");
      if (got !== file.sha256) throw new ModelSourceError(url, `sha256 ${got} does not match the hub's ${file.sha256}`, false);
    }
  } finally {
    clearTimeout(timer);
    await out.close();
  }
}
