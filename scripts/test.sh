#!/usr/bin/env bash
# scripts/test.sh - everything CI runs (.ci/run calls this), also the README's test command:
#   bash scripts/test.sh        (as root; a user with sudo is elevated; without root only the
#                                unprivileged stages run)
# Stages:
#   deps      scripts/install-deps.sh (skipped with KM_SKIP_INSTALL=1)
#   build     build/       RelWithDebInfo, Ninja, -j$KM_JOBS
#   unit      ctest in build/ for everything except netns (parallel)
#   k8s       tests/kubernetes/build-k8s.sh: Kubernetes v1.20.2 built once into
#             /var/cache/keymesh/k8s-v1.20.2 (about 8 minutes of both cores the first time on a
#             machine, then reused: under a second; kube-proxy alone, added to an older
#             cache, about 7 minutes); netns_kubernetes_pods, _netpol, _node_faults and
#             _services need it
#   netns     ctest -L netns in build/ (serially: real namespaces, timing-sensitive)
#   calendar  the in-process tests and the netns tests with schedules, expiry and renewal
#             again, under faketime 400 days ahead: no test may depend on today's date
#   san-bld   build-san/   clang-19, ASan+UBSan and libFuzzer hooks, unit tests and fuzz targets
#   asan      ctest -L unit -LE fuzz in build-san/ (every in-process test under ASan+UBSan)
#   fuzz      ctest -L fuzz in build-san/ (each target fuzzes for KEYMESH_FUZZ_SECONDS)
#   tsan-bld  build-tsan/  clang-19, ThreadSanitizer, only the test executables that run threads
#   tsan      ctest -R on those tests in build-tsan/ (a reported race fails the test); as root
#             also netns_discovery_etcd, the etcd backend's threads against a real etcd
# A failing stage does not stop the others (except the tests of a build that failed); the
# summary at the end lists every stage with its time, and the exit status is 1 if any failed.
# Knobs: KM_JOBS (2), KM_SKIP_K8S=1 (no Kubernetes build: the kubernetes tests skip), KM_SKIP_ASAN=1, KM_SKIP_FUZZ=1, KM_SKIP_TSAN=1, KM_SKIP_NETNS=1, KM_SKIP_CALENDAR=1,
# KEYMESH_FUZZ_SECONDS, KM_BUILD_SUFFIX (build dirs become build$SUFFIX, build-san$SUFFIX and
# build-tsan$SUFFIX), KM_CALENDAR_OFFSET (+400d).
# Compiles go through ccache when it is installed (install-deps.sh installs it), with its cache
# under /var/cache/keymesh/ccache, so a second run on the same machine rebuilds in a minute.
set -euo pipefail
source "$(dirname "$0")/lib/root.sh"
need_root --optional "$@"
cd "$(dirname "$0")/.."
REPO=$PWD
JOBS=${KM_JOBS:-2}
FUZZ_SECONDS=${KEYMESH_FUZZ_SECONDS:-20}
T_START=$(date +%s)
B_MAIN=build${KM_BUILD_SUFFIX:-}
B_SAN=build-san${KM_BUILD_SUFFIX:-}
B_TSAN=build-tsan${KM_BUILD_SUFFIX:-}

declare -a S_NAME=() S_RESULT=() S_TIME=()
FAILED=0

stage() {  # stage NAME CMD... : run, record result and duration
  local name=$1 t0 rc=0
  shift
  echo
  echo "==================== [$name] $*"
  t0=$(date +%s)
  "$@" || rc=$?
  S_NAME+=("$name")
  S_TIME+=("$(($(date +%s) - t0))")
  if ((rc == 0)); then S_RESULT+=("ok"); else S_RESULT+=("FAILED (exit $rc)"); FAILED=1; fi
  echo "==================== [$name] $( ((rc == 0)) && echo ok || echo "FAILED (exit $rc)") in $(($(date +%s) - t0)) s"
  return $rc
}

skip() {  # skip NAME REASON
  S_NAME+=("$1")
  S_TIME+=("0")
  S_RESULT+=("skipped: $2")
  echo "==================== [$1] skipped: $2"
}

