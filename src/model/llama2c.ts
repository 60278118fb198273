// llama2.c checkpoints: the legacy "version 0" `.bin` (7 × int32 header, then f32 tensors in
// a fixed order) and the `tokenizer.bin` / `tok512.bin` SentencePiece export. Formats are
// documented in shared/models/stories260K/README.md. The file size is fully determined by the
// header, so it is checked up front: a truncated download fails here, naming the tensor the
// file ends in, instead of producing a model with missing weights.

import { checkFinite } from "./validate";
import { ModelFormatError } from "../errors";
import { LlamaModel, type LlamaConfig, type LlamaLayerWeights } from "./llama";
import { f32FromBytes } from "./safetensors";
import { type ModelSource, type ProgressCallback, fileLabel } from "./source";
import { Llama2cTokenizer } from "./llama2cTokenizer";
import type { LoadedModel } from "./types";

export const HEADER_BYTES = 7 * 4;
/** Sanity bound on header fields; a bigger value means the bytes are not a checkpoint header. */
const MAX_HEADER_FIELD = 1 << 20;

export interface Llama2cHeader {
  dim: number; hiddenDim: number; numLayers: number; numQHeads: number; numKvHeads: number;
  vocabSize: number; maxSeqLen: number;
  /** llama2.c flags "classifier stored separately at the end" with a negative vocab_size. */
  sharedClassifier: boolean;
}

