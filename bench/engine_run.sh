#!/bin/bash
# The engine bench recipe of docs/BENCHMARKS.md ("The engine on a real GPU"), run on the GPU machine
# from the repo root after `node bench/build-engine.mjs` and `node bench/build-smm.mjs`, with the
# tokenizer.json / tokenizer_config.json / special_tokens_map.json of any HF tokenizer (e.g. the
# tinystories-656K model's) in bench-dist/tok: random-weight models at the real shapes and
# vocabularies, our engine (and its profile), HF eager at 1K and 8K context, then the prefill on
# matrix units (subgroup matrices; each engine on its own device).
source .gpu/env.sh
PY=$(command -v python3 || command -v python)
M=${TMPDIR:-/tmp}/models
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
for p in smollm2-135m qwen25-05b llama32-1b; do $PY bench/engine_mkmodel.py $M/$p $p bench-dist/tok | tail -1 || exit 1; done
date -u
timeout 300 node bench-dist/engine.mjs $M/smollm2-135m $M/qwen25-05b $M/llama32-1b 2>&1 | grep -v XDG
date -u
for p in smollm2-135m qwen25-05b llama32-1b; do for ctx in 1024 8000; do
  timeout 90 $PY bench/engine_hf.py $M/$p 2048 $ctx 32 2>&1 | grep HFJSON
done; done
date -u
timeout 150 node bench-dist/smm/smm.mjs --engine $M/smollm2-135m $M/qwen25-05b $M/llama32-1b 2>&1 | grep SMMJSON
date -u
