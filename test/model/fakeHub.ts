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
  /** Answer this file with a 200 HTML login page. */
  html?: string;
  /** No tree API (a plain mirror): the listing answers 404. */
  noApi?: boolean;
  /** Body pieces per file, so progress has steps inside a file (default 4). */
  pieces?: number;
}

export interface HubRequest { method: string; path: string; range: string | null }

export interface FakeHub {
  handle(req: Request): Promise<Response>;
  /** As `fetch`: `(input, init) => handle(new Request(input, init))`. */
  fetch: typeof fetch;
  requests: HubRequest[];
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
    if (url.pathname === treePrefix || url.pathname === `${treePrefix}/`) {
      if (opts.noApi) return new Response("not found", { status: 404 });
      const entries = [];
      for (const [path, b] of files) {
        const oid = await hashOf(path);
        entries.push(b.byteLength >= LFS_MIN_BYTES
          ? { type: "file", path, size: 134, oid: oid.slice(0, 40), lfs: { oid, size: b.byteLength, pointerSize: 134 } }
          : { type: "file", path, size: b.byteLength, oid: oid.slice(0, 40) });
      }
      return json(entries);
    }
    const prefix = `/${repo}/resolve/${revision}/`;
    if (!url.pathname.startsWith(prefix)) return notFound();
    const name = decodeURIComponent(url.pathname.slice(prefix.length));
    const bytes = files.get(name);
    if (!bytes) return notFound();
    if (opts.html === name) {
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
    return new Response(new ReadableStream({
      start(c) {
        for (let i = 0; i < body.byteLength; i += piece) c.enqueue(body.slice(i, i + piece));
        c.close();
      },
    }), { status, headers });
  }

  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    init?.signal?.throwIfAborted();
    return handle(new Request(input, init));
  }) as typeof fetch;
  const fileGets = () => requests.filter((r) => r.method === "GET" && r.path.includes("/resolve/") && r.range !== "bytes=0-0").map((r) => r.path);
  return { handle, fetch: fetchImpl, requests, fileGets };
}

/** `hub` on http://127.0.0.1:<port> (Node and Deno); `close` ends it. */
export async function serveHub(hub: FakeHub): Promise<{ url: string; close(): void }> {
  const http = (await import("node:http" as string)) as typeof import("node:http");
  const server = http.createServer(async (req, res) => {
    const response = await hub.handle(new Request(`http://127.0.0.1${req.url}`, { method: req.method, headers: req.headers as Record<string, string> }));
    response.headers.forEach((value, key) => res.setHeader(key, value));
    res.writeHead(response.status);
    if (!response.body) { res.end(); return; }
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) res.write(chunk);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close() { server.closeAllConnections(); server.close(); },
  };
}
