// Downloads one model file into the CLI's cache so that the cache only ever holds whole,
// verified files (issue 15): the body streams to a private temporary file, is checked against
// the hub's size (and sha256, where the hub sends one for LFS files), and is renamed into place
// under a per-file lock, so two processes fetching one id never see each other's half-written
// files. A silent server trips a stall timeout; a body past the expected size or the cap stops.
import { createHash } from "node:crypto";
import { mkdir, open, rename, rm, stat, utimes, type FileHandle } from "node:fs/promises";
import path from "node:path";
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

interface HubMeta { size?: number; sha256?: string }

/** What the hub says about a file before we fetch it: HF answers a HEAD (before its CDN redirect) with x-linked-size/x-linked-etag for LFS files. */
async function hubMetadata(url: string, stallMs: number, signal?: AbortSignal): Promise<HubMeta> {
  try {
    const res = await fetch(url, { method: "HEAD", redirect: "manual", signal: AbortSignal.any([AbortSignal.timeout(stallMs), ...(signal ? [signal] : [])]) });
    const linkedSize = res.headers.get("x-linked-size");
    const etag = (res.headers.get("x-linked-etag") ?? "").replace(/^W\//, "").replace(/"/g, "");
    const meta: HubMeta = {};
    if (linkedSize !== null && /^\d+$/.test(linkedSize)) meta.size = Number(linkedSize);
    else if (res.status === 200 && !res.headers.get("content-encoding")) {
      const len = res.headers.get("content-length");
      if (len !== null && /^\d+$/.test(len)) meta.size = Number(len);
    }
    if (/^[0-9a-f]{64}$/.test(etag)) meta.sha256 = etag;
    return meta;
  } catch {
    return {}; // a hub without HEAD still works; the GET's own headers are checked below
  }
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
export async function downloadFile(url: string, target: string, fileName: string, limits: DownloadLimits, onProgress?: ProgressCallback, signal?: AbortSignal): Promise<void> {
  if (await isFile(target)) return;
  const lockPath = target + ".lock";
  const lock = await acquireLock(lockPath, Math.max(4 * limits.stallMs, 10_000), signal);
  try {
    // The other holder may have finished it while we waited.
    if (await isFile(target)) return;
    const tmp = `${target}.${process.pid}-${Math.random().toString(36).slice(2)}.part`;
    try {
      await fetchTo(url, tmp, fileName, limits, () => void utimes(lockPath, new Date(), new Date()).catch(() => {}), onProgress, signal);
      await rename(tmp, target);
    } finally {
      await rm(tmp, { force: true });
    }
  } finally {
    await lock.close();
    await rm(lockPath, { force: true });
  }
}

async function fetchTo(url: string, tmp: string, fileName: string, limits: DownloadLimits, touch: () => void, onProgress?: ProgressCallback, signal?: AbortSignal): Promise<void> {
  const meta = await hubMetadata(url, limits.stallMs, signal);
  if (meta.size !== undefined && meta.size > limits.maxBytes) {
    throw new ModelSourceError(url, `the hub lists ${meta.size} bytes, over the cap of ${limits.maxBytes} bytes (KVCOMPRESS_MAX_DOWNLOAD_BYTES)`, false);
  }
  const stall = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => stall.abort(new Error(`no data for ${limits.stallMs} ms`)), limits.stallMs);
  };
  arm();
  const abortSignal = signal ? AbortSignal.any([stall.signal, signal]) : stall.signal;
  const out = await open(tmp, "wx");
  let loaded = 0;
  try {
    let res: Response;
    try {
      res = await fetch(url, { signal: abortSignal });
    } catch (err) {
      throw new ModelSourceError(url, `fetch failed: ${stall.signal.aborted ? (stall.signal.reason as Error).message : (err as Error).message}`, false);
    }
    if (!res.ok) throw new ModelSourceError(url, `HTTP ${res.status} ${res.statusText}`, res.status === 404);
    const type = res.headers.get("content-type") ?? "";
    // A login wall, a captive portal or a proxy error page answers 200 with HTML: never a model file.
    if (/text\/html/i.test(type)) throw new ModelSourceError(url, `the server answered with an HTML page (content-type ${type}), not ${fileName}`, false);
    const lenHeader = res.headers.get("content-length");
    const wireLength = lenHeader !== null && /^\d+$/.test(lenHeader) && !res.headers.get("content-encoding") ? Number(lenHeader) : undefined;
    const expected = meta.size ?? wireLength;
    const cap = Math.min(expected ?? limits.maxBytes, limits.maxBytes);
    if (expected !== undefined && expected > limits.maxBytes) {
      throw new ModelSourceError(url, `${expected} bytes, over the cap of ${limits.maxBytes} bytes (KVCOMPRESS_MAX_DOWNLOAD_BYTES)`, false);
    }
    const hash = meta.sha256 ? createHash("sha256") : undefined;
    let first = true;
    if (res.body === null) throw new ModelSourceError(url, "the response has no body", false);
    const reader = res.body.getReader();
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
        if (loaded > cap) {
          throw new ModelSourceError(url, expected !== undefined && expected <= limits.maxBytes
            ? `the body runs past the ${expected} bytes the server announced`
            : `over the cap of ${limits.maxBytes} bytes (KVCOMPRESS_MAX_DOWNLOAD_BYTES)`, false);
        }
        hash?.update(value);
        await out.write(value);
        touch();
        onProgress?.(loaded, expected ?? 0, fileName);
      }
    } catch (err) {
      await reader.cancel().catch(() => {});
      if (err instanceof ModelSourceError) throw err;
      const why = stall.signal.aborted ? (stall.signal.reason as Error).message : (err as Error).message;
      throw new ModelSourceError(url, `download stopped after ${loaded} bytes: ${why}`, false);
    }
    if (expected !== undefined && loaded !== expected) throw new ModelSourceError(url, `incomplete: ${loaded} of ${expected} bytes`, false);
    if (hash && meta.sha256) {
      const got = hash.digest("hex");
      if (got !== meta.sha256) throw new ModelSourceError(url, `sha256 ${got} does not match the hub's ${meta.sha256}`, false);
    }
  } finally {
    clearTimeout(timer);
    await out.close();
  }
}
