// stories260K (llama2.c format) against its reference.json, plus broken-file handling.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readShared } from "../harness/env";
import { ModelFormatError } from "../../src/errors";
import { Llama2cTokenizer, createFullAttentionCache, generate, parseLlama2cCheckpoint } from "../../src/model/index";
import { STORIES_DIR, greedyIds, loadStories, meanNll, readReference, valText } from "./helpers";

const t = suite("model: llama2.c stories260K");

t("greedy decode from BOS reproduces reference ids", async () => {
  const ref = await readReference(STORIES_DIR);
  const loaded = await loadStories();
  const ids = await greedyIds(loaded, ref.greedy_from_bos.prompt_ids, ref.greedy_from_bos.steps);
  assert.equal(ids, ref.greedy_from_bos.ids);
  // reference.json keeps the dummy-prefix space; our decode strips it after BOS as llama2.c does.
  assert.is(loaded.tokenizer.decode(ids), ref.greedy_from_bos.text.replace(/^ /, ""));
});

t("generate(): greedy equals the reference; a seed makes sampling repeatable", async () => {
  const ref = await readReference(STORIES_DIR);
  const { model } = await loadStories();
  const streamed: number[] = [];
  const greedy = await generate(model, createFullAttentionCache(model), [1], {
    maxNewTokens: ref.greedy_from_bos.steps, onToken: (id) => streamed.push(id),
  });
  assert.equal(greedy.ids, ref.greedy_from_bos.ids);
  assert.equal(streamed, ref.greedy_from_bos.ids.slice(1));
  const sampled = (seed: number) =>
    generate(model, createFullAttentionCache(model), [1], { maxNewTokens: 30, temperature: 1, topP: 0.9, seed });
  assert.equal((await sampled(5)).ids, (await sampled(5)).ids);
  const stopped = await generate(model, createFullAttentionCache(model), [1], { maxNewTokens: 40, stopIds: [261] });
  assert.equal(stopped.ids, ref.greedy_from_bos.ids.slice(0, 4)); // 261 is the 3rd generated id
});

t("tokenizer: first 16 ids of the validation window", async () => {
  const ref = await readReference(STORIES_DIR);
  const { tokenizer } = await loadStories();
  const ids = tokenizer.encode(await valText());
  assert.equal(ids.slice(0, 16), ref.tinystories_val_window.first_16_ids);
  assert.ok(ids.length >= 512);
});

t("512-token window NLL matches reference to 1e-3", async () => {
  const ref = await readReference(STORIES_DIR);
  const loaded = await loadStories();
  const ids = loaded.tokenizer.encode(await valText()).slice(0, 512);
  const nll = await meanNll(loaded, ids);
  const want = ref.tinystories_val_window.mean_nll_nats_over_511_predictions;
  assert.ok(Math.abs(nll - want) < 1e-3, `NLL ${nll}, reference ${want}`);
});

t("tokenizer: byte fallback round-trips, stream decode equals decode", async () => {
  const { tokenizer } = await loadStories();
  const text = "Tom said: “héllo 😀”\nbye";
  const ids = tokenizer.encode(text);
  assert.is(ids[0], 1);
  assert.ok(ids.includes(0xf0 + 3), "emoji's first UTF-8 byte goes through byte fallback (id = byte + 3)");
  assert.is(tokenizer.decode(ids), text);
  const stream = tokenizer.createStreamDecoder();
  const pieces = ids.map((id) => stream.push(id));
  assert.is(pieces.join("") + stream.flush(), text);
  assert.not.ok(pieces.some((p) => p.includes("\uFFFD")), "no half characters are emitted");
  assert.equal(tokenizer.encode(""), [1]);
});

t("truncated .bin: ModelFormatError names the file and the tensor cut short", async () => {
  const bytes = await readShared(`${STORIES_DIR}/stories260K.bin`);
  const err = catchError(() => parseLlama2cCheckpoint(bytes.slice(0, 100_000), "stories260K.bin"));
  assert.instance(err, ModelFormatError);
  assert.match(err.message, "stories260K.bin");
  assert.match(err.message, "truncated");
  // 28 + 512·64·4 = 131,100 bytes of embedding: the cut at 100,000 falls inside it.
  assert.is((err as ModelFormatError).tensorName, "token_embedding");
});

t("wrong-size .bin and corrupt header are named errors", async () => {
  const bytes = await readShared(`${STORIES_DIR}/stories260K.bin`);
  const padded = new Uint8Array(bytes.byteLength + 4);
  padded.set(bytes);
  const tooLong = catchError(() => parseLlama2cCheckpoint(padded, "padded.bin"));
  assert.instance(tooLong, ModelFormatError);
  assert.match(tooLong.message, /padded\.bin: wrong size/);
  const badHeader = bytes.slice();
  new DataView(badHeader.buffer).setInt32(12, 7, true); // n_heads = 7 does not divide dim 64
  assert.instance(catchError(() => parseLlama2cCheckpoint(badHeader, "bad.bin")), ModelFormatError);
  assert.instance(catchError(() => parseLlama2cCheckpoint(bytes.slice(0, 10), "tiny.bin")), ModelFormatError);
});

t("truncated tok512.bin: ModelFormatError names the file and token id", async () => {
  const bytes = await readShared(`${STORIES_DIR}/tok512.bin`);
  const err = catchError(() => Llama2cTokenizer.parse(bytes.slice(0, 3000), 512, "tok512.bin"));
  assert.instance(err, ModelFormatError);
  assert.match(err.message, /tok512\.bin: .*token id \d+/);
  const wrongVocab = catchError(() => Llama2cTokenizer.parse(bytes, 500, "tok512.bin"));
  assert.match(wrongVocab.message, /tok512\.bin: wrong size/);
});

function catchError(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a throw");
}

t.run();
