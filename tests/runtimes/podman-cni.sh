#!/usr/bin/env bash
# podman-cni.sh - a private configuration for podman 4.3 with its CNI backend, so a test can
# run containers without reading or writing /etc/containers, /etc/cni/net.d or podman's
# default storage.
#
#   podman-cni.sh DIR --net-dir D [--plugin-dir P]...
#
# Writes DIR/containers.conf and DIR/storage.conf and prints the two variables to export:
#   CONTAINERS_CONF=DIR/containers.conf CONTAINERS_STORAGE_CONF=DIR/storage.conf
# --net-dir: where podman looks for *.conflist files (a network exists once its file does).
# --plugin-dir: searched for CNI plugin binaries in the order given, before /usr/lib/cni.
#
# What it pins, and why (Debian 12, no systemd, hybrid cgroups, no CAP_SYS_RESOURCE):
#   runtime runc          crun 1.8 refuses to start while cgroup2 holds a controller
#                         (hugetlb on these machines) next to the v1 hierarchies
#   cgroupfs, file events there is no systemd to ask
#   default_ulimits       podman asks for nofile=1048576 by default; without
#                         CAP_SYS_RESOURCE a container cannot exceed the caller's hard limits,
#                         so ask for min(hard limit, 4096)
#   lock_type file        locks live under DIR, not in the /dev/shm segment every other
#                         podman on the machine shares (a fresh tmp_dir makes podman
#                         "refresh", which would reset those shared locks)
#   storage vfs in DIR    nothing mounted that could outlive the test; the image is
#                         loaded with busybox-image.sh for every run
#   default_subnet        198.18.255.0/24, never podman's 10.88.0.0/16, should anything
#                         run without --network
set -euo pipefail

die() { echo "podman-cni.sh: $*" >&2; exit 1; }
[[ $# -ge 1 && $1 != -* ]] || die "usage: podman-cni.sh DIR --net-dir D [--plugin-dir P]..."
DIR=$(realpath -m "$1")
shift
NET_DIR=""
PLUGIN_DIRS=()
while (($#)); do
  case $1 in
    --net-dir) NET_DIR=$(realpath -m "$2"); shift ;;
    --plugin-dir) PLUGIN_DIRS+=("$(realpath -m "$2")"); shift ;;
    *) die "unknown argument '$1'" ;;
  esac
  shift
done
[[ -n $NET_DIR ]] || die "--net-dir is required"
PLUGIN_DIRS+=(/usr/lib/cni)

hard_limit() {  # hard_limit "Max open files" : the hard limit, at most 4096
  awk -v k="$1" 'index($0, k) == 1 { v = $(NF - 1); if (v == "unlimited" || v > 4096) v = 4096; print v }' \
    /proc/self/limits
}
toml_list() {  # toml_list A B ... -> ["A", "B"]
  local out="" x
  for x in "$@"; do out+="${out:+, }\"$x\""; done
  echo "[$out]"
}

mkdir -p "$DIR/storage" "$DIR/run" "$DIR/tmp" "$NET_DIR"
nofile=$(hard_limit "Max open files")
nproc=$(hard_limit "Max processes")
cat >"$DIR/containers.conf" <<EOF
# written by keymesh tests/runtimes/podman-cni.sh
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$DIR/tmp/events.log"
lock_type = "file"
tmp_dir = "$DIR/tmp"

[network]
network_backend = "cni"
cni_plugin_dirs = $(toml_list "${PLUGIN_DIRS[@]}")
network_config_dir = "$NET_DIR"
default_subnet = "198.18.255.0/24"
EOF
cat >"$DIR/storage.conf" <<EOF
# written by keymesh tests/runtimes/podman-cni.sh
[storage]
driver = "vfs"
graphroot = "$DIR/storage"
runroot = "$DIR/run"
EOF
echo "CONTAINERS_CONF=$DIR/containers.conf CONTAINERS_STORAGE_CONF=$DIR/storage.conf"
