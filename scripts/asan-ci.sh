#!/usr/bin/env bash
# CI's sanitizer job (issue 18): the transport tests and the he-lora session tests — among them
# HeLoraSessions.ConcurrentSessionsHammerOneWorker, concurrent sessions on one worker — with
# AddressSanitizer + UBSan on the transport, HE and he-lora sources (preset "asan-ci",
# cmake/VeilSanitize.cmake). Every other source is compiled exactly as in the release build, so run
# this after it with the same ccache: only the instrumented sources are compiled again.
# Usage: scripts/asan-ci.sh        VEIL_JOBS: parallel compile jobs (default: nproc)
# The whole-program sanitizer build (every test binary, Debug) is scripts/asan.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_NOHASHDIR=1  # the release build's objects serve the uninstrumented sources
start=$(date +%s)
cmake --preset asan-ci >/dev/null
cmake --build build/asan-ci -j "${VEIL_JOBS:-$(nproc)}" --target veil_cli transport_test he_lora_test he_lora_lying_worker
built=$(date +%s)
# Leaks: libtorch's and gRPC's process-lifetime allocations. Container overflow: std::vector is
# annotated only where instrumented, which gives false alarms in a partly instrumented program.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:detect_container_overflow=0:abort_on_error=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export VEIL_BINARY_DIR=$PWD/build/asan-ci
export VEIL_SHARED_DIR=${VEIL_SHARED_DIR:-$(cd .. && pwd)/shared}
status=0
run() {  # BINARY FILTER
  local bin
  bin=$(find build/asan-ci/tests -type f -name "$1" -perm -u+x | head -1)
  [ -n "$bin" ] || { echo "asan-ci: $1 not built" >&2; exit 1; }
  echo "asan-ci: $1 --gtest_filter=$2" >&2
  "$bin" --gtest_filter="$2" --gtest_brief=1 || status=1
}
run transport_test '*'
run he_lora_test 'HeLoraSessions.*:HeLoraLimits.*:HeLoraMaliciousWorker.*'
end=$(date +%s)
echo "asan-ci: build $((built - start)) s, tests $((end - built)) s, status $status" >&2
exit $status
