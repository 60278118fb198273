// llama2.c's tokenizer (`tokenizer.bin`, `tok512.bin`): a SentencePiece BPE exported as
// int32 maxTokenLength, then per id: f32 score, int32 numBytes, the piece's bytes.
// Pieces are compared as bytes, not strings: a piece may be part of a UTF-8 character, so
// internally every byte sequence is held as a "binary string" (one char per byte, 0..255).

import { ModelFormatError } from "../errors";
import type { ModelTokenizer, StreamDecoder } from "./types";

const UNK_ID = 0;
const BOS_ID = 1;
const EOS_ID = 2;
/** Byte-fallback tokens: `<0x00>`..`<0xFF>` are ids 3..258, so id = byte + 3. */
const BYTE_TOKEN_OFFSET = 3;
const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

export class Llama2cTokenizer implements ModelTokenizer {
  readonly bosId = BOS_ID;
  readonly eosId = EOS_ID;
  private readonly idOfPiece = new Map<string, number>();
  private readonly decodedBytes: Uint8Array[]; // [vocabSize] what each id prints as

  private constructor(
    private readonly pieces: string[],       // [vocabSize] binary strings
    private readonly scores: Float32Array,   // [vocabSize]
  ) {
    // First occurrence wins on duplicate pieces, so lookups are deterministic.
    pieces.forEach((piece, id) => { if (!this.idOfPiece.has(piece)) this.idOfPiece.set(piece, id); });
    this.decodedBytes = pieces.map((piece) => {
      const byteMatch = BYTE_PIECE.exec(piece);
      if (byteMatch) return Uint8Array.of(parseInt(byteMatch[1]!, 16));
      return Uint8Array.from(piece, (ch) => ch.charCodeAt(0));
    });
  }

  get vocabSize(): number {
    return this.pieces.length;
  }

  /** @throws ModelFormatError naming `fileName` and the token id where the bytes run out. */
  static parse(bytes: Uint8Array, vocabSize: number, fileName: string): Llama2cTokenizer {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.byteLength < 4) throw new ModelFormatError(fileName, `truncated: ${bytes.byteLength} bytes`);
    const maxTokenBytes = view.getInt32(0, true);
    if (!(maxTokenBytes > 0 && maxTokenBytes < 1024)) {
      throw new ModelFormatError(fileName, `corrupt header: max_token_length = ${maxTokenBytes}`);
    }
    const pieces: string[] = [];
    const scores = new Float32Array(vocabSize);
    let offsetBytes = 4;
    for (let id = 0; id < vocabSize; id++) {
      if (offsetBytes + 8 > bytes.byteLength) {
        throw new ModelFormatError(fileName, `truncated at token id ${id} of ${vocabSize} (${bytes.byteLength} bytes)`);
      }
      scores[id] = view.getFloat32(offsetBytes, true);
      const numBytes = view.getInt32(offsetBytes + 4, true);
      offsetBytes += 8;
      if (numBytes < 0 || numBytes > maxTokenBytes || offsetBytes + numBytes > bytes.byteLength) {
        throw new ModelFormatError(fileName, `token id ${id}: piece length ${numBytes} does not fit the file`);
      }
      pieces.push(String.fromCharCode(...bytes.subarray(offsetBytes, offsetBytes + numBytes)));
      offsetBytes += numBytes;
    }
    if (offsetBytes !== bytes.byteLength) {
      throw new ModelFormatError(fileName, `wrong size: ${vocabSize} tokens end at byte ${offsetBytes}, file has ${bytes.byteLength} (vocab size mismatch?)`);
    }
    return new Llama2cTokenizer(pieces, scores);
  }

  /**
   * As llama2.c encode(): BOS, a dummy-prefix " " when the text is non-empty, one piece per
   * UTF-8 character (else its byte tokens), then repeatedly merge the adjacent pair whose
   * concatenation has the highest score (leftmost on ties).
   */
  encode(text: string, options: { bos?: boolean } = {}): number[] {
    const ids: number[] = [];
    if (options.bos ?? true) ids.push(BOS_ID);
    if (text.length > 0) ids.push(this.lookup(" "));
    const encoder = new TextEncoder();
    for (const ch of text) {
      // Per code point, as llama2.c walks UTF-8; a lone surrogate encodes as U+FFFD.
      const charBytes = encoder.encode(ch);
      const id = this.idOfPiece.get(String.fromCharCode(...charBytes));
      if (id !== undefined) ids.push(id);
      else for (const byte of charBytes) ids.push(byte + BYTE_TOKEN_OFFSET);
    }
    return this.mergePairs(ids);
  }

  // pairScore[i] caches the score of merging ids[i] and ids[i+1] (-Infinity: not in vocab),
  // so each merge only re-looks-up its two neighbours instead of every pair.
  private mergePairs(ids: number[]): number[] {
    const pairId: number[] = [];
    const pairScore: number[] = [];
    const scorePair = (i: number) => {
      const id = this.idOfPiece.get(this.pieces[ids[i]!]! + this.pieces[ids[i + 1]!]!);
      pairId[i] = id ?? -1;
      pairScore[i] = id === undefined ? -Infinity : this.scores[id]!;
    };
    for (let i = 0; i + 1 < ids.length; i++) scorePair(i);
    for (;;) {
      let bestIdx = -1;
      let bestScore = -Infinity;
      for (let i = 0; i < pairScore.length; i++) {
        if (pairScore[i]! > bestScore) { bestScore = pairScore[i]!; bestIdx = i; }
      }
      if (bestIdx < 0) return ids;
      ids.splice(bestIdx, 2, pairId[bestIdx]!);
      pairId.splice(bestIdx, 1);
      pairScore.splice(bestIdx, 1);
      if (bestIdx > 0) scorePair(bestIdx - 1);
      if (bestIdx + 1 < ids.length) scorePair(bestIdx);
    }
  }

  private lookup(piece: string): number {
    return this.idOfPiece.get(piece) ?? UNK_ID;
  }

  /**
   * Bytes one token prints as, given the token before it (llama2.c decode()): the leading
   * space of a piece right after BOS is dropped, `<0xNN>` is the raw byte, BOS/EOS print nothing.
   */
  decodeTokenBytes(prevTokenId: number, tokenId: number): Uint8Array {
    if (tokenId === BOS_ID || tokenId === EOS_ID) return new Uint8Array(0);
    const bytes = this.decodedBytes[tokenId];
    if (bytes === undefined) throw new RangeError(`token id ${tokenId} outside [0, ${this.vocabSize})`);
    return prevTokenId === BOS_ID && bytes[0] === 0x20 ? bytes.subarray(1) : bytes;
  }

  decode(ids: readonly number[]): string {
    const stream = this.createStreamDecoder();
    return ids.map((id) => stream.push(id)).join("") + stream.flush();
  }

  createStreamDecoder(): StreamDecoder {
    const utf8 = new TextDecoder("utf-8");
    let prevTokenId = -1;
    return {
      push: (tokenId) => {
        const bytes = this.decodeTokenBytes(prevTokenId, tokenId);
        prevTokenId = tokenId;
        return utf8.decode(bytes, { stream: true });
      },
      flush: () => utf8.decode(),
    };
  }
}
