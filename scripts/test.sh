#!/usr/bin/env bash
# Installs dependencies, builds Veil and runs every test (ctest), then the sanitizer job
# (scripts/asan-ci.sh: transport and he-lora session tests under ASan+UBSan), then each libFuzzer target for a
# bounded time. This is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
JOBS=${VEIL_JOBS:-$(nproc)}
# The sanitizer job below reuses the release build's objects for the sources it does not instrument.
export CCACHE_NOHASHDIR=1
cmake --preset release >/dev/null
cmake --build --preset release -j "$JOBS"
ctest --preset release -j "$JOBS"
if [ "${VEIL_SKIP_ASAN:-0}" != 1 ]; then
  bash scripts/asan-ci.sh  # ASan+UBSan on transport, HE and he-lora: transport and he-lora session tests
fi
if [ "${VEIL_SKIP_FUZZ:-0}" != 1 ] && [ -x scripts/fuzz.sh ]; then
  bash scripts/fuzz.sh "${VEIL_FUZZ_SECONDS:-20}"
fi
