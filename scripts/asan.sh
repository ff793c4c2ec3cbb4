#!/usr/bin/env bash
# Builds the transport and design tests with AddressSanitizer + UBSan (preset "asan": Debug,
# -fsanitize=address,undefined) and runs them. Among them HeLoraSessions.ConcurrentSessionsHammerOneWorker
# (concurrent he-lora sessions on one worker: the use-after-free of issue 18).
# Usage: scripts/asan.sh [GTEST_FILTER]   (default: every test of those binaries)
#   VEIL_JOBS   parallel compile jobs (default: nproc)
# Leak checking is off (libtorch's and gRPC's process-lifetime allocations); set ASAN_OPTIONS to override.
set -euo pipefail
cd "$(dirname "$0")/.."
FILTER=${1:-*}
tests=(transport_test he_lora_test guarded_test guarded_multiprocess_test obfuscatune_test plain_design_test)
start=$(date +%s)
cmake --preset asan >/dev/null
# bin/veil and the lying worker: the multi-process tests start them.
cmake --build build/asan -j "${VEIL_JOBS:-$(nproc)}" --target veil he_lora_lying_worker "${tests[@]}"
built=$(date +%s)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export VEIL_BINARY_DIR=$PWD/build/asan
export VEIL_SHARED_DIR=${VEIL_SHARED_DIR:-$(cd .. && pwd)/shared}
status=0
for t in "${tests[@]}"; do
  bin=$(find build/asan/tests -type f -name "$t" -perm -u+x | head -1)
  [ -n "$bin" ] || { echo "asan: $t not built" >&2; exit 1; }
  echo "asan: $t --gtest_filter=$FILTER" >&2
  "$bin" --gtest_filter="$FILTER" --gtest_brief=1 || status=1
done
end=$(date +%s)
echo "asan: build $((built - start)) s, tests $((end - built)) s, status $status" >&2
exit $status
