// wasmMemory.ts — typed-array views onto control.wasm's linear memory, found through the
// header that layoutOffsets() points at (assembly/layout.ts draws the regions). Views are
// re-created whenever memory.buffer changed: a memory.grow detaches the old ArrayBuffer, and
// a view onto it would read as empty.

import { KvCompressError } from "../errors";

/** Header word index of each region's byte offset (R_* in assembly/layout.ts). */
export const Region = {
  blockTables: 8,
  ctxLens: 9,
  seqLens: 10,
  seqBirth: 11,
  freeRing: 12,
  blockOwner: 13,
  passSeqIds: 14,
  passBudgets: 15,
  layerCaps: 16,
  chunkKeys: 17,
  evictBlocks: 18,
  evictCounts: 19,
  evictedOffsets: 20,
  evictedIdx: 21,
  moveOffsets: 22,
  moves: 23,
  freedBlocks: 24,
  seqBlocks: 25,
  preemptIds: 26,
  scratch: 27,
  end: 28,
} as const;
export type RegionName = Exclude<keyof typeof Region, "end">;

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
    return this.offsets[Region[region]];
  }

  /** A view of `length` elements at the start of `region`; cached until memory moves. */
  view<T extends AnyView>(ctor: ViewCtor, region: RegionName, length: number): T {
    this.refresh();
    const key = `${ctor.name}:${region}:${length}`;
    let v = this.cache.get(key);
    if (v === undefined) {
      v = new ctor(this.memory.buffer, this.offsets[Region[region]], length) as AnyView;
      this.cache.set(key, v);
    }
    return v as T;
  }

  private refresh(): void {
    if (this.buffer === this.memory.buffer) return;
    this.buffer = this.memory.buffer;
    this.offsets = new Uint32Array(this.buffer, this.headerPtr, 64);
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
