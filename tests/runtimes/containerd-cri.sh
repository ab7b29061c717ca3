#!/usr/bin/env bash
# containerd-cri.sh - a private containerd 1.6 whose CRI plugin runs pod sandboxes with CNI,
# for tests: it owns its root, state, socket and CNI directories and never touches
# /etc/containerd, /var/lib/containerd or Docker's containerd.
#
#   containerd-cri.sh conf DIR      write DIR/config.toml and the directories it names:
#                                     DIR/containerd.sock  the gRPC socket (CRI on it too)
#                                     DIR/cni-bin          CNI plugins: links to /usr/lib/cni/*;
#                                                          put yours here too
#                                     DIR/net.d            conflists; the CRI uses the first
#                                   start it with: containerd --config DIR/config.toml
#   containerd-cri.sh images SOCK   load localhost/busybox:latest and the sandbox ("pause")
#                                   image localhost/keymesh-pause:latest (busybox running
#                                   /bin/sleep) into the CRI's namespace k8s.io
#
# Drive the CRI with tests/runtimes/cri.py. Choices that matter on Debian 12 without
# CAP_SYS_RESOURCE: restrict_oom_score_adj (the sandbox asks for oom_score_adj -998, which
# fails, and then every RunPodSandbox fails after CNI ADD ran); runc with cgroupfs; one
# CNI bin_dir (containerd 1.6 takes a single directory); the streaming server on loopback
# with a random port; the snapshotters this machine cannot use disabled, so startup is quiet.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PAUSE=localhost/keymesh-pause:latest
die() { echo "containerd-cri.sh: $*" >&2; exit 1; }

conf() {
  local dir f
  dir=$(realpath -m "$1")
  mkdir -p "$dir/root" "$dir/state" "$dir/cni-bin" "$dir/net.d"
  for f in /usr/lib/cni/*; do [[ -e $dir/cni-bin/${f##*/} ]] || ln -s "$f" "$dir/cni-bin/"; done
  cat >"$dir/config.toml" <<EOF
# written by keymesh tests/runtimes/containerd-cri.sh
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = "$dir/containerd.sock"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = false

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "$dir/cni-bin"
  conf_dir = "$dir/net.d"
  max_conf_num = 1
EOF
}

images() {
  "$HERE/busybox-image.sh" "containerd:$1"
  "$HERE/busybox-image.sh" --ref "$PAUSE" --entrypoint '["/bin/sleep"]' --cmd '["2147483647"]' \
    "containerd:$1"
}

case ${1:-} in
  conf) [[ $# -eq 2 ]] || die "usage: containerd-cri.sh conf DIR"; conf "$2" ;;
  images) [[ $# -eq 2 ]] || die "usage: containerd-cri.sh images SOCK"; images "$2" ;;
  *) die "usage: containerd-cri.sh conf DIR | images SOCK" ;;
esac
