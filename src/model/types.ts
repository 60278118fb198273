// Shapes shared by the loaders: what a tokenizer offers and what a load returns.

import type { LlamaModel } from "./llama";

/** Turns one token id at a time into text; holds back bytes of an unfinished UTF-8 character. */
export interface StreamDecoder {
  /** Text that became final with this token (may be ""). */
  push(tokenId: number): string;
  /** Whatever is still held back, at the end of generation. */
  flush(): string;
}

export interface ModelTokenizer {
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  /** Token ids for `text`, starting with BOS unless `bos` is false. */
  encode(text: string, options?: { bos?: boolean }): number[];
  /** Text of `ids`; special tokens (BOS, EOS) produce no text. */
  decode(ids: readonly number[]): string;
  createStreamDecoder(): StreamDecoder;
}

export type ModelFormat = "llama2c" | "hf";

export interface LoadedModel {
  format: ModelFormat;
  /** e.g. `llama` / `qwen2` for HF, `llama2c` for .bin checkpoints. */
  architecture: string;
  model: LlamaModel;
  tokenizer: ModelTokenizer;
}
