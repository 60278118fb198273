// Hugging Face `tokenizer.json` tokenizers, through @huggingface/tokenizers (pure JS, runs in
// every runtime). We never re-implement BPE/normalizers by hand: the library reproduces the
// Rust `tokenizers` behaviour, which a hand-written version would drift from.

import { Tokenizer } from "@huggingface/tokenizers";
import { ModelFormatError } from "../errors";
import type { ModelTokenizer, StreamDecoder } from "./types";

export class HfTokenizer implements ModelTokenizer {
  readonly vocabSize: number;

  private constructor(
    private readonly tokenizer: Tokenizer,
    readonly bosId: number,
    readonly eosId: number,
  ) {
    this.vocabSize = tokenizer.get_vocab(true).size;
  }

  /**
   * @param tokenizerJson parsed `tokenizer.json`
   * @param tokenizerConfig parsed `tokenizer_config.json` ({} when the model has none)
   * @param ids BOS/EOS ids from `config.json`, used when the tokenizer config names none
   * @throws ModelFormatError naming `fileName` when the library rejects the file
   */
  static create(
    tokenizerJson: object, tokenizerConfig: object, ids: { bosId: number; eosId: number }, fileName: string,
  ): HfTokenizer {
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
    } catch (err) {
      throw new ModelFormatError(fileName, `not a usable tokenizer: ${(err as Error).message}`);
    }
    const idOfSpecial = (field: string): number | undefined => {
      const raw = (tokenizerConfig as Record<string, unknown>)[field];
      const content = typeof raw === "string" ? raw : (raw as { content?: string } | null)?.content;
      return content === undefined ? undefined : tokenizer.token_to_id(content);
    };
    return new HfTokenizer(tokenizer, idOfSpecial("bos_token") ?? ids.bosId, idOfSpecial("eos_token") ?? ids.eosId);
  }

  /** With `bos` (default) the tokenizer's own post-processor adds its special tokens (BOS for Llama). */
  encode(text: string, options: { bos?: boolean } = {}): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: options.bos ?? true }).ids;
  }

  decode(ids: readonly number[]): string {
    if (ids.length === 0) return ""; // the library throws on an empty list
    return this.tokenizer.decode([...ids], { skip_special_tokens: true });
  }

  /**
   * Incremental decode: re-decode a short window of recent ids and emit only the new suffix.
   * Decoding ids one by one is wrong for byte-fallback pieces (half a UTF-8 character) and
   * for decoders that strip or merge spaces, so text is emitted only once it stops changing
   * (no trailing U+FFFD). Window: ids from `prefixStart`; text up to `readStart` is already out.
   */
  createStreamDecoder(): StreamDecoder {
    const ids: number[] = [];
    let prefixStart = 0;
    let readStart = 0;
    const emit = (final: boolean): string => {
      const prefixText = this.decode(ids.slice(prefixStart, readStart));
      const fullText = this.decode(ids.slice(prefixStart));
      if (fullText.length <= prefixText.length || (!final && fullText.endsWith("\uFFFD"))) return "";
      prefixStart = readStart;
      readStart = ids.length;
      return fullText.slice(prefixText.length);
    };
    return {
      push: (tokenId) => {
        ids.push(tokenId);
        return emit(false);
      },
      flush: () => emit(true),
    };
  }
}
