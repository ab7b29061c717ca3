#!/usr/bin/env bash
# Long fuzzing runs (issue 15 §7): every libFuzzer target in tests/fuzz/ runs until it has
# executed --runs inputs (10 million) or for --max-time seconds (one hour), whichever comes
# first. Afterwards
#   - new inputs that add coverage are merged into the corpus kept in the repository,
#     tests/fuzz/corpus/<target>/, minimised (libFuzzer -merge=1 of the corpus and the new
#     inputs into a fresh directory replaces the sha1-named inputs; the named seeds stay;
#     nothing over 64 KiB is kept);
#   - every crash, leak, timeout or out-of-memory input is saved in
#     tests/fuzz/regressions/<target>/, which the CI fuzz stage (scripts/test.sh, ctest -L fuzz)
#     and the gcc replay build run on every test run (tests/CMakeLists.txt, km_fuzz_target);
#   - one line per target: executions, executions per second, crashes, corpus files added.
# Commit the corpus and regression changes afterwards (git status tests/fuzz).
#
# Usage: scripts/fuzz-long.sh [--max-time|--max-seconds SECONDS] [--runs N] [--targets a,b,...] [--jobs N]
#                             [--build DIR] [--no-merge] [--no-build]
#   --targets   names with or without the fuzz_ prefix (policy,fuzz_config); default: all
#   --jobs      targets fuzzed at once (default 1: the build machine has two cores)
#   --build     a libFuzzer build dir (default build-san, built as scripts/test.sh builds it)
#   --no-merge  leave tests/fuzz/corpus untouched (rates only)
#   --no-build  fuzz the binaries in --build as they are (another tree's build, no rebuild)
# Not part of CI (an hour per target); `KEYMESH_FUZZ_SECONDS` sets the CI stage's short runs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

MAX_TIME=3600
RUNS=10000000
TARGETS=""
JOBS=1
BUILD=build-san
MERGE=1
BUILD_FIRST=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --max-time|--max-seconds) MAX_TIME=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --targets) TARGETS=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --no-merge) MERGE=0; shift ;;
    --no-build) BUILD_FIRST=0; shift ;;
    -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;;
    *) echo "fuzz-long.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $MAX_TIME =~ ^[0-9]+$ && $RUNS =~ ^[0-9]+$ && $JOBS =~ ^[1-9][0-9]*$ ]] ||
  { echo "fuzz-long.sh: --max-time, --runs and --jobs take positive integers" >&2; exit 2; }

