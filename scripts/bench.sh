#!/usr/bin/env bash
# bench.sh - keymesh against the raw veth, wireguard-go and nebula on this machine, using
# shared/bench/overlay-bench.sh (interleaved rounds, median [min-max] and per-round ratios).
#   sudo bash scripts/bench.sh [--repeat N] [--out FILE.jsonl] [more overlay-bench.sh options]
# Defaults: --modes raw,wireguard-go,nebula,cmd --repeat 3, results appended to
# build/bench/overlay-<time>.jsonl and the printed table saved beside it (.txt).
# Builds keymeshd/keymesh into build/ first if they are missing. Takes ~2 min per round.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
export KEYMESH_BUILD_DIR=${KEYMESH_BUILD_DIR:-$REPO/build}
HARNESS=$(realpath -m "${OVERLAY_BENCH:-$REPO/../shared/bench/overlay-bench.sh}")
CMD=$REPO/tests/bench/overlay-cmd.sh

if [[ $(id -u) -ne 0 ]]; then echo "bench.sh needs root: sudo bash $0 $*" >&2; exit 1; fi
[[ -f $HARNESS ]] || { echo "overlay-bench.sh not found at $HARNESS (set OVERLAY_BENCH)" >&2; exit 1; }

REPEAT=3
OUT=""
MODES=raw,wireguard-go,nebula,cmd
extra=()
while (($#)); do
  case $1 in
    --repeat) REPEAT=$2; shift ;;
    --out) OUT=$2; shift ;;
    --modes) MODES=$2; shift ;;
    *) extra+=("$1") ;;
  esac
  shift
done
[[ -n $OUT ]] || OUT=$REPO/build/bench/overlay-$(date +%Y%m%d-%H%M%S).jsonl
mkdir -p "$(dirname "$OUT")"

if [[ ! -x $KEYMESH_BUILD_DIR/daemon/keymeshd || ! -x $KEYMESH_BUILD_DIR/tools/keymesh ]]; then
  echo "== building keymeshd + keymesh into $KEYMESH_BUILD_DIR"
  bash "$REPO/scripts/install-deps.sh"
  cmake -S "$REPO" -B "$KEYMESH_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
  cmake --build "$KEYMESH_BUILD_DIR" -j"${KM_JOBS:-2}" --target keymeshd keymesh
fi

version=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "== overlay-bench: modes $MODES, $REPEAT rounds, results -> $OUT"
bash "$HARNESS" --modes "$MODES" --repeat "$REPEAT" --out "$OUT" \
  --cmd-name keymesh --cmd-version "$version" \
  --cmd-setup "$CMD" --cmd-a "exec $CMD" --cmd-b "exec $CMD" \
  "${extra[@]}" 2>&1 | tee "${OUT%.jsonl}.txt"
rc=${PIPESTATUS[0]}
echo "== results: $OUT (table: ${OUT%.jsonl}.txt; again: $HARNESS --summarize $OUT)"
exit "$rc"
