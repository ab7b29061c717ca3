#!/usr/bin/env bash
# bench-peers.sh - the newer benchmark peers from Debian sid, unpacked beside the system,
# never installed: wireguard-go (upstream v0.0.20250522, Debian 0.0.20260522-1) and
# nebula 1.11.0 (1.11.0+dfsg-1).
#
#   bash scripts/bench-peers.sh            # fetch what is missing, print KEY=PATH lines
#   bash scripts/bench-peers.sh --print    # print only; exit 1 if a peer is not cached
#
# apt runs with a state of its own under $CACHE/apt (sources list for sid on the mirror of
# the machine's own sources, lists, archives, an empty dpkg status): the system's sources,
# lists and installed packages are not touched and nothing is upgraded. Each .deb is fetched
# with `apt-get download` and unpacked with `dpkg-deb -x` into
# $CACHE/<package>-<debian version>/, which is reused when present. Prints
#   WIREGUARD_GO_SID=.../usr/bin/wireguard-go   NEBULA_SID=.../usr/bin/nebula
# for scripts/bench.sh (nebula-cert sits next to nebula, where the harness looks for it).
set -euo pipefail

CACHE=${KM_BENCH_PEERS_DIR:-/var/cache/keymesh/bench-peers}
# package, Debian version, what the binary's own version line must contain
PEERS=(
  "wireguard-go 0.0.20260522-1 v0.0.20250522"
  "nebula 1.11.0+dfsg-1 1.11.0"
)
PRINT_ONLY=0
[[ ${1:-} == --print ]] && PRINT_ONLY=1

peer_dir() { echo "$CACHE/$1-$2"; }
peer_bin() { echo "$(peer_dir "$1" "$2")/usr/bin/$1"; }
peer_version() {  # PKG BIN: the binary's own version line
  case $1 in
    wireguard-go) "$2" --version 2>&1 | awk 'NF { print; exit }' ;;
    nebula) "$2" -version 2>&1 | awk '/Version/ { print $2; exit }' ;;
  esac
}

print_paths() {
  local line pkg ver key
  for line in "${PEERS[@]}"; do
    read -r pkg ver _ <<<"$line"
    [[ -x $(peer_bin "$pkg" "$ver") ]] || { echo "bench-peers: $pkg $ver is not in $CACHE" >&2; return 1; }
    key=${pkg^^}; key=${key//-/_}_SID
    echo "$key=$(peer_bin "$pkg" "$ver")"
  done
}

if ((PRINT_ONLY)); then print_paths; exit; fi

missing=()
for line in "${PEERS[@]}"; do
  read -r pkg ver _ <<<"$line"
  [[ -x $(peer_bin "$pkg" "$ver") ]] || missing+=("$line")
done

if ((${#missing[@]})); then
  source "$(dirname "$0")/lib/root.sh"
  need_root "$@"
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
    { echo "bench-peers: needs apt-get and dpkg-deb (Debian)" >&2; exit 1; }
  # The mirror of the machine's own Debian sources (deb822 or one-line), else deb.debian.org.
  mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -1 | tr -d ' ' || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  mirror=${mirror%/}
  APT=$CACHE/apt
  mkdir -p "$APT/lists/partial" "$APT/archives/partial" "$APT/etc/none"
  cat >"$APT/etc/sid.sources" <<EOF
Types: deb
URIs: $mirror
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  : >"$APT/etc/status"
  opts=(-o "Dir::Etc::SourceList=$APT/etc/sid.sources" -o "Dir::Etc::SourceParts=$APT/etc/none"
    -o "Dir::State::Lists=$APT/lists" -o "Dir::State::Status=$APT/etc/status"
    -o "Dir::Cache=$APT" -o "Dir::Cache::Archives=$APT/archives"
    -o "Dir::Etc::Preferences=$APT/etc/preferences" -o "Dir::Etc::PreferencesParts=$APT/etc/none"
    -o Debug::NoLocking=1 -o APT::Sandbox::User=root -o "APT::Architecture=$(dpkg --print-architecture)")
  echo "bench-peers: apt-get update (sid from $mirror, private state in $APT)" >&2
  timeout 600 apt-get "${opts[@]}" -q update >&2
  for line in "${missing[@]}"; do
    read -r pkg ver want <<<"$line"
    cand=$(apt-cache "${opts[@]}" policy "$pkg" | awk '/Candidate:/ { print $2 }')
    if [[ $cand != "$ver" ]]; then
      echo "bench-peers: sid offers $pkg '${cand:-none}', not $ver; update PEERS in $0" >&2
      exit 1
    fi
    dl=$(mktemp -d "$APT/dl.XXXXXX")
    (cd "$dl" && timeout 600 apt-get "${opts[@]}" -q download "$pkg=$ver" >&2)
    dir=$(peer_dir "$pkg" "$ver")
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    dpkg-deb -x "$dl"/"${pkg}"_*.deb "$dir.tmp"
    cp "$dl"/"${pkg}"_*.deb "$dir.tmp/"
    rm -rf "$dl"
    got=$(peer_version "$pkg" "$dir.tmp/usr/bin/$pkg")
    [[ $got == *"$want"* ]] || { echo "bench-peers: $pkg $ver says '$got', expected $want" >&2; exit 1; }
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
    echo "bench-peers: $pkg $ver ($got) in $dir" >&2
  done
fi
print_paths
