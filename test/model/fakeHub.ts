// A Hugging Face hub in a function, speaking what @huggingface/hub asks for: the tree API
// (`/api/models/<repo>/tree/<revision>`), `resolve` with HEAD and single Range requests (206 +
// Content-Range), ETag / X-Linked-Size / X-Linked-Etag, and 404 + `X-Error-Code: EntryNotFound`
// for a missing file. `handle` takes and gives standard Request/Response, so a test injects it
// as `fetch` in every runtime, and `serveHub` puts it on 127.0.0.1 for subprocesses (Node, Deno).

export interface FakeHubOptions {
  /** `org/name` (default `org/tiny`). */
  repo?: string;
  /** The only revision served (default `main`). */
  revision?: string;
  /** Answer this file (`*`: every file) with a 200 HTML login page. Read live: a test may fix it. */
  html?: string;
  /** Rewrites what the listing says about a file (a hub whose metadata lies). */
  listing?: (entry: ListedFile) => ListedFile;
  /** Whole-file bodies: wait this long between pieces (so two clients overlap). */
  pieceDelayMs?: number;
  /** Whole-file bodies: send this many bytes, then nothing, the connection left open. */
  stallAfterBytes?: number;
  /** No tree API (a plain mirror): the listing answers 404. */
  noApi?: boolean;
  /** Body pieces per file, so progress has steps inside a file (default 4). */
  pieces?: number;
}

export interface ListedFile { type: "file"; path: string; size: number; oid: string; lfs?: { oid: string; size: number; pointerSize: number } }

export interface HubRequest { method: string; path: string; range: string | null }

export interface FakeHub {
  handle(req: Request): Promise<Response>;
  /** As `fetch`: `(input, init) => handle(new Request(input, init))`. */
  fetch: typeof fetch;
  requests: HubRequest[];
  /** The options, live: a test may change `html` between runs. */
  options: FakeHubOptions;
  /** Paths of the GETs of file bytes (`resolve`), without the probes of one byte. */
  fileGets(): string[];
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes.slice()));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Files over this many bytes are listed as LFS files (as the hub does for weights). */
const LFS_MIN_BYTES = 1024;

export function fakeHub(files: ReadonlyMap<string, Uint8Array>, opts: FakeHubOptions = {}): FakeHub {
  const repo = opts.repo ?? "org/tiny";
  const revision = opts.revision ?? "main";
  const pieces = opts.pieces ?? 4;
  const requests: HubRequest[] = [];
  const hashes = new Map<string, Promise<string>>();
  const hashOf = (name: string) => {
    if (!hashes.has(name)) hashes.set(name, sha256Hex(files.get(name)!));
    return hashes.get(name)!;
  };
  const json = (value: unknown) => new Response(JSON.stringify(value), { headers: { "content-type": "application/json" } });
  const notFound = () => new Response(JSON.stringify({ error: "Entry not found" }), { status: 404, headers: { "content-type": "application/json", "x-error-code": "EntryNotFound" } });

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const range = req.headers.get("range");
    requests.push({ method: req.method, path: url.pathname, range });
    const treePrefix = `/api/models/${repo}/tree/${revision}`;
    if (url.pathname === treePrefix || url.pathname.startsWith(`${treePrefix}/`)) {
      if (opts.noApi) return new Response("not found", { status: 404 });
      // One folder, not recursive, paths from the repo root: as the hub answers.
      const folder = url.pathname.slice(treePrefix.length + 1).replace(/\/$/, "");
      const entries: ListedFile[] = [];
      for (const [path, b] of files) {
        const rest = folder ? (path.startsWith(`${folder}/`) ? path.slice(folder.length + 1) : null) : path;
        if (rest === null || rest.includes("/")) continue;
        const oid = await hashOf(path);
        const entry: ListedFile = b.byteLength >= LFS_MIN_BYTES
          ? { type: "file", path, size: 134, oid: oid.slice(0, 40), lfs: { oid, size: b.byteLength, pointerSize: 134 } }
          : { type: "file", path, size: b.byteLength, oid: oid.slice(0, 40) };
        entries.push(opts.listing ? opts.listing(entry) : entry);
      }
      return json(entries);
    }
    const prefix = `/${repo}/resolve/${revision}/`;
    if (!url.pathname.startsWith(prefix)) return notFound();
    const name = decodeURIComponent(url.pathname.slice(prefix.length));
    const bytes = files.get(name);
    if (!bytes) return notFound();
    if (opts.html === name || opts.html === "*") {
      return new Response(req.method === "HEAD" ? null : "<!DOCTYPE html><html><body>Please log in</body></html>", { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    const etag = `"${await hashOf(name)}"`;
    const headers: Record<string, string> = { "content-type": "application/octet-stream", "accept-ranges": "bytes", etag };
    if (bytes.byteLength >= LFS_MIN_BYTES) Object.assign(headers, { "x-linked-size": String(bytes.byteLength), "x-linked-etag": etag });
    let body = bytes;
    let status = 200;
    const m = range && /^bytes=(\d+)-(\d*)$/.exec(range);
    if (range && !m) return new Response("bad range", { status: 416 });
    if (m) {
      const start = Number(m[1]);
      const end = Math.min(m[2] === "" ? bytes.byteLength - 1 : Number(m[2]), bytes.byteLength - 1);
      if (start > end) return new Response(null, { status: 416, headers: { "content-range": `bytes */${bytes.byteLength}` } });
      body = bytes.subarray(start, end + 1);
      status = 206;
      headers["content-range"] = `bytes ${start}-${end}/${bytes.byteLength}`;
    }
    headers["content-length"] = String(body.byteLength);
    if (req.method === "HEAD") return new Response(null, { status, headers });
    const piece = Math.max(1, Math.ceil(body.byteLength / pieces));
    const whole = status === 200;
    const stallAt = whole ? opts.stallAfterBytes : undefined;
    const delayMs = whole ? opts.pieceDelayMs ?? 0 : 0;
    return new Response(new ReadableStream({
      async start(c) {
        for (let i = 0; i < body.byteLength; i += piece) {
          if (stallAt !== undefined && i + piece > stallAt) {
            c.enqueue(body.slice(i, stallAt));
            return; // never closed: a silent server
          }
          c.enqueue(body.slice(i, i + piece));
          if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
        }
        c.close();
      },
    }), { status, headers });
  }

  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    init?.signal?.throwIfAborted();
    return handle(new Request(input, init));
  }) as typeof fetch;
  const fileGets = () => requests.filter((r) => r.method === "GET" && r.path.includes("/resolve/") && r.range !== "bytes=0-0").map((r) => r.path);
  return { handle, fetch: fetchImpl, requests, fileGets, options: opts };
}

/** `hub` on http://127.0.0.1:<port> (Node and Deno); `close` ends it. */
export async function serveHub(hub: FakeHub): Promise<{ url: string; close(): void }> {
  const http = (await import("node:http" as string)) as typeof import("node:http");
  const server = http.createServer(async (req, res) => {
    const response = await hub.handle(new Request(`http://127.0.0.1${req.url}`, { method: req.method, headers: req.headers as Record<string, string> }));
    response.headers.forEach((value, key) => res.setHeader(key, value));
    res.writeHead(response.status);
    if (!response.body) { res.end(); return; }
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      res.write(value);
    }
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close() { server.closeAllConnections(); server.close(); },
  };
}