# Test counts over every ctest run, for one closing line ("N passed, N failed").
T_PASSED=0
T_FAILED=0
run_ctest() {  # run_ctest ARGS... : ctest with its output shown and its counts added up
  local out rc=0 total="" failed=""
  out=$(mktemp)
  ctest "$@" 2>&1 | tee "$out" || rc=${PIPESTATUS[0]}
  # ctest ends with "NN% tests passed, F tests failed out of T"
  read -r failed total < <(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\1 \2/p' "$out" | tail -n 1) || true
  rm -f "$out"
  if [[ -n $total ]]; then
    T_PASSED=$((T_PASSED + total - failed))
    T_FAILED=$((T_FAILED + failed))
  fi
  return "$rc"
}

summary() {
  local i
  echo
  echo "==================== summary ($(($(date +%s) - T_START)) s total)"
  for i in "${!S_NAME[@]}"; do
    printf '  %-8s %6ss  %s\n' "${S_NAME[$i]}" "${S_TIME[$i]}" "${S_RESULT[$i]}"
  done
  if ((FAILED)); then echo "RESULT: FAILED"; else echo "RESULT: all stages passed"; fi
  echo "tests: $T_PASSED passed, $T_FAILED failed"
}
trap summary EXIT

echo "keymesh tests: $(nproc) cpus, $(uname -r), $(date -u +%FT%TZ), repo $REPO"

if [[ ${KM_SKIP_INSTALL:-0} == 1 ]]; then
  skip deps "KM_SKIP_INSTALL=1"
elif [[ $(id -u) -ne 0 ]]; then
  skip deps "not root"
else
  stage deps bash scripts/install-deps.sh || true
fi

# ccache, keyed by content with paths relative to the repo, so any clone shares the cache.
LAUNCHER=()
if command -v ccache >/dev/null 2>&1; then
  export CCACHE_DIR=${CCACHE_DIR:-/var/cache/keymesh/ccache} CCACHE_BASEDIR=$REPO
  export CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
  if mkdir -p "$CCACHE_DIR" 2>/dev/null && [[ -w $CCACHE_DIR ]]; then
    LAUNCHER=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
fi

# Build steps are && chains: `set -e` does not apply inside a function run by `stage`.
build_main() {
  cmake -S . -B "$B_MAIN" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEYMESH_TESTS=ON \
    "${LAUNCHER[@]}" &&
    cmake --build "$B_MAIN" -j"$JOBS"
}
# One clang-19 build serves two stages: everything compiled with ASan+UBSan (errors abort) and
# libFuzzer's coverage hooks. Its unit tests are the sanitizer stage, its fuzz targets the fuzz
# stage; a second full compile of the tree would add ~10 minutes to CI for nothing.
build_san() {
  CC=clang-19 CXX=clang++-19 cmake -S . -B "$B_SAN" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" \
    "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1" \
    -DKEYMESH_SANITIZE=ON -DKEYMESH_FUZZ=ON -DKEYMESH_TESTS=ON \
    -DKEYMESH_FUZZ_SECONDS="$FUZZ_SECONDS" "${LAUNCHER[@]}" \
    "-DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link" "-DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link" &&
    cmake --build "$B_SAN" -j"$JOBS"
}

# ---- main build + all tests
if stage build build_main; then
  stage unit run_ctest --test-dir "$B_MAIN" --output-on-failure -LE netns -j"$JOBS" || true
  if [[ ${KM_SKIP_NETNS:-0} == 1 ]]; then
    skip netns "KM_SKIP_NETNS=1"
  elif [[ $(id -u) -ne 0 ]]; then
    skip netns "not root"
  else
    if [[ ${KM_SKIP_K8S:-0} == 1 ]]; then
      skip k8s "KM_SKIP_K8S=1"
    else
      stage k8s nice -n 5 bash tests/kubernetes/build-k8s.sh || true
    fi
    stage netns run_ctest --test-dir "$B_MAIN" --output-on-failure -L netns || true
  fi
else
  skip unit "build failed"
  skip netns "build failed"
fi

# ---- the calendar: the same tests 400 days from now (libfaketime shifts every clock the
# processes read, wall and monotonic alike). Certificates are issued, schedules crossed and
# renewals timed inside the shifted time, as they would be on that day.
calendar() {
  local offset=${KM_CALENDAR_OFFSET:-+400d} lib rc=0
  lib=$(find /usr/lib -name 'libfaketime.so.1' -path '*faketime*' 2>/dev/null | head -n 1)
  [[ -n $lib ]] || { echo "libfaketime not found (apt-get install faketime)"; return 1; }
  echo "calendar: FAKETIME=$offset ($(LD_PRELOAD=$lib FAKETIME=$offset date -u +%FT%TZ))"
  LD_PRELOAD=$lib FAKETIME=$offset run_ctest --test-dir "$B_MAIN" --output-on-failure \
    -L unit -LE fuzz -j"$JOBS" || rc=1
  if [[ $(id -u) -eq 0 && ${KM_SKIP_NETNS:-0} != 1 ]]; then
    LD_PRELOAD=$lib FAKETIME=$offset run_ctest --test-dir "$B_MAIN" --output-on-failure \
      -R '^netns_(policy|identities)$' || rc=1
  fi
  return $rc
}
if [[ ${KM_SKIP_CALENDAR:-0} == 1 ]]; then
  skip calendar "KM_SKIP_CALENDAR=1"
elif [[ -x $B_MAIN/daemon/keymeshd ]]; then
  stage calendar calendar || true
else
  skip calendar "build failed"
fi

# ---- clang-19 sanitizer build: unit tests under ASan+UBSan, then libFuzzer on each target
if [[ ${KM_SKIP_ASAN:-0} == 1 && ${KM_SKIP_FUZZ:-0} == 1 ]]; then
  skip asan "KM_SKIP_ASAN=1"
  skip fuzz "KM_SKIP_FUZZ=1"
elif stage san-bld build_san; then
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  if [[ ${KM_SKIP_ASAN:-0} == 1 ]]; then
    skip asan "KM_SKIP_ASAN=1"
  else
    stage asan run_ctest --test-dir "$B_SAN" --output-on-failure -L unit -LE fuzz -j"$JOBS" || true
  fi
  if [[ ${KM_SKIP_FUZZ:-0} == 1 ]]; then
    skip fuzz "KM_SKIP_FUZZ=1"
  else
    stage fuzz run_ctest --test-dir "$B_SAN" --output-on-failure -L fuzz -j"$JOBS" || true
  fi
else
  skip asan "build failed"
  skip fuzz "build failed"
fi

# ---- clang-19 ThreadSanitizer build: only the tests whose code runs threads (daemon/kube_feed's
# watch threads, the control server and docker/CNI clients driven from test threads). TSan
# cannot share a tree with ASan, and the rest of the tree is single-threaded, so building just
# these keeps the stage to a few minutes. The etcd backend's threads run only against a real
# etcd: with root (and netns not skipped) its netns probe is built and run too, on its own
# because it is timing-sensitive.
TSAN_TARGETS=(kube_feed cni_dispatcher control_limits_test control_server_test docker_http_test)
TSAN_REGEX="^($(IFS='|'; echo "${TSAN_TARGETS[*]}"))\$"
TSAN_NETNS=0
if [[ $(id -u) -eq 0 && ${KM_SKIP_NETNS:-0} != 1 ]]; then TSAN_NETNS=1; fi
build_tsan() {
  local targets=("${TSAN_TARGETS[@]}")
  if ((TSAN_NETNS)); then targets+=(discovery_etcd_probe); fi
  CC=clang-19 CXX=clang++-19 cmake -S . -B "$B_TSAN" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g" \
    "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g" \
    -DKEYMESH_TSAN=ON -DKEYMESH_TESTS=ON "${LAUNCHER[@]}" &&
    cmake --build "$B_TSAN" -j"$JOBS" --target "${targets[@]}"
}
run_tsan() {
  local rc=0
  # halt_on_error: the first race ends the test with a failure, its report above the exit.
  # tests/tsan.supp holds only races inside third-party libraries, each with its reason.
  export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$REPO/tests/tsan.supp"
  # The runtime finds no symbolizer by itself: without one a report is bare addresses.
  local sym
  sym=$(command -v llvm-symbolizer-19 || command -v llvm-symbolizer || true)
  if [[ -n $sym ]]; then TSAN_OPTIONS+=" external_symbolizer_path=$sym"; fi
  run_ctest --test-dir "$B_TSAN" --output-on-failure -R "$TSAN_REGEX" -j"$JOBS" || rc=1
  if ((TSAN_NETNS)); then
    run_ctest --test-dir "$B_TSAN" --output-on-failure -R '^netns_discovery_etcd$' || rc=1
  fi
  unset TSAN_OPTIONS
  return $rc
}
if [[ ${KM_SKIP_TSAN:-0} == 1 ]]; then
  skip tsan-bld "KM_SKIP_TSAN=1"
  skip tsan "KM_SKIP_TSAN=1"
elif stage tsan-bld build_tsan; then
  stage tsan run_tsan || true
else
  skip tsan "build failed"
fi

exit "$FAILED"
