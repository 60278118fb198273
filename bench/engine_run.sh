#!/bin/bash
# The engine bench recipe of docs/BENCHMARKS.md, run on the GPU machine from the repo root after
# `node bench/build-engine.mjs` and copying tokenizer.json / tokenizer_config.json /
# special_tokens_map.json of any 2048-token HF tokenizer (the tinystories-656K model's) into
# bench-dist/tok: random-weight models, our engine (and its profile), then the HF eager anchors.
source .gpu/env.sh
PY=$(command -v python3 || command -v python)
M=$TMPDIR/models
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
for p in smollm2-135m qwen25-05b llama32-1b; do $PY bench/engine_mkmodel.py $M/$p $p bench-dist/tok | tail -1 || exit 1; done
date -u
timeout 400 node bench-dist/engine.mjs $M/smollm2-135m $M/qwen25-05b $M/llama32-1b 2>&1 | grep -v XDG
date -u
for p in smollm2-135m qwen25-05b llama32-1b; do timeout 70 $PY bench/engine_hf.py $M/$p 2048 1024 32 2>&1 | grep HFJSON; done
date -u
