#!/usr/bin/env bash
# bench.sh - keymesh against the raw veth, wireguard-go and nebula on this machine, in one
# run of the project's harness bench/overlay-bench.sh (interleaved rounds, median [min-max],
# per-round ratios; bench/README.md says what it measures). The peers are the Debian 12
# packages and, beside them, wireguard-go v0.0.20250522 and nebula 1.11.0 from sid
# (scripts/bench-peers.sh unpacks them under /var/cache/keymesh/bench-peers, never installs).
#   bash scripts/bench.sh [--repeat N] [--out FILE.jsonl] [more overlay-bench.sh options]
# Defaults: --repeat 3, rows appended to build/bench/overlay-<time>.jsonl and everything
# printed saved beside it (.txt). Builds keymeshd and keymesh into build/ first if either is
# missing. About 40 s per mode per round, so ~12 min for the six modes and 3 rounds.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
export KEYMESH_BUILD_DIR=${KEYMESH_BUILD_DIR:-$REPO/build}

source "$REPO/scripts/lib/root.sh"
need_root "$@"

REPEAT=3
OUT=""
rest=()
while (($#)); do
  case $1 in
    --repeat) REPEAT=${2:?--repeat needs a value}; shift ;;
    --out) OUT=${2:?--out needs a value}; shift ;;
    *) rest+=("$1") ;;
  esac
  shift
done
[[ -n $OUT ]] || OUT=$REPO/build/bench/overlay-$(date -u +%Y%m%d-%H%M%S).jsonl
mkdir -p "$(dirname "$OUT")"

if [[ ! -x $KEYMESH_BUILD_DIR/daemon/keymeshd || ! -x $KEYMESH_BUILD_DIR/tools/keymesh ]]; then
  echo "== building keymeshd + keymesh into $KEYMESH_BUILD_DIR"
  bash "$REPO/scripts/install-deps.sh"
  cmake -S "$REPO" -B "$KEYMESH_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
  cmake --build "$KEYMESH_BUILD_DIR" -j"${KM_JOBS:-2}" --target keymeshd keymesh
fi

# Unless --modes is given: the Debian 12 peers and the newer ones from sid side by side (the
# sid ones fetched once into /var/cache/keymesh/bench-peers by scripts/bench-peers.sh).
modes=()
if [[ " ${rest[*]-} " != *" --modes "* ]]; then
  peers=$(bash "$REPO/scripts/bench-peers.sh") || { echo "bench.sh: could not fetch the sid peers" >&2; exit 1; }
  WIREGUARD_GO_SID=$(sed -n 's/^WIREGUARD_GO_SID=//p' <<<"$peers")
  NEBULA_SID=$(sed -n 's/^NEBULA_SID=//p' <<<"$peers")
  modes=(--modes "raw,wireguard-go,wireguard-go@$WIREGUARD_GO_SID,nebula,nebula@$NEBULA_SID,keymesh")
fi

set +e
bash "$REPO/bench/overlay-bench.sh" --repeat "$REPEAT" --out "$OUT" "${modes[@]}" "${rest[@]}" 2>&1 | tee "${OUT%.jsonl}.txt"
rc=${PIPESTATUS[0]}
echo "== rows: $OUT; printed output: ${OUT%.jsonl}.txt; the table again: bench/overlay-bench.sh --summarize $OUT"
exit "$rc"
