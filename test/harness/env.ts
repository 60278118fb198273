// What a test needs from the runtime it runs in: which runtime, a GPU device, and the shared
// model/data files. The same bundle runs in Node, Deno and Chromium, so nothing here imports a
// node: module statically.
import { requestGpuDevice, type GpuDeviceHandle } from "../../sdk/device";
import { ModelSourceError } from "../../src/errors";
import { sourceFromReader, type ModelSource } from "../../src/model/source";

export type Runtime = "node" | "deno" | "chromium";

export const runtime: Runtime =
  typeof (globalThis as { Deno?: unknown }).Deno !== "undefined"
    ? "deno"
    : typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === "string"
      ? "node"
      : "chromium";

let gpu: Promise<GpuDeviceHandle> | undefined;

/** One device per test run, shared by every suite (creating devices is slow on CPU adapters). */
export function testGpu(): Promise<GpuDeviceHandle> {
  gpu ??= requestGpuDevice();
  return gpu;
}

/** The shared test device. */
export async function testDevice(): Promise<GPUDevice> {
  return (await testGpu()).device;
}

/** Where ../shared lives: `KVCOMPRESS_SHARED` or `<cwd>/../shared` (Node, Deno); `/shared/` over HTTP (browser). */
export function sharedBase(): string {
  if (runtime === "chromium") return new URL("/shared/", location.href).href;
  const env = runtime === "deno"
    ? (globalThis as unknown as { Deno: { env: { get(k: string): string | undefined }; cwd(): string } }).Deno
    : undefined;
  const fromEnv = env ? env.env.get("KVCOMPRESS_SHARED") : (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.KVCOMPRESS_SHARED;
  const cwd = env ? env.cwd() : (globalThis as unknown as { process: { cwd(): string } }).process.cwd();
  return fromEnv ?? `${cwd}/../shared`;
}

/** Reads a file of ../shared, e.g. `readShared("models/stories260K/stories260K.bin")`. */
export async function readShared(relPath: string): Promise<Uint8Array> {
  if (runtime === "chromium") {
    const res = await fetch(sharedBase() + relPath);
    if (!res.ok) throw new Error(`GET /shared/${relPath}: ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  }
  const fsName = "node:fs/promises"; // Node and Deno both provide it
  const fs = (await import(/* @vite-ignore */ fsName)) as { readFile(p: string): Promise<Uint8Array> };
  return new Uint8Array(await fs.readFile(`${sharedBase()}/${relPath}`));
}

/** Reads a shared text file as UTF-8. */
export async function readSharedText(relPath: string): Promise<string> {
  return new TextDecoder().decode(await readShared(relPath));
}

/** A small seeded PRNG (mulberry32, the one sampling uses) so a failing random test can be replayed from its seed. */
export { createRng as rng } from "../../src/model/sample";

/** A fresh seed per run (tests print it in failure messages). */
export function freshSeed(): number {
  return (Math.random() * 2 ** 32) >>> 0;
}

/** A shared model directory as a ModelSource; a file it lacks reads as "not found". */
export function sharedModelSource(id: string): ModelSource {
  return sourceFromReader(`models/${id}`, (f) => readShared(`models/${id}/${f}`).catch((e: Error) => {
    throw new ModelSourceError(f, e.message, true);
  }));
}
