// The cache config: validated once, filled with defaults, frozen (STYLE L8). Every bad field
// throws a ConfigError naming the field, the value and the bound.
import { ConfigError } from "./errors";
import { kvBlockBytes } from "./contract";
import { definePolicy, type PolicyConfig, type PolicyInput } from "./policies";

/** How K/V are stored: f32, f16 packed two to a u32 (`pack2x16float`; arithmetic stays f32), or
 *  8-/4-bit codes with per-token group scales inside the block (docs/QUANTIZATION.md). */
export type KvStorage = "f32" | "f16" | "q8" | "q4";
const STORAGES: readonly KvStorage[] = ["f32", "f16", "q8", "q4"];

/** What the caller writes; see {@link KvCacheConfig} for each field's meaning and default. */
export interface KvCacheConfigInput {
  numLayers: number;
  numQHeads: number;
  numKvHeads: number;
  headSize: number;
  /** @default 16 */
  blockSize?: number;
  /** @default "f16" */
  storage?: KvStorage;
  /** Pool size: exactly one of capacityBytes / capacityBlocks / capacityTokens. */
  capacityBytes?: number;
  capacityBlocks?: number;
  /** Tokens per (layer, KV head) the pool could hold for ONE sequence, uncompressed. */
  capacityTokens?: number;
  /** @default 8 */
  maxSeqs?: number;
  /** Longest sequence (positions); sizes the block tables. @default 4096 */
  maxContextTokens?: number;
  /** The eviction policy. @default { name: "full" } */
  policy?: PolicyInput;
}

/** The validated, frozen config. */
export interface KvCacheConfig {
  readonly numLayers: number;
  readonly numQHeads: number;
  readonly numKvHeads: number;
  /** numQHeads / numKvHeads (GQA group size r). */
  readonly groupSize: number;
  readonly headSize: number;
  readonly blockSize: number;
  readonly storage: KvStorage;
  readonly numBlocks: number;
  readonly maxSeqs: number;
  readonly maxContextTokens: number;
  /** ceil(maxContextTokens / blockSize): length of one block-table row. */
  readonly maxBlocksPerHead: number;
  readonly policy: PolicyConfig;
}

/** Bytes of one block: keys and values of `blockSize` slots, q8/q4 scales included (metric and
 *  position not counted). */
export const blockBytes = (c: Pick<KvCacheConfig, "blockSize" | "headSize" | "storage">): number =>
  kvBlockBytes(c.blockSize, c.headSize, c.storage);

/** Bytes per block including the per-slot metric (f32) and position (u32). */
export const blockBytesWithMeta = (c: Pick<KvCacheConfig, "blockSize" | "headSize" | "storage">): number =>
  blockBytes(c) + 8 * c.blockSize;

/** Bytes `numTokens` tokens of one sequence take with every (layer, KV head) uncompressed. */
export const uncompressedBytes = (c: KvCacheConfig, numTokens: number): number =>
  Math.ceil(numTokens / c.blockSize) * c.numLayers * c.numKvHeads * blockBytes(c);

const SUPPORTED_BLOCK_SIZES = [8, 16, 32];

function int(field: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isInteger(value)) throw new ConfigError(field, `must be an integer, got ${String(value)}`);
  if (value < min || value > max) throw new ConfigError(field, `must be in [${min}, ${max}], got ${value}`);
  return value;
}

/**
 * Validates a config, fills defaults and freezes it (createKvCache calls it for you).
 * @param input - model shape, block size, storage, capacity (bytes, blocks or tokens), maxSeqs,
 *   maxContextTokens and policy.
 * @throws {ConfigError} naming the first bad field, its value and its bound.
 * @example
 * ```ts
 * const cfg = defineConfig({ numLayers: 16, numQHeads: 32, numKvHeads: 8, headSize: 64, capacityBytes: 256 << 20 });
 * cfg.numBlocks; // blocks of 16 tokens of one (layer, KV head) that fit in 256 MiB of f16
 * ```
 */
export function defineConfig(input: KvCacheConfigInput): KvCacheConfig {
  if (input === null || typeof input !== "object") throw new ConfigError("config", `must be an object, got ${String(input)}`);
  const numLayers = int("numLayers", input.numLayers, 1, 1024);
  const numKvHeads = int("numKvHeads", input.numKvHeads, 1, 1024);
  const numQHeads = int("numQHeads", input.numQHeads, numKvHeads, 4096);
  if (numQHeads % numKvHeads !== 0) throw new ConfigError("numQHeads", `must be a multiple of numKvHeads (${numKvHeads}), got ${numQHeads}`);
  const headSize = int("headSize", input.headSize, 4, 512);
  if (headSize % 4 !== 0) throw new ConfigError("headSize", `must be a multiple of 4, got ${headSize}`);
  const blockSize = input.blockSize ?? 16;
  if (!SUPPORTED_BLOCK_SIZES.includes(blockSize)) throw new ConfigError("blockSize", `must be one of ${SUPPORTED_BLOCK_SIZES.join(", ")}, got ${String(blockSize)}`);
  const storage = input.storage ?? "f16";
  if (!STORAGES.includes(storage)) throw new ConfigError("storage", `must be one of ${STORAGES.map((x) => `"${x}"`).join(", ")}, got ${String(storage)}`);
  if (storage === "q4" && headSize % 8 !== 0) throw new ConfigError("headSize", `must be a multiple of 8 for storage "q4", got ${headSize}`);
  const maxSeqs = int("maxSeqs", input.maxSeqs ?? 8, 1, 65536);
  const maxContextTokens = int("maxContextTokens", input.maxContextTokens ?? 4096, 1, 1 << 24);
  const maxBlocksPerHead = Math.ceil(maxContextTokens / blockSize);
  const perBlock = blockBytes({ blockSize, headSize, storage });
  const given = (["capacityBytes", "capacityBlocks", "capacityTokens"] as const).filter((k) => input[k] !== undefined);
  if (given.length !== 1) throw new ConfigError("capacity", `give exactly one of capacityBytes, capacityBlocks, capacityTokens; got ${given.length ? given.join(", ") : "none"}`);
  let numBlocks: number;
  if (input.capacityBlocks !== undefined) numBlocks = int("capacityBlocks", input.capacityBlocks, 1, 2 ** 31 - 1);
  else if (input.capacityTokens !== undefined) numBlocks = Math.ceil(int("capacityTokens", input.capacityTokens, 1, 2 ** 31 - 1) / blockSize) * numLayers * numKvHeads;
  else {
    const bytes = int("capacityBytes", input.capacityBytes, perBlock, Number.MAX_SAFE_INTEGER);
    numBlocks = Math.floor(bytes / perBlock);
  }
  if (numBlocks > 2 ** 31 - 1) throw new ConfigError("capacity", `at most ${2 ** 31 - 1} blocks, got ${numBlocks}`);
  // Every (layer, KV head) of a sequence needs its own block for even one token: a smaller pool
  // could never hold a whole token, so it is a config error, not a later pool shortfall.
  const minBlocks = numLayers * numKvHeads;
  if (numBlocks < minBlocks) {
    throw new ConfigError(given[0], `must give at least ${minBlocks} blocks (numLayers ${numLayers} × numKvHeads ${numKvHeads}, one block per (layer, KV head) for one whole token), got ${numBlocks} block(s)`);
  }
  const policy = definePolicy(input.policy ?? { name: "full" });
  return Object.freeze({
    numLayers, numQHeads, numKvHeads, groupSize: numQHeads / numKvHeads, headSize, blockSize, storage,
    numBlocks, maxSeqs, maxContextTokens, maxBlocksPerHead, policy,
  });
}
