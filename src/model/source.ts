// Where model files come from. Loaders only ever ask a ModelSource for a file by name, so the
// same loader works on a Node/Deno file system, over HTTP, or on bytes a browser page already
// holds. Nothing here imports `node:` modules statically: the file-system source reaches
// `node:fs/promises` through a dynamic import with a computed specifier, so bundlers leave it
// out of browser builds and it is only evaluated when a path source is actually used.

import { ModelSourceError } from "../errors";

/** Called as bytes arrive. `totalBytes` is 0 when the size is not known in advance. */
export type ProgressCallback = (loadedBytes: number, totalBytes: number, fileName: string) => void;

/** A read-only set of model files addressed by name (`config.json`, `model.safetensors`, ...). */
export interface ModelSource {
  /** A directory, URL or `"memory"`: only used to make messages point at the right place. */
  readonly location: string;
  /**
   * Reads one whole file.
   * @throws ModelSourceError — `notFound` is true when the file does not exist.
   */
  read(fileName: string, onProgress?: ProgressCallback): Promise<Uint8Array>;
  /**
   * Opens one file for reads by byte range, where the source can (a file system). Loaders that
   * keep weights elsewhere (the GPU engine) use it to hold one tensor at a time, not the file.
   * @throws ModelSourceError — `notFound` is true when the file does not exist.
   */
  open?(fileName: string): Promise<RandomAccessFile>;
}

/** A file read by byte range: {@link ModelSource.open}. */
export interface RandomAccessFile {
  readonly byteLength: number;
  /** Exactly `length` bytes from `offset` (a fresh array the caller may keep). */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Reads an optional file (e.g. a sharded checkpoint's index): `null` when it does not exist. */
export async function readOptional(
  source: ModelSource,
  fileName: string,
  onProgress?: ProgressCallback,
): Promise<Uint8Array | null> {
  try {
    return await source.read(fileName, onProgress);
  } catch (err) {
    if (err instanceof ModelSourceError && err.notFound) return null;
    throw err;
  }
}

/** Label for error messages: the file as the user would find it (`dir/model.safetensors`). */
export function fileLabel(source: ModelSource, fileName: string): string {
  if (source.location === "" || source.location === "memory") return fileName;
  return source.location.endsWith("/") ? source.location + fileName : `${source.location}/${fileName}`;
}

/**
 * Files the caller already holds (browsers: from `<input type=file>`, IndexedDB, a fetch of
 * their own). Keys are file names as the loader asks for them.
 */
export function sourceFromFiles(
  files: ReadonlyMap<string, Uint8Array | ArrayBuffer> | Readonly<Record<string, Uint8Array | ArrayBuffer>>,
): ModelSource {
  const fileMap = files instanceof Map ? files : new Map(Object.entries(files));
  return {
    location: "memory",
    async read(fileName, onProgress) {
      const data = fileMap.get(fileName);
      if (data === undefined) throw new ModelSourceError(fileName, "not among the files passed in", true);
      const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
      onProgress?.(bytes.byteLength, bytes.byteLength, fileName);
      return bytes;
    },
  };
}

/** Wraps any async reader (a test harness, a cache layer). Throw ModelSourceError for misses. */
export function sourceFromReader(
  location: string,
  readFile: (fileName: string) => Promise<Uint8Array>,
): ModelSource {
  return {
    location,
    async read(fileName, onProgress) {
      const bytes = await readFile(fileName);
      onProgress?.(bytes.byteLength, bytes.byteLength, fileName);
      return bytes;
    },
  };
}

/**
 * Files under a base URL, fetched with streamed progress. `fetchImpl` defaults to global fetch
 * (Node ≥ 18, Deno, browsers, edge runtimes all have one).
 */
export function sourceFromUrl(baseUrl: string, fetchImpl: typeof fetch = globalThis.fetch): ModelSource {
  const base = baseUrl.endsWith("/") ? baseUrl : baseUrl + "/";
  return {
    location: base.slice(0, -1),
    async read(fileName, onProgress) {
      const url = base + fileName;
      let response: Response;
      try {
        response = await fetchImpl(url);
      } catch (err) {
        throw new ModelSourceError(url, `fetch failed: ${(err as Error).message}`, false);
      }
      if (!response.ok) {
        throw new ModelSourceError(url, `HTTP ${response.status} ${response.statusText}`, response.status === 404);
      }
      // A login wall, captive portal or proxy error answers 200 with a page: never a model file.
      const type = response.headers.get("content-type") ?? "";
      if (/text\/html/i.test(type)) throw new ModelSourceError(url, `the server answered with an HTML page (content-type ${type}), not ${fileName}`, false);
      return readBodyWithProgress(response, url, fileName, onProgress);
    },
  };
}

async function readBodyWithProgress(
  response: Response,
  url: string,
  fileName: string,
  onProgress?: ProgressCallback,
): Promise<Uint8Array> {
  // Content-Length is the encoded size; with compression on the wire it can differ from the
  // body we read, so it only sizes the progress bar and never the result.
  const totalBytes = Number(response.headers.get("content-length") ?? 0) || 0;
  if (response.body === null) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    onProgress?.(bytes.byteLength, bytes.byteLength, fileName);
    return bytes;
  }
  const chunks: Uint8Array[] = [];
  let loadedBytes = 0;
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      loadedBytes += value.byteLength;
      onProgress?.(loadedBytes, totalBytes, fileName);
    }
  } catch (err) {
    throw new ModelSourceError(url, `download interrupted after ${loadedBytes} bytes: ${(err as Error).message}`, false);
  }
  const bytes = new Uint8Array(loadedBytes);
  let offsetBytes = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offsetBytes);
    offsetBytes += chunk.byteLength;
  }
  return bytes;
}

