#!/usr/bin/env bash
# build-k8s.sh: builds the Kubernetes server binaries the kubernetes tests run under, once, into
# a cache keyed by version, and reuses the cache when it is complete.
#
#   bash tests/kubernetes/build-k8s.sh            build (or reuse) and print the bin directory
#   bash tests/kubernetes/build-k8s.sh --check    exit 0 if the cache is complete, 1 if not
#
# Result: $KEYMESH_K8S_CACHE/k8s-v1.20.2/bin/{kube-apiserver,kubelet,kubectl,kube-controller-manager,
# kube-scheduler,kube-proxy} (default cache root /var/cache/keymesh). A file "complete" next to
# bin/ marks a finished build; a binary missing from it (a cache made before kube-proxy was
# added) is built alone, anything less than that is built again.
#
# Where the parts come from (only Debian's archive is reachable from our machines and CI):
#   * Kubernetes v1.20.2: Debian bookworm's `kubernetes` SOURCE package (1.20.5+really1.20.2-...),
#     whose orig tarball is the upstream v1.20.2 tree including vendor/, so it builds offline.
#     Debian builds only kubectl from it; we build the server parts ourselves.
#   * Go 1.15: bullseye's golang-1.15-go/-src .debs, unpacked with dpkg-deb -x into the cache and
#     never installed (v1.20 was released with Go 1.15; newer Go breaks some of its vendored code).
# The extra apt sources (deb-src bookworm, deb bullseye) live in a private apt directory inside
# the cache, so the machine's own sources, lists and installed packages are not touched and
# nothing is upgraded. Root is needed only to write the cache directory.
#
# Cost on a 2-core machine: about 6-8 minutes of both cores when nothing else runs (much longer
# beside other builds: it is CPU-bound), ~3 GB of disk while building, ~300 MB kept.
# Environment: KEYMESH_K8S_CACHE (cache root), K8S_BUILD_JOBS (go build -p, default: nproc).
set -euo pipefail

K8S_VERSION=v1.20.2
K8S_COMMIT=faecb196815e248d3ecfb03c680a4507229c2a56
K8S_DEB_VERSION=1.20.5+really1.20.2-1.1+deb12u1
GO_DEB_VERSION=1.15.15-1~deb11u4
ROOT=${KEYMESH_K8S_CACHE:-/var/cache/keymesh}
DIR=$ROOT/k8s-$K8S_VERSION
BIN=$DIR/bin
WORK=$DIR/work                  # sources, toolchain, Go caches: removed after a good build
BINARIES="kube-apiserver kubelet kubectl kube-controller-manager kube-scheduler kube-proxy"

