// config.ts — the sizes control.wasm is built around, validated once (STYLE L8).

import type { PoolGeometry } from "../contract";
import { ConfigError } from "../errors";

/** The pool geometry control.wasm is built around (src/contract.ts PoolGeometry; the wasm needs
 *  neither head size, query heads nor dtype), and the bytes one block occupies on the device
 *  (keys + values + metric + position), for stats. */
export type ControlPlaneConfig = Pick<PoolGeometry, "numLayers" | "numKvHeads" | "blockSize" | "numBlocks" | "maxSeqs" | "maxBlocksPerHead">
  & { bytesPerBlock: number };

const FIELDS = ["numLayers", "numKvHeads", "blockSize", "numBlocks", "maxSeqs", "maxBlocksPerHead", "bytesPerBlock"] as const;

/** Checks every field is a positive integer that fits i32; returns a frozen copy. */
export function validateControlConfig(cfg: ControlPlaneConfig): Readonly<ControlPlaneConfig> {
  for (const field of FIELDS) {
    const v = (cfg as unknown as Record<string, unknown>)[field];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 2 ** 31 - 1) {
      throw new ConfigError(field, `must be a positive integer below 2^31, got ${String(v)}`);
    }
  }
  if (cfg.maxBlocksPerHead * cfg.blockSize > 2 ** 31 - 1) {
    throw new ConfigError("maxBlocksPerHead", `maxBlocksPerHead · blockSize (a head's longest context) must stay below 2^31, got ${cfg.maxBlocksPerHead * cfg.blockSize}`);
  }
  if (cfg.numBlocks * cfg.blockSize > 2 ** 31 - 1) {
    throw new ConfigError("numBlocks", `numBlocks · blockSize must stay below 2^31 (slot ids are i32), got ${cfg.numBlocks * cfg.blockSize}`);
  }
  const copy: ControlPlaneConfig = {
    numLayers: cfg.numLayers, numKvHeads: cfg.numKvHeads, blockSize: cfg.blockSize, numBlocks: cfg.numBlocks,
    maxSeqs: cfg.maxSeqs, maxBlocksPerHead: cfg.maxBlocksPerHead, bytesPerBlock: cfg.bytesPerBlock,
  };
  return Object.freeze(copy);
}
