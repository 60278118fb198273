#!/usr/bin/env bash
# `npm test`: set up, then run every test suite in Node, Deno and headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node scripts/typecheck.mjs
# The CLI tests run the built command (bin/kvcompress.mjs → dist/cli.mjs).
node scripts/build.mjs --no-types
exec node scripts/run-tests.mjs "$@"
