#!/usr/bin/env bash
# busybox-image.sh - builds a small container image here, from the statically linked busybox
# of Debian's busybox-static, and loads it into a runtime. No registry, no network.
#
#   busybox-image.sh [--ref REF] [--entrypoint JSON] [--cmd JSON] TARGET...
#
#   --ref REF          image name (default localhost/busybox:latest)
#   --entrypoint JSON  e.g. '["/bin/sleep"]' (default none)
#   --cmd JSON         default '["/bin/sh"]'
#   TARGET             archive:FILE     write the image as a docker-archive (`docker save` layout)
#                      podman           podman load (storage as CONTAINERS_STORAGE_CONF selects)
#                      docker           docker load (the daemon DOCKER_HOST names)
#                      containerd:SOCK  ctr images import into namespace k8s.io (the CRI's)
#
# One archive serves all three runtimes: manifest.json, the image config (named by its
# sha256) and one uncompressed layer holding the rootfs. The rootfs: /bin/busybox plus a
# symlink in /bin for every applet, /etc/passwd and /etc/group with root, and empty /proc,
# /sys, /dev, /tmp (1777), /root, /run, /var/run and /www. Files are owned by 0:0 with
# mtime 0, so two builds give the same layer digest.
set -euo pipefail

REF=localhost/busybox:latest
ENTRYPOINT=null
CMD='["/bin/sh"]'
TARGETS=()
die() { echo "busybox-image.sh: $*" >&2; exit 1; }
while (($#)); do
  case $1 in
    --ref) REF=$2; shift ;;
    --entrypoint) ENTRYPOINT=$2; shift ;;
    --cmd) CMD=$2; shift ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    archive:* | podman | docker | containerd:*) TARGETS+=("$1") ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
((${#TARGETS[@]})) || die "no target (see --help)"
for t in jq sha256sum tar; do command -v "$t" >/dev/null || die "missing tool $t"; done

BUSYBOX=$(command -v busybox) || die "no busybox (apt-get install busybox-static)"
# Debian's plain `busybox` package is dynamically linked and would not run in the image.
linkage=$(LANG=C ldd "$BUSYBOX" 2>&1 || true)
[[ $linkage == *"not a dynamic executable"* ]] || die "$BUSYBOX is dynamically linked: install busybox-static"
case $(uname -m) in
  x86_64) ARCH=amd64 ;;
  aarch64) ARCH=arm64 ;;
  *) ARCH=$(uname -m) ;;
esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/km-busybox.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# ------------------------------------------------------------------ rootfs -> layer
R=$WORK/rootfs
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,tmp,root,run,var/run,www,usr/bin,usr/sbin}
chmod 1777 "$R/tmp"
cp "$BUSYBOX" "$R/bin/busybox"
# One symlink /bin/APPLET -> /bin/busybox per applet, made by busybox itself in one process.
chroot "$R" /bin/busybox --install -s /bin
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$R/etc/group"
mkdir -p "$WORK/image"
tar --sort=name --mtime=@0 --numeric-owner --owner=0 --group=0 -C "$R" -cf "$WORK/layer.tar" .
LAYER=$(sha256sum "$WORK/layer.tar" | cut -d' ' -f1)
mkdir -p "$WORK/image/$LAYER"
mv "$WORK/layer.tar" "$WORK/image/$LAYER/layer.tar"

# ------------------------------------------------------------------ config + manifest
jq -cn --arg arch "$ARCH" --arg layer "sha256:$LAYER" \
  --argjson ep "$ENTRYPOINT" --argjson cmd "$CMD" '{
    architecture: $arch, os: "linux",
    config: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
              Entrypoint: $ep, Cmd: $cmd, WorkingDir: "/" },
    rootfs: { type: "layers", diff_ids: [$layer] },
    history: [ { created_by: "keymesh tests/runtimes/busybox-image.sh" } ] }' >"$WORK/config.json"
CONFIG=$(sha256sum "$WORK/config.json" | cut -d' ' -f1)
mv "$WORK/config.json" "$WORK/image/$CONFIG.json"
jq -cn --arg c "$CONFIG.json" --arg ref "$REF" --arg l "$LAYER/layer.tar" \
  '[{ Config: $c, RepoTags: [$ref], Layers: [$l] }]' >"$WORK/image/manifest.json"
ARCHIVE=$WORK/image.tar
tar --sort=name --mtime=@0 --numeric-owner --owner=0 --group=0 -C "$WORK/image" -cf "$ARCHIVE" .

# ------------------------------------------------------------------ load
for t in "${TARGETS[@]}"; do
  case $t in
    archive:*) cp "$ARCHIVE" "${t#archive:}" ;;
    podman) timeout 120 podman load --quiet -i "$ARCHIVE" >/dev/null || die "podman load failed" ;;
    docker) timeout 120 docker load --quiet -i "$ARCHIVE" >/dev/null || die "docker load failed" ;;
    containerd:*)
      timeout 120 ctr --address "${t#containerd:}" --namespace k8s.io images import "$ARCHIVE" \
        >/dev/null || die "ctr images import failed"
      ;;
  esac
  echo "$t: $REF (layer sha256:${LAYER:0:12})"
done
