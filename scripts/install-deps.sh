#!/usr/bin/env bash
# install-deps.sh - install everything keymesh needs to build, test and benchmark (Debian 12).
# --bench also fetches the sid benchmark peers (scripts/bench-peers.sh).
# Idempotent: packages already installed are left alone; apt-get update runs only when
# something is missing. Needs root. --no-install-recommends keeps recommends (e.g. a kernel
# pulled in by wireguard) off the machine.
set -euo pipefail

PKGS=(
  # toolchain and build (ccache: scripts/test.sh caches compiles under /var/cache/keymesh)
  build-essential cmake ninja-build pkg-config g++ ccache
  # time: IANA zones for policy schedules; faketime runs the calendar stage 400 days ahead
  tzdata faketime
  # libraries
  libsodium-dev libb2-dev libuv1-dev libprotobuf-dev protobuf-compiler libspdlog-dev
  libfmt-dev libboost-test-dev libyaml-cpp-dev libcli11-dev libmnl-dev
  libhowardhinnant-date-dev nlohmann-json3-dev libsqlite3-dev libcurl4-openssl-dev
  libmicrohttpd-dev
  # the data-path AEAD where OpenSSL 3 measures faster than libsodium (crypto/aead.h)
  libssl-dev
  # optional masquerade on a gateway (config masquerade:): nftables through its own library
  libnftables-dev nftables   # nft: the masquerade netns test reads the table back
  # fuzzing (libFuzzer + sanitizer runtimes)
  clang-19 libclang-rt-19-dev
  # llvm-symbolizer-19: file:line in sanitizer reports (clang-19's runtimes find no symbolizer
  # on their own here, and a TSan report of bare addresses is hard to act on)
  llvm-19
  # netns tests, interop, benchmark
  wireguard-go wireguard-tools iproute2 iputils-ping iperf3 jq tcpdump ethtool procps
  python3 nebula util-linux coreutils curl
  # discovery: the etcd backend's netns test runs a real etcd
  etcd-server etcd-client
  # CNI plugin tests: Debian's reference plugins (portmap, bandwidth) chained after keymesh-cni
  containernetworking-plugins iptables
  # sites_mesh.sh: a relay that rewrites a byte of what it forwards (nft payload statement)
  nftables
  # CNI with real runtimes (setups in tests/runtimes): podman (CNI backend, runc),
  # containerd's CRI driven by tests/runtimes/cri.py (python3-grpcio, python3-protobuf and
  # protoc for its messages), busybox-static for a local image; the Docker driver's tests
  # run a real dockerd (docker.io)
  podman runc containerd python3-grpcio python3-protobuf busybox-static docker.io
  # metrics: tests/netns/metrics_prometheus.sh runs its own Prometheus (loopback, in a netns)
  # and promtool checks deploy/prometheus/keymesh-alerts.yml; the package's service is
  # stopped and disabled below, the tests never use it
  prometheus
  # packaging (docs/operations.md): the .deb's Depends (dpkg-shlibdeps in dpkg-dev), the unit
  # check (systemd-analyze in systemd), the OCI image (scripts/image.sh)
  dpkg-dev fakeroot systemd umoci binutils
  # Kubernetes under a real kubelet (tests/kubernetes): build-k8s.sh builds v1.20.2 from
  # Debian's source package with upstream's Makefile (make, rsync); openssl makes the
  # cluster's PKI; unshare (util-linux) gives the cluster a private mount namespace
  make rsync openssl
)

source "$(dirname "$0")/lib/root.sh"
need_root "$@"

# --bench: also the newer benchmark peers from sid, unpacked under /var/cache/keymesh
# (scripts/bench-peers.sh; never installed into the system)
if [[ ${1:-} == --bench ]]; then
  trap '[[ $? -ne 0 ]] || bash "$(dirname "$0")/bench-peers.sh" >/dev/null' EXIT
fi

missing=()
for p in "${PKGS[@]}"; do
  if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#PKGS[@]} packages already installed"
  exit 0
fi

echo "install-deps: missing: ${missing[*]}"
echo "install-deps: apt-get update"
timeout 600 apt-get update -q
# Report names the archive does not know (clearer than apt-get's error).
unknown=()
for p in "${missing[@]}"; do
  cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/{print $2}')
  if [[ -z "$cand" || "$cand" == "(none)" ]]; then
    unknown+=("$p")
  fi
done
if [[ ${#unknown[@]} -gt 0 ]]; then
  echo "install-deps: no installable candidate for: ${unknown[*]}" >&2
  exit 1
fi
echo "install-deps: apt-get install -y --no-install-recommends ${missing[*]}"
DEBIAN_FRONTEND=noninteractive timeout 1500 apt-get install -y -q --no-install-recommends "${missing[@]}"
# Debian starts prometheus.service on install; nothing here wants a server on :9090.
if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null &&
   [[ -d /run/systemd/system ]]; then
  systemctl disable --now prometheus.service || true
fi
echo "install-deps: done"