log() { printf '[build-k8s %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

complete() {
  [ -f "$DIR/complete" ] || return 1
  local b; for b in $BINARIES; do [ -x "$BIN/$b" ] || return 1; done
}
if [ "${1:-}" = --check ]; then complete; exit; fi
if complete; then log "cached: $BIN"; echo "$BIN"; exit 0; fi
[ "$(id -u)" = 0 ] || die "needs root (writes $ROOT and runs apt-get)"
mkdir -p "$WORK" "$BIN"
exec 9>"$DIR/.lock"
flock 9                          # two callers at once: the second waits and then reuses
if complete; then echo "$BIN"; exit 0; fi

# ---- the host tools the build needs (installed from the machine's own sources, no upgrade)
need=""
for p in make rsync dpkg-dev curl ca-certificates; do dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"; done
if [ -n "$need" ]; then
  log "apt-get install$need"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need >/dev/null \
    || { apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need >/dev/null; }
fi

# ---- private apt for the two extra sources
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
mirror=${DEBIAN_MIRROR:-${mirror:-http://deb.debian.org/debian}}
A=$WORK/apt
mkdir -p "$A/lists/partial" "$A/archives/partial" "$A/sources.d" "$A/prefs.d"
printf 'deb-src %s bookworm main\ndeb-src %s bookworm-updates main\ndeb %s bullseye main\n' \
  "$mirror" "$mirror" "$mirror" > "$A/sources.list"
apt_private() {
  timeout 900 apt-get -q \
    -o Dir::Etc::SourceList="$A/sources.list" -o Dir::Etc::SourceParts="$A/sources.d" \
    -o Dir::State::Lists="$A/lists" -o Dir::Cache="$A" -o Dir::Cache::archives="$A/archives" \
    -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$A/prefs.d" \
    -o APT::Sandbox::User=root "$@"
}
SRC=$WORK/src/kubernetes-1.20.2
GOROOT_DIR=$WORK/go/usr/lib/go-1.15
updated=0
if [ ! -f "$SRC/go.mod" ]; then
  mkdir -p "$WORK/src"
  if ! ls "$WORK"/src/kubernetes_*.orig.tar.gz >/dev/null 2>&1; then
    log "apt-get source kubernetes=$K8S_DEB_VERSION"
    apt_private update >/dev/null; updated=1
    (cd "$WORK/src" && { apt_private source --download-only "kubernetes=$K8S_DEB_VERSION" >/dev/null \
       || apt_private source --download-only kubernetes >/dev/null; })
  fi
  orig=$(ls "$WORK"/src/kubernetes_*really1.20.2*.orig.tar.gz 2>/dev/null | head -1)
  [ -n "$orig" ] || die "no kubernetes 1.20.2 source tarball in $WORK/src"
  log "unpacking $(basename "$orig")"
  tar -C "$WORK/src" -xzf "$orig"
  [ -f "$SRC/go.mod" ] || die "unexpected tarball layout (no $SRC/go.mod)"
fi
if [ ! -x "$GOROOT_DIR/bin/go" ]; then
  mkdir -p "$WORK/debs" "$WORK/go"
  if ! ls "$WORK"/debs/golang-1.15-go_*.deb "$WORK"/debs/golang-1.15-src_*.deb >/dev/null 2>&1; then
    [ $updated = 1 ] || apt_private update >/dev/null
    (cd "$WORK/debs" && { apt_private download "golang-1.15-go=$GO_DEB_VERSION" "golang-1.15-src=$GO_DEB_VERSION" >/dev/null \
       || apt_private download golang-1.15-go golang-1.15-src >/dev/null; })
  fi
  for f in "$WORK"/debs/golang-1.15-go_*.deb "$WORK"/debs/golang-1.15-src_*.deb; do dpkg-deb -x "$f" "$WORK/go"; done
fi
export GOROOT=$GOROOT_DIR PATH=$GOROOT_DIR/bin:$PATH
export GOPATH=$WORK/gopath GO111MODULE=off GOFLAGS= GOPROXY=off GOCACHE=$WORK/gocache
mkdir -p "$GOPATH/src/k8s.io"
ln -sfn "$SRC" "$GOPATH/src/k8s.io/kubernetes"
go version >&2

# ---- generated code the tarball lacks: the OpenAPI definitions kube-apiserver and the
# controller-manager compile in (kube-proxy alone does not need them)
if [ ! -s "$SRC/pkg/generated/openapi/zz_generated.openapi.go" ] &&
   { [ ! -x "$BIN/kube-apiserver" ] || [ ! -x "$BIN/kube-controller-manager" ]; }; then
  log "make gen_openapi"
  [ -d "$SRC/_output/bin/" ] && find "$SRC/_output/bin/" -type f -size 0 -delete
  (cd "$SRC" && env -u GOPATH -u GOCACHE make gen_openapi KUBE_VERBOSE=0 >"$WORK/gen_openapi.log" 2>&1) \
    || { tail -30 "$WORK/gen_openapi.log" >&2; die "gen_openapi failed"; }
fi

jobs=${K8S_BUILD_JOBS:-$(nproc)}
vpkg=k8s.io/kubernetes/vendor/k8s.io
ld="-s -w -buildid="
for kv in "gitVersion=$K8S_VERSION" "gitCommit=$K8S_COMMIT" "gitTreeState=archive" "gitMajor=1" "gitMinor=20" \
          "buildDate=2021-01-13T13:20:00Z"; do     # fixed (upstream's release date): reproducible
  ld="$ld -X $vpkg/client-go/pkg/version.$kv -X $vpkg/component-base/version.$kv"
done
for b in $BINARIES; do
  [ -x "$BIN/$b" ] && continue
  t0=$(date +%s)
  for cgo in 0 1; do             # static first; the kubelet may need cgo on some hosts
    (cd "$GOPATH/src/k8s.io/kubernetes" && CGO_ENABLED=$cgo go build -p "$jobs" -trimpath \
       -tags 'selinux notest' -ldflags "$ld" -o "$BIN/$b.tmp" "k8s.io/kubernetes/cmd/$b") && break
    [ $cgo = 1 ] && die "go build $b failed"
  done
  mv "$BIN/$b.tmp" "$BIN/$b"
  log "built $b in $(( $(date +%s) - t0 )) s"
done
"$BIN/kubectl" version --client --short >&2 || true
date -u +%FT%TZ > "$DIR/complete"
# keep the binaries (~350 MB); drop sources, toolchain and build cache (~3 GB) unless asked
[ "${K8S_KEEP_WORK:-0}" = 1 ] || rm -rf --one-file-system "$WORK"
log "done: $BIN"
echo "$BIN"