export function readHeader(bytes: Uint8Array, fileName: string): Llama2cHeader {
  if (bytes.byteLength < HEADER_BYTES) {
    throw new ModelFormatError(fileName, `truncated: ${bytes.byteLength} bytes, the header alone is ${HEADER_BYTES}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [dim, hiddenDim, numLayers, numQHeads, numKvHeads, signedVocabSize, maxSeqLen] =
    Array.from({ length: 7 }, (_, i) => view.getInt32(i * 4, true)) as [number, number, number, number, number, number, number];
  const header = {
    dim, hiddenDim, numLayers, numQHeads, numKvHeads, vocabSize: Math.abs(signedVocabSize), maxSeqLen,
    sharedClassifier: signedVocabSize > 0,
  };
  for (const [field, value] of Object.entries(header)) {
    if (typeof value === "number" && !(value > 0 && value <= MAX_HEADER_FIELD)) {
      throw new ModelFormatError(fileName, `corrupt header: ${field} = ${value}`);
    }
  }
  if (dim % numQHeads !== 0 || numQHeads % numKvHeads !== 0 || (dim / numQHeads) % 2 !== 0) {
    throw new ModelFormatError(fileName, `corrupt header: dim ${dim}, n_heads ${numQHeads}, n_kv_heads ${numKvHeads} are inconsistent`);
  }
  return header;
}

/** Tensor names and sizes (in floats), in file order, exactly as llama2.c's memory_map_weights() reads them. */
export function tensorLayout(h: Llama2cHeader): [string, number][] {
  const { dim, hiddenDim, numLayers: L, vocabSize } = h;
  const headSize = dim / h.numQHeads;
  const kvDim = h.numKvHeads * headSize;
  const layout: [string, number][] = [
    ["token_embedding", vocabSize * dim], ["rms_att", L * dim], ["wq", L * dim * dim],
    ["wk", L * kvDim * dim], ["wv", L * kvDim * dim], ["wo", L * dim * dim], ["rms_ffn", L * dim],
    ["w1", L * hiddenDim * dim], ["w2", L * dim * hiddenDim], ["w3", L * hiddenDim * dim], ["rms_final", dim],
    // Precomputed RoPE tables of old exports; skipped, RoPE is recomputed in f64.
    ["freq_cis_real", (h.maxSeqLen * headSize) / 2], ["freq_cis_imag", (h.maxSeqLen * headSize) / 2],
  ];
  if (!h.sharedClassifier) layout.push(["wcls", vocabSize * dim]);
  return layout;
}

/** Parses a llama2.c `.bin`. @throws ModelFormatError naming `fileName` (and the tensor cut short). */
export function parseLlama2cCheckpoint(bytes: Uint8Array, fileName: string): LlamaModel {
  const h = readHeader(bytes, fileName);
  const layout = tensorLayout(h);
  const expectedBytes = HEADER_BYTES + 4 * layout.reduce((a, [, n]) => a + n, 0);
  if (bytes.byteLength !== expectedBytes) throw sizeError(fileName, bytes.byteLength, expectedBytes, layout);

  const tensors = new Map<string, Float32Array>();
  let offsetBytes = HEADER_BYTES;
  for (const [name, numFloats] of layout) {
    const values = f32FromBytes(bytes.subarray(offsetBytes, offsetBytes + numFloats * 4));
    checkFinite(values, fileName, name);
    tensors.set(name, values);
    offsetBytes += numFloats * 4;
  }
  const perLayer = (name: string, l: number): Float32Array => {
    const all = tensors.get(name)!;
    const numFloats = all.length / h.numLayers;
    return all.subarray(l * numFloats, (l + 1) * numFloats);
  };
  const layers: LlamaLayerWeights[] = [];
  for (let l = 0; l < h.numLayers; l++) {
    layers.push({
      attnNorm: perLayer("rms_att", l), wq: perLayer("wq", l), wk: perLayer("wk", l), wv: perLayer("wv", l),
      wo: perLayer("wo", l), bq: null, bk: null, bv: null, ffnNorm: perLayer("rms_ffn", l),
      wGate: perLayer("w1", l), wDown: perLayer("w2", l), wUp: perLayer("w3", l),
    });
  }
  const tokenEmbedding = tensors.get("token_embedding")!;
  const config: LlamaConfig = {
    dim: h.dim, hiddenDim: h.hiddenDim, numLayers: h.numLayers, numQHeads: h.numQHeads, numKvHeads: h.numKvHeads,
    headSize: h.dim / h.numQHeads, vocabSize: h.vocabSize, maxSeqLen: h.maxSeqLen,
    normEps: 1e-5, ropeTheta: 10000, ropeStyle: "interleaved", ropeScaling: null, qkvBias: false,
  };
  return new LlamaModel(Object.freeze(config), {
    tokenEmbedding, layers, finalNorm: tensors.get("rms_final")!,
    classifier: h.sharedClassifier ? tokenEmbedding : tensors.get("wcls")!,
  });
}

export function sizeError(fileName: string, actualBytes: number, expectedBytes: number, layout: [string, number][]): ModelFormatError {
  if (actualBytes > expectedBytes) {
    return new ModelFormatError(fileName, `wrong size: ${actualBytes} bytes, the header implies ${expectedBytes}`);
  }
  let endBytes = HEADER_BYTES;
  for (const [name, numFloats] of layout) {
    endBytes += numFloats * 4;
    if (actualBytes < endBytes) {
      return new ModelFormatError(fileName, `truncated: ${actualBytes} bytes, the header implies ${expectedBytes}`, name);
    }
  }
  return new ModelFormatError(fileName, `truncated: ${actualBytes} bytes, the header implies ${expectedBytes}`);
}

export interface Llama2cFiles {
  /** Checkpoint file name within the source. @default "model.bin" */
  checkpoint?: string;
  /** Tokenizer file name within the source. @default "tokenizer.bin" */
  tokenizer?: string;
  onProgress?: ProgressCallback;
}

/** Loads a llama2.c checkpoint and its tokenizer from `source`. */
export async function loadLlama2cModel(source: ModelSource, files: Llama2cFiles = {}): Promise<LoadedModel> {
  const checkpointName = files.checkpoint ?? "model.bin";
  const tokenizerName = files.tokenizer ?? "tokenizer.bin";
  const checkpointBytes = await source.read(checkpointName, files.onProgress);
  const model = parseLlama2cCheckpoint(checkpointBytes, fileLabel(source, checkpointName));
  const tokenizerBytes = await source.read(tokenizerName, files.onProgress);
  const tokenizer = Llama2cTokenizer.parse(tokenizerBytes, model.config.vocabSize, fileLabel(source, tokenizerName));
  return { format: "llama2c", architecture: "llama2c", model, tokenizer };
}