# target name -> corpus directory name, from the km_fuzz_target() calls.
declare -A CORPUS
while read -r name dir; do CORPUS[$name]=$dir; done < <(
  awk '/km_fuzz_target\(NAME/ { sub(/.*NAME[ \t]+/, ""); name = $1 }
       /CORPUS \$\{CMAKE_CURRENT_LIST_DIR\}\/corpus\// && name != "" {
         sub(/.*corpus\//, ""); sub(/[) \t].*/, ""); print name, $0; name = "" }' tests/fuzz/*.cmake)

selected=()
if [[ -z $TARGETS ]]; then
  mapfile -t selected < <(printf '%s\n' "${!CORPUS[@]}" | sort)
else
  IFS=, read -ra wanted <<<"$TARGETS"
  for t in "${wanted[@]}"; do
    [[ $t == fuzz_* ]] || t=fuzz_$t
    [[ -n ${CORPUS[$t]:-} ]] || { echo "fuzz-long.sh: no fuzz target $t (have: ${!CORPUS[*]})" >&2; exit 2; }
    selected+=("$t")
  done
fi

[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
if [[ $BUILD_FIRST == 1 ]]; then
  if [[ ! -x $BUILD/tests/${selected[0]} ]] || ! grep -q 'KEYMESH_FUZZ:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null; then
    echo "== building the libFuzzer targets in $BUILD (clang-19, ASan+UBSan, as scripts/test.sh)"
    CC=clang-19 CXX=clang++-19 cmake -S . -B "$BUILD" -G Ninja \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" \
      "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1" \
      -DKEYMESH_SANITIZE=ON -DKEYMESH_FUZZ=ON -DKEYMESH_TESTS=ON \
      "-DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link" "-DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link" >/dev/null
  fi
  cmake --build "$BUILD" -j"${KM_JOBS:-2}" --target "${selected[@]}" >/dev/null
fi

WORK=$(mktemp -d /tmp/keymesh-fuzz-long.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

fuzz_one() {
  local t=$1 dir=${CORPUS[$1]}
  local bin=$BUILD/tests/$t corpus=$ROOT/tests/fuzz/corpus/$dir
  local regress=$ROOT/tests/fuzz/regressions/$dir new=$WORK/$t-new log=$WORK/$t.log
  mkdir -p "$new" "$regress" "$WORK/$t-artifacts"
  local start=$SECONDS rc=0
  # New inputs go to the first directory ($new); the corpus and the regressions are read.
  # -fork is not used: its children would share the two cores with the rest of the build.
  # -reload=0: one process per target, nobody else writes its corpus; rereading the
  # directories every second costs executions for nothing.
  "$bin" -runs="$RUNS" -max_total_time="$MAX_TIME" -timeout=10 -rss_limit_mb=2048 -reload=0 \
    -print_final_stats=1 -artifact_prefix="$WORK/$t-artifacts/" \
    "$new" "$corpus" "$regress" >"$log" 2>&1 || rc=$?
  local secs=$((SECONDS - start))
  local execs rate
  execs=$(awk '/stat::number_of_executed_units:/ { print $2 }' "$log" | tail -1)
  rate=$(awk '/stat::average_exec_per_sec:/ { print $2 }' "$log" | tail -1)
  local crashes=0
  for a in "$WORK/$t-artifacts"/*; do
    [[ -e $a ]] || continue
    cp "$a" "$regress/"
    crashes=$((crashes + 1))
  done
  local added=0
  if [[ $MERGE == 1 ]]; then
    # Minimise: merge the corpus and the new inputs into a fresh directory, keeping a small
    # set of inputs that together reach every edge (-set_cover_merge, -use_counters=0: hit
    # counts would keep hundreds of near-copies per target, and every file costs a 4 KiB block
    # in the repository), then the corpus becomes the named seeds (kept as they are) plus
    # that set. Inputs over 64 KiB are not kept.
    local before min=$WORK/$t-min
    before=$(find "$corpus" -type f | wc -l)
    mkdir -p "$min"
    if "$bin" -set_cover_merge=1 -use_counters=0 -timeout=10 -rss_limit_mb=2048 "$min" "$corpus" "$new" \
         >"$WORK/$t-merge.log" 2>&1; then
      local seeds
      seeds=$(find "$corpus" -type f -regextype posix-extended ! -regex '.*/[0-9a-f]{40}' -exec sha1sum {} + | cut -d' ' -f1)
      find "$corpus" -type f -regextype posix-extended -regex '.*/[0-9a-f]{40}' -delete
      for f in "$min"/*; do
        [[ -f $f && $(stat -c %s "$f") -le 65536 ]] || continue
        grep -qx "$(basename "$f")" <<<"$seeds" || cp "$f" "$corpus/"
      done
    else
      echo "   $t: merge failed: $(tail -1 "$WORK/$t-merge.log")"
    fi
    added=$(( $(find "$corpus" -type f | wc -l) - before ))
  fi
  printf '%-26s %12s execs %8s exec/s %5ss  crashes %d  corpus %+d  (exit %d)\n' \
    "$t" "${execs:-?}" "${rate:-?}" "$secs" "$crashes" "$added" "$rc"
  if [[ $crashes -gt 0 || ( $rc -ne 0 && -z $execs ) ]]; then
    grep -m5 -E 'ERROR|SUMMARY|Test unit written' "$log" | sed 's/^/     /' || true
  fi
}

echo "== fuzzing ${#selected[@]} target(s): up to $RUNS executions or ${MAX_TIME}s each, $JOBS at a time"
running=0
for t in "${selected[@]}"; do
  fuzz_one "$t" &
  running=$((running + 1))
  if [[ $running -ge $JOBS ]]; then wait -n || true; running=$((running - 1)); fi
done
wait
rmdir tests/fuzz/regressions/* 2>/dev/null || true  # keep only directories with inputs
echo "== done; new regression inputs (if any) are in tests/fuzz/regressions/, replayed by ctest -L fuzz"
