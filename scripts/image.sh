#!/usr/bin/env bash
# image.sh - builds the keymesh container image for the Kubernetes DaemonSet from an existing
# build, with Debian's umoci (no registry, no network, no daemon), as keymesh:<version> in an
# OCI archive.
#
#   bash scripts/image.sh [--build-dir DIR] [--out FILE] [--ref NAME:TAG]
#
#   --build-dir DIR  the CMake build to take the binaries from (default build/)
#   --out FILE       the OCI archive to write (default DIR/keymesh-<version>.oci.tar)
#   --ref NAME:TAG   the image's name (default keymesh:<version>, version from the build)
#
# The image: /usr/local/bin/keymeshd, keymesh and keymesh-cni (the paths the DaemonSet in
# deploy/kubernetes uses) copied from the build, the shared libraries they link (found with
# ldd, at the same paths as on this machine), coreutils' install(1), a shell and the basic
# tools from Debian's statically linked busybox (the DaemonSet's init container runs `sh -c 'install ... && mv
# ...'`), /etc/passwd and /etc/group. Files are owned by 0:0 with mtime 0.
#
# Load it with
#   podman load -i FILE                                   (named localhost/keymesh:<version>)
#   ctr -n k8s.io images import --base-name docker.io/library/keymesh --digests FILE
#     then: ctr -n k8s.io images tag docker.io/library/keymesh@sha256:... docker.io/library/keymesh:<version>
# docs/operations.md, "Container image", has the details.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$REPO/build
OUT=""
REF=""
die() { echo "image.sh: $*" >&2; exit 1; }
while (($#)); do
  case $1 in
    --build-dir) BUILD=$(cd "$2" && pwd); shift ;;
    --out) OUT=$2; shift ;;
    --ref) REF=$2; shift ;;
    -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
for t in umoci jq tar ldd strip; do
  command -v "$t" >/dev/null || die "missing tool $t (apt-get install umoci jq busybox-static)"
done
BINS=("$BUILD/daemon/keymeshd" "$BUILD/tools/keymesh" "$BUILD/cni/keymesh-cni")
for b in "${BINS[@]}"; do [[ -x $b ]] || die "$b is not built (cmake --build $BUILD)"; done
BUSYBOX=$(command -v busybox) || die "no busybox (apt-get install busybox-static)"
[[ $(LANG=C ldd "$BUSYBOX" 2>&1 || true) == *"not a dynamic executable"* ]] ||
  die "$BUSYBOX is dynamically linked: install busybox-static"

VERSION=$("${BINS[0]}" --version | awk '{print $NF}')
[[ $VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || die "cannot read the version from keymeshd --version"
REF=${REF:-keymesh:$VERSION}
OUT=${OUT:-$BUILD/keymesh-$VERSION.oci.tar}
case $(uname -m) in
  x86_64) ARCH=amd64 ;;
  aarch64) ARCH=arm64 ;;
  *) ARCH=$(uname -m) ;;
esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/km-image.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# ------------------------------------------------------------------ rootfs
R=$WORK/rootfs
mkdir -p "$R"/{bin,etc,proc,sys,dev,tmp,root,run/keymesh,var/lib/keymesh,etc/keymesh,usr/local/bin}
chmod 1777 "$R/tmp"
cp "$BUSYBOX" "$R/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [[ $applet == busybox ]] || ln -s busybox "$R/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$R/etc/group"
libs_of() {  # libs_of BINARY : every library at the path the loader was given (no ld.so.cache)
  local lib
  for lib in $(ldd "$1" | awk '/=> \//{print $3} /^\s*\/.*ld-linux/{print $1}'); do
    mkdir -p "$R$(dirname "$lib")"
    [[ -e $R$lib ]] || cp -L "$lib" "$R$lib"
  done
}
for b in "${BINS[@]}"; do
  install -m 0755 "$b" "$R/usr/local/bin/$(basename "$b")"
  strip --strip-unneeded "$R/usr/local/bin/$(basename "$b")"  # debug info stays in the build
  libs_of "$b"
done
# busybox has no `install` applet; the DaemonSet's init container uses it: coreutils' own.
mkdir -p "$R/usr/bin"
cp "$(command -v install)" "$R/usr/bin/install"
libs_of "$R/usr/bin/install"
# The loader's canonical path (/lib64/ld-linux-x86-64.so.2) must exist even where /lib64 is
# a symlink on the build machine.
interp=$(readelf -l "${BINS[0]}" 2>/dev/null | sed -n 's/.*interpreter: \(.*\)]/\1/p' || true)
if [[ -n $interp && ! -e $R$interp ]]; then mkdir -p "$R$(dirname "$interp")"; cp -L "$interp" "$R$interp"; fi
# Time zones for policy schedules (date library reads the system tzdata).
[[ -d /usr/share/zoneinfo ]] && mkdir -p "$R/usr/share" && cp -a /usr/share/zoneinfo "$R/usr/share/"

# ------------------------------------------------------------------ OCI layout with umoci
L=$WORK/oci
TAG=${REF##*:}
umoci init --layout "$L"
umoci new --image "$L:$TAG"
umoci insert --image "$L:$TAG" --history.created_by "keymesh scripts/image.sh" \
  --history.created "1970-01-01T00:00:00Z" "$R" /
umoci config --image "$L:$TAG" --created "1970-01-01T00:00:00Z" \
  --os linux --architecture "$ARCH" \
  --config.env "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --config.entrypoint /usr/local/bin/keymeshd --config.cmd --help \
  --config.workingdir / \
  --config.label "org.opencontainers.image.title=keymesh" \
  --config.label "org.opencontainers.image.version=$VERSION"
umoci gc --layout "$L"
# The full name in the index, so `podman load` names the image keymesh:<version>.
jq --arg ref "$REF" '.manifests[0].annotations["org.opencontainers.image.ref.name"] = $ref' \
  "$L/index.json" >"$WORK/index.json"
mv "$WORK/index.json" "$L/index.json"
mkdir -p "$(dirname "$OUT")"
tar --sort=name --mtime=@0 --numeric-owner --owner=0 --group=0 -C "$L" -cf "$OUT.tmp" .
mv "$OUT.tmp" "$OUT"
echo "$OUT: $REF ($(du -h "$OUT" | cut -f1), $(jq -r '.manifests[0].digest' "$L/index.json"))"
