// wasmMemory.ts — typed-array views onto control.wasm's linear memory, found through the
// header that layoutOffsets() points at (assembly/layout.ts draws the regions; src/contract.ts
// WASM_REGIONS lists them, with each region's header slot). Views are
// re-created whenever memory.buffer changed: a memory.grow detaches the old ArrayBuffer, and
// a view onto it would read as empty.

import { HEADER_WORDS, type RegionName, regionSlot } from "../contract";
import { KvCompressError } from "../errors";

export type { RegionName } from "../contract";

type ViewCtor = Int32ArrayConstructor | Uint32ArrayConstructor | Float32ArrayConstructor;
/** Views over wasm memory are backed by a plain ArrayBuffer (never shared), which is what
 *  GPUQueue.writeBuffer's types ask for. */
export type I32View = Int32Array<ArrayBuffer>;
export type U32View = Uint32Array<ArrayBuffer>;
export type F32View = Float32Array<ArrayBuffer>;
type AnyView = I32View | U32View | F32View;

export class WasmMemoryViews {
  private buffer: ArrayBuffer | null = null;
  private offsets: Uint32Array = new Uint32Array(0);
  private readonly cache = new Map<string, AnyView>();

  constructor(private readonly memory: WebAssembly.Memory, private readonly headerPtr: number) {}

  /** Byte offset of a region (stable for the life of the instance). */
  offsetOf(region: RegionName | "end"): number {
    this.refresh();
    return this.offsets[regionSlot(region)];
  }

  /** A view of `length` elements at the start of `region`; cached until memory moves. */
  view<T extends AnyView>(ctor: ViewCtor, region: RegionName, length: number): T {
    this.refresh();
    const key = `${ctor.name}:${region}:${length}`;
    let v = this.cache.get(key);
    if (v === undefined) {
      v = new ctor(this.memory.buffer, this.offsets[regionSlot(region)], length) as AnyView;
      this.cache.set(key, v);
    }
    return v as T;
  }

  private refresh(): void {
    if (this.buffer === this.memory.buffer) return;
    this.buffer = this.memory.buffer;
    this.offsets = new Uint32Array(this.buffer, this.headerPtr, HEADER_WORDS);
    this.cache.clear();
  }
}

/** The `env.abort` import of the debug build: a failed assertion becomes a named error. */
export function makeAbort(getMemory: () => WebAssembly.Memory | undefined) {
  return (msgPtr: number, filePtr: number, line: number, column: number): never => {
    const memory = getMemory();
    const read = (ptr: number): string => {
      if (memory === undefined || ptr === 0) return "?";
      const byteLength = new Uint32Array(memory.buffer, ptr - 4, 1)[0];
      return String.fromCharCode(...new Uint16Array(memory.buffer, ptr, byteLength >>> 1));
    };
    throw new KvCompressError(`control.wasm assertion failed: ${read(msgPtr)} (${read(filePtr)}:${line}:${column})`);
  };
}
