#!/usr/bin/env bash
# dockerd.sh - runs Debian's dockerd 20.10 for a test, in the foreground (exec), with all its
# state in one directory and nothing that touches the host's network or firewall.
#
#   dockerd.sh DIR
#
# DIR/root (data root: images, containers), DIR/exec (exec root, with dockerd's own
# containerd), DIR/docker.sock (API; export DOCKER_HOST=unix://DIR/docker.sock),
# DIR/docker.pid, DIR/plugins (see below).
#
# Run it in a mount namespace of its own, e.g.
#   nsenter --net=/run/netns/NS unshare -m --propagation slave dockerd.sh DIR &
# dockerd only looks for legacy plugin sockets in /run/docker/plugins; this script
# bind-mounts DIR/plugins there, which is why it wants a private mount namespace: a test's
# plugin socket goes into DIR/plugins, and no other dockerd on the machine sees it.
#
# Flags, and why: --bridge none (no docker0 and no default bridge network on 172.17/16);
# --iptables/--ip6tables/--ip-forward/--ip-masq false (the namespace's firewall and sysctls
# stay as the test made them); vfs storage (nothing mounted under DIR that could outlive
# the daemon); cgroupfs (no systemd). SIGTERM stops its containers and its containerd.
set -euo pipefail

[[ $# -eq 1 ]] || { echo "usage: dockerd.sh DIR" >&2; exit 2; }
DIR=$(realpath -m "$1")
mkdir -p "$DIR/root" "$DIR/exec" "$DIR/plugins" /run/docker/plugins
if [[ $(readlink /proc/self/ns/mnt) == "$(readlink /proc/1/ns/mnt)" ]]; then
  echo "dockerd.sh: refusing to bind-mount over /run/docker/plugins in the host's mount" \
    "namespace (run it under unshare -m --propagation slave)" >&2
  exit 1
fi
mount --bind "$DIR/plugins" /run/docker/plugins
exec dockerd --data-root "$DIR/root" --exec-root "$DIR/exec" --pidfile "$DIR/docker.pid" \
  -H "unix://$DIR/docker.sock" --bridge none --iptables=false --ip6tables=false \
  --ip-forward=false --ip-masq=false --storage-driver vfs --exec-opt native.cgroupdriver=cgroupfs
