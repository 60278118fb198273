// src/gpu/kernels/appendKv.ts — host wrapper of shaders/append_kv.wgsl (STYLE L3: build once, encode only).

import type { GpuKvPool } from "../pool";
import { BatchRing, batchChunks } from "../dispatch";
import { KERNEL_IO, QUANT_GROUP, isQuantized } from "../../contract";
import { WG } from "../layout";
import { KERNEL_CONSTANTS, KERNEL_FILES, sourcesOf } from "./sources";
import { bindGroupCache, buildKernel, encodeLinear } from "./build";

/** One sequence's new rows; its tokens are rows [tokenStart, tokenStart + numNew) of newKeys/newValues. */
export interface AppendSeq { seqId: number; tokenStart: number; numNew: number; firstPos: number }

export interface AppendKvArgs {
  layer: number;
  seqs: readonly AppendSeq[];
  /** f32 [numTokens, numKvHeads, headSize], keys after RoPE. */
  newKeys: GPUBuffer;
  /** f32 [numTokens, numKvHeads, headSize]. */
  newValues: GPUBuffer;
}

export interface AppendKvKernel {
  /** Records the append into `pass`. ctxLens/blockTables on the GPU must already include the rows. */
  encode(pass: GPUComputePassEncoder, args: AppendKvArgs): void;
  destroy(): void;
}

export async function createAppendKv(device: GPUDevice, pool: GpuKvPool): Promise<AppendKvKernel> {
  const d = pool.dims;
  // q8/q4 quantize per (token, head, group of 32 channels): append_kv_quant.wgsl, same bindings.
  const quant = isQuantized(d.dtype);
  const kernel = quant ? "appendKvQuant" : "appendKv";
  const built = await buildKernel(device, {
    file: quant ? "append_kv_quant.wgsl" : "append_kv.wgsl",
    sources: sourcesOf(KERNEL_FILES[kernel](d.dtype)),
    io: KERNEL_IO[kernel],
    constants: KERNEL_CONSTANTS[kernel](d, pool.blocksPerShard),
  });
  const ring = new BatchRing(device, 256, "append_kv-batch");
  const groupFor = bindGroupCache(device, built);
  const unitsPerHead = quant ? Math.ceil(d.headSize / QUANT_GROUP) : d.headSize / 4;
  // The one-sequence path's reused uniform fields, and the group of the last k/v buffers.
  const one = { layer: 0, numSeqs: 1, tokenBase: 0, numTokens: 0 };
  const oneSeq = [{ seqId: 0, tokenStart: 0, numNew: 0, firstPos: 0 }];
  let last: { k: GPUBuffer; v: GPUBuffer; group: GPUBindGroup } | null = null;
  return {
    encode(pass, args) {
      let group: GPUBindGroup;
      if (last && last.k === args.newKeys && last.v === args.newValues) group = last.group;
      else {
        group = groupFor({ ...pool.poolBuffers(), batch: ring.buffer, newKeys: args.newKeys, newValues: args.newValues });
        last = { k: args.newKeys, v: args.newValues, group };
      }
      if (args.seqs.length === 1) {
        // One sequence (a decode step): the same uniform and grid as below, without the copies.
        const s = args.seqs[0]!;
        one.layer = args.layer; one.tokenBase = s.tokenStart; one.numTokens = s.numNew;
        oneSeq[0]!.seqId = s.seqId; oneSeq[0]!.tokenStart = s.tokenStart; oneSeq[0]!.numNew = s.numNew; oneSeq[0]!.firstPos = s.firstPos;
        const off = ring.write("appendKv", one, oneSeq);
        encodeLinear(pass, built, group, off, Math.ceil((s.numNew * d.numKvHeads * unitsPerHead) / WG.appendKv));
        return;
      }
      for (const part of batchChunks(args.seqs)) {
        const tokenBase = Math.min(...part.map((s) => s.tokenStart));
        const tokenEnd = Math.max(...part.map((s) => s.tokenStart + s.numNew));
        const numTokens = Math.max(0, tokenEnd - tokenBase);
        const off = ring.write("appendKv", { layer: args.layer, numSeqs: part.length, tokenBase, numTokens },
          part.map(({ seqId, tokenStart, numNew, firstPos }) => ({ seqId, tokenStart, numNew, firstPos })));
        encodeLinear(pass, built, group, off, Math.ceil((numTokens * d.numKvHeads * unitsPerHead) / WG.appendKv));
      }
    },
    destroy() { ring.destroy(); },
  };
}
