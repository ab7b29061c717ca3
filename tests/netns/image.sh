#!/usr/bin/env bash
# image.sh (test) - scripts/image.sh builds keymesh:<version> as an OCI archive from this build
# with umoci, and the image runs: loaded into a private podman store (tests/runtimes/
# podman-cni.sh: runc, vfs, everything under the scratch dir), `keymeshd --version` and
# `keymesh-cni` VERSION run inside it, with no network (--network none) in a namespace of ours.
#
#   ns ...-img (podman runs here, nsenter --net; the container has no network at all)
#
# Scenarios:
# 1. scripts/image.sh writes an OCI archive whose index names keymesh:<version> and whose
#    config has entrypoint /usr/local/bin/keymeshd (the DaemonSet's paths).
# 2. podman load names it localhost/keymesh:<version>; `podman run ... keymeshd --version`
#    prints the same version as the build's keymeshd; the CNI plugin answers VERSION and the
#    init container's `sh -c 'install ... && mv ...'` works in it.
KM_DEADLINE=${KM_DEADLINE:-170}
source "$(dirname "$0")/lib.sh"
need umoci jq podman runc nsenter busybox
RUNTIMES=${KM_RUNTIMES_DIR:-$KM_REPO/tests/runtimes}

# 1. the archive
version=$("$(binary keymeshd)" --version) || fail "keymeshd --version"
version=${version##* }
ARCHIVE=$KM_TMP/keymesh.oci.tar
bash "$KM_REPO/scripts/image.sh" --build-dir "$KM_BUILD_DIR" --out "$ARCHIVE" >"$KM_TMP/image.log" 2>&1 ||
  { cat "$KM_TMP/image.log" >&2; fail "1. scripts/image.sh failed"; }
mkdir "$KM_TMP/layout"
tar -xf "$ARCHIVE" -C "$KM_TMP/layout"
ref=$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' "$KM_TMP/layout/index.json")
[[ $ref == "keymesh:$version" ]] || fail "1. the index names '$ref', not keymesh:$version"
manifest=$(jq -r '.manifests[0].digest | sub("sha256:"; "")' "$KM_TMP/layout/index.json")
config=$(jq -r '.config.digest | sub("sha256:"; "")' "$KM_TMP/layout/blobs/sha256/$manifest")
entry=$(jq -c '.config.Entrypoint' "$KM_TMP/layout/blobs/sha256/$config")
[[ $entry == '["/usr/local/bin/keymeshd"]' ]] || fail "1. entrypoint $entry"
log "1. $(tail -1 "$KM_TMP/image.log")"

# 2. it runs
make_host img 198.18.0.60
PODMAN_ENV=$(bash "$RUNTIMES/podman-cni.sh" "$KM_TMP/podman" --net-dir "$KM_TMP/net.d") ||
  fail "podman-cni.sh failed"
pm() { env $PODMAN_ENV timeout 60 nsenter --net="/run/netns/$(nsname img)" podman "$@" 2>>"$KM_TMP/podman.err"; }
pm load -i "$ARCHIVE" >"$KM_TMP/load.log" || fail "2. podman load failed: $(tail -3 "$KM_TMP/podman.err")"
pm image exists "localhost/keymesh:$version" || fail "2. podman has no localhost/keymesh:$version: $(cat "$KM_TMP/load.log")"
out=$(pm run --rm --network none "keymesh:$version" --version) ||
  fail "2. podman run keymeshd --version failed: $(tail -5 "$KM_TMP/podman.err")"
[[ $out == "keymeshd $version" ]] || fail "2. the image's keymeshd says '$out'"
cni=$(pm run --rm --network none --entrypoint /bin/sh "keymesh:$version" -c \
  'CNI_COMMAND=VERSION /usr/local/bin/keymesh-cni </dev/null && mkdir -p /tmp/bin &&
   install -m 0755 /usr/local/bin/keymesh-cni /tmp/bin/.k && mv -f /tmp/bin/.k /tmp/bin/keymesh &&
   /usr/local/bin/keymesh --help >/dev/null && echo installed' 2>&1) ||
  fail "2. the init container's commands failed in the image: $cni"
[[ $cni == *cniVersion* && $cni == *installed ]] || fail "2. unexpected output: $cni"
pm rmi -f "localhost/keymesh:$version" >/dev/null || true
log "2. podman: localhost/keymesh:$version runs '$out'; keymesh-cni answers VERSION; install + mv work"
