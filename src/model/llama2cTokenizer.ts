// llama2.c's tokenizer (`tokenizer.bin`, `tok512.bin`): a SentencePiece BPE exported as
// int32 maxTokenLength, then per id: f32 score, int32 numBytes, the piece's bytes.
// Pieces are compared as bytes, not strings: a piece may be part of a UTF-8 character, so
// internally every byte sequence is held as a "binary string" (one char per byte, 0..255).

import { InvalidArgumentError } from "../errors";
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

  // llama2.c merges, over and over, the adjacent pair with the highest score (leftmost on
  // ties) until none is in the vocab. Rescanning every pair per merge is O(n²) and took
  // minutes on the 580 KB eval text; here the tokens form a linked list and candidate pairs
  // wait in a max-heap ordered by (score desc, left position asc), so each merge costs
  // O(log n). An entry whose tokens have changed since it was pushed is skipped when popped;
  // every live pair always has an entry, so the merge order is exactly llama2.c's.
  private mergePairs(ids: number[]): number[] {
    const n = ids.length;
    const tok = Int32Array.from(ids);
    const next = new Int32Array(n), prev = new Int32Array(n);
    for (let i = 0; i < n; i++) { next[i] = i + 1 < n ? i + 1 : -1; prev[i] = i - 1; }
    const heap = new PairHeap();
    const push = (left: number) => {
      const right = next[left];
      if (left < 0 || right < 0) return;
      const id = this.idOfPiece.get(this.pieces[tok[left]]! + this.pieces[tok[right]]!);
      if (id !== undefined) heap.push(this.scores[id]!, left, tok[left], tok[right], id);
    };
    for (let i = 0; i + 1 < n; i++) push(i);
    while (heap.size > 0) {
      const e = heap.pop();
      const right = next[e.left];
      if (tok[e.left] !== e.leftTok || right < 0 || tok[right] !== e.rightTok || prev[right] !== e.left) continue;
      tok[e.left] = e.merged;
      tok[right] = -1; // dead
      next[e.left] = next[right];
      if (next[right] >= 0) prev[next[right]] = e.left;
      prev[right] = -2;
      push(prev[e.left]);
      push(e.left);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0 && i < n; i = next[i]) out.push(tok[i]);
    return out;
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
    if (bytes === undefined) throw new InvalidArgumentError("token id", tokenId, `an integer in [0, ${this.vocabSize})`);
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

interface PairEntry { score: number; left: number; leftTok: number; rightTok: number; merged: number }

/** Max-heap of merge candidates: higher score first, then the leftmost pair (llama2.c's order). */
class PairHeap {
  private readonly items: PairEntry[] = [];
  get size(): number { return this.items.length; }
  push(score: number, left: number, leftTok: number, rightTok: number, merged: number): void {
    const a = this.items;
    a.push({ score, left, leftTok, rightTok, merged });
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }
  pop(): PairEntry {
    const a = this.items;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < a.length && before(a[l], a[m])) m = l;
        if (r < a.length && before(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}

function before(x: PairEntry, y: PairEntry): boolean {
  return x.score > y.score || (x.score === y.score && x.left < y.left);
}
