#!/usr/bin/env bash
# `npm start`: the main job. Sets up, builds the CLI, and generates a story with stories260K on
# the compressed cache (kvcompress policy, ratio 4, kept while decoding too: --continual, so the
# summary shows compression passes and the ratio reached), on a hardware GPU when one exists,
# else on the CPU backend. Extra arguments are passed to `kvcompress generate`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node scripts/build.mjs --no-types >&2
# The shared models beside the repository serve as the local model store when present;
# otherwise the CLI uses ~/.cache/kvcompress/models or downloads from the Hugging Face hub.
if [ -z "${KVCOMPRESS_MODELS:-}" ] && [ -d ../shared/models ]; then export KVCOMPRESS_MODELS="$PWD/../shared/models"; fi
prompt="Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. One day, she saw a big red ball under a tree. She ran to the ball and picked it up. Then a little dog came running to her. The dog wanted to play with the ball too. Lily threw the ball and the dog ran after it. They played all day long, and when the sun went down, Lily went home happy."
exec node bin/kvcompress.mjs generate --prompt "$prompt" --policy kvcompress --ratio 4 --continual --max-tokens 96 "$@"