interface FsFileHandle {
  stat(): Promise<{ size: number }>;
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
}
interface FsPromises {
  open(path: string, flags: "r"): Promise<FsFileHandle>;
  stat(path: string): Promise<{ isFile(): boolean; isDirectory(): boolean }>;
}
/** What the lazily imported file system gives a path source: whole reads and range reads. */
interface FsAccess {
  readAll: ReadFileWithProgress;
  open(path: string): Promise<RandomAccessFile>;
}

type ReadFileWithProgress = (path: string, onBytes: (loadedBytes: number, totalBytes: number) => void) => Promise<Uint8Array>;

/** Chunk size for file-system reads: big enough to be fast, small enough for a smooth progress bar. */
const FS_CHUNK_BYTES = 16 << 20;

/**
 * Files in a directory (Node, Deno, Bun), read in chunks with progress. `readFile` may be
 * injected (sandboxes, tests); otherwise `node:fs/promises` is imported lazily on first read.
 */
export function sourceFromPath(
  dir: string,
  readFile?: (path: string) => Promise<Uint8Array>,
): ModelSource {
  const location = dir.endsWith("/") ? dir.slice(0, -1) : dir;
  const injected: ReadFileWithProgress | undefined = readFile && (async (path, onBytes) => {
    const bytes = await readFile(path);
    onBytes(bytes.byteLength, bytes.byteLength);
    return bytes;
  });
  let fs: FsAccess | undefined;
  const wrapErrors = async <T>(path: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      if (err instanceof ModelSourceError) throw err;
      const code = (err as { code?: string }).code;
      throw new ModelSourceError(path, (err as Error).message, code === "ENOENT" || code === "NotFound");
    }
  };
  const source: ModelSource = {
    location,
    async read(fileName, onProgress) {
      const path = `${location}/${fileName}`;
      const readAll = injected ?? (fs ??= await importFs(path)).readAll;
      return wrapErrors(path, () => readAll(path, (loadedBytes, totalBytes) => onProgress?.(loadedBytes, totalBytes, fileName)));
    },
  };
  // An injected reader (sandboxes, tests) reads whole files only.
  if (!injected) {
    source.open = async (fileName) => {
      const path = `${location}/${fileName}`;
      fs ??= await importFs(path);
      return wrapErrors(path, () => fs!.open(path));
    };
  }
  return source;
}

/** Marks a path that exists but is not a regular file, so the message says so and not ENOENT. */
class NotRegularFileError extends Error {}

async function importFs(path: string): Promise<FsAccess> {
  // A computed specifier keeps bundlers from trying to resolve (or polyfill) node:fs for the web.
  const specifier = ["node", "fs/promises"].join(":");
  let fs: FsPromises;
  try {
    fs = (await import(/* @vite-ignore */ specifier)) as FsPromises;
  } catch {
    throw new ModelSourceError(path, "no file system in this runtime; pass a URL or the file bytes instead", false);
  }
  const openRegular = async (p: string): Promise<FsFileHandle> => {
    // Opening a FIFO blocks until a writer appears, and a device never ends: only regular files
    // are model files. (stat follows symlinks, so a linked file is fine.)
    const info = await fs.stat(p);
    if (!info.isFile()) throw new NotRegularFileError(info.isDirectory() ? "is a directory, not a file" : "is not a regular file (a FIFO, socket or device?)");
    return fs.open(p, "r");
  };
  const readInto = async (file: FsFileHandle, bytes: Uint8Array, position: number, onChunk?: (loadedBytes: number) => void) => {
    let loadedBytes = 0;
    while (loadedBytes < bytes.byteLength) {
      const length = Math.min(FS_CHUNK_BYTES, bytes.byteLength - loadedBytes);
      const { bytesRead } = await file.read(bytes, loadedBytes, length, position + loadedBytes);
      if (bytesRead === 0) throw new Error(`file shrank while reading: ${position + loadedBytes} bytes were there, ${position + bytes.byteLength} expected`);
      loadedBytes += bytesRead;
      onChunk?.(loadedBytes);
    }
  };
  return {
    async readAll(p, onBytes) {
      const file = await openRegular(p);
      try {
        const totalBytes = (await file.stat()).size;
        const bytes = new Uint8Array(totalBytes); // a plain Uint8Array, never a Node Buffer
        await readInto(file, bytes, 0, (loadedBytes) => onBytes(loadedBytes, totalBytes));
        if (totalBytes === 0) onBytes(0, 0);
        return bytes;
      } finally {
        await file.close();
      }
    },
    async open(p) {
      const file = await openRegular(p);
      const byteLength = (await file.stat()).size;
      return {
        byteLength,
        async read(offset, length) {
          if (!(offset >= 0 && length >= 0 && offset + length <= byteLength)) {
            throw new ModelSourceError(p, `read of bytes ${offset}..${offset + length} is outside the file (${byteLength} bytes)`, false);
          }
          const bytes = new Uint8Array(length);
          try {
            await readInto(file, bytes, offset);
          } catch (err) {
            throw new ModelSourceError(p, (err as Error).message, false);
          }
          return bytes;
        },
        close: () => file.close(),
      };
    },
  };
}
