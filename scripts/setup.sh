#!/usr/bin/env bash
# Installs everything Veil needs to build, test and benchmark on Debian 12 (bookworm).
# Idempotent: packages already present are left alone. Needs root or sudo.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev python3-torch            # tensors, autograd, optimizers; PyTorch eager for the benchmark
  libopenblas0-pthread                  # without it libtorch falls back to reference BLAS (25x slower GEMMs here)
  libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev
  nlohmann-json3-dev libcli11-dev libssl-dev openssl
  curl                                  # the demo's OpenAI-style request; tests/serve's curl client
  libtomlplusplus-dev                   # `veil party --config FILE` (TOML)
  libpcre2-dev                           # Unicode regexes of tokenizer.json pre-tokenizers (\p{L}, lookahead)
  libcpp-httplib-dev                     # veil serve's HTTP(S) server (src/serve)
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev               # libFuzzer targets
  r-cran-janeaustenr                     # public-domain text for the embedded default model
  chromium                               # headless rendering test of the evaluation report (tests/eval)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || echo "setup: apt-get update failed; trying with the cached package lists" >&2
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The official OpenAI Node client for veil serve's real-client test (tests/serve/node, pinned by
# its package-lock.json). Node itself is not a Debian dependency here: without it the test skips.
if command -v npm >/dev/null 2>&1; then
  (cd "$(dirname "$0")/../tests/serve/node" && npm ci --no-audit --no-fund --silent) ||
    echo "setup: npm ci in tests/serve/node failed; the OpenAI client test will try again" >&2
else
  echo "setup: node/npm not found; tests/serve's OpenAI Node client test will be skipped" >&2
fi
echo "setup: all dependencies present" >&2
