#!/usr/bin/env bash
# `npm test`: set up, then run every test suite in Node, Deno and headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node scripts/typecheck.mjs
# The CLI tests run the built command (bin/kvcompress.mjs → dist/cli.mjs); the package test
# packs dist/ with its bundled .d.ts files, so types are built too.
node scripts/build.mjs
exec node scripts/run-tests.mjs "$@"
