// The edge example (issue 6): its fetch(request) handler called directly, as Cloudflare
// Workers and Deno Deploy would, with the model handed over as bytes. It must run on the CPU
// backend and return the text and the cache's stats as JSON.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createHandler } from "../../examples/edge/handler";
import { sharedModelSource } from "../harness/env";

const t = suite("examples/edge handler");

t("decodes with compression on the CPU backend and returns JSON stats", async () => {
  const handler = createHandler({ source: sharedModelSource("stories260K") });
  const prompt = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big red ball.";
  const res = await handler.fetch(new Request(`http://edge.test/?prompt=${encodeURIComponent(prompt)}&tokens=40&ratio=4`));
  assert.is(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  const body = await res.json();
  assert.is(body.backend, "cpu");
  assert.is(body.generatedTokens, 40);
  assert.ok(body.text.length > 0);
  assert.is(body.kv.policy, "kvcompress");
  assert.ok(body.kv.passes > 0, "the budget was enforced while decoding");
  assert.ok(body.kv.bytesInUse < body.kv.bytesUncompressed, `${body.kv.bytesInUse} < ${body.kv.bytesUncompressed}`);
  assert.is(body.kv.keptPerHead.length, 5 * 4);
});

t("bad query parameters are a 400 with a message", async () => {
  const handler = createHandler({ source: sharedModelSource("stories260K") });
  const res = await handler.fetch(new Request("http://edge.test/?tokens=0"));
  assert.is(res.status, 400);
  assert.match((await res.json()).error, /tokens/);
});

t.run();
