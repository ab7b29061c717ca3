#!/usr/bin/env bash
# keymesh-sign-node.sh - the operator's half of the per-node node-CA bootstrap (README.md,
# "Node CAs, one per node"). Run it where the root CA key is, with kubectl access:
#
#   keymesh-sign-node.sh --root-crt root.crt --root-key root.key [options] NODE...
#     --lifetime D          node CA validity (default 720h)
#     --max-lifetime D      longest workload certificate it may issue (default 48h)
#     --groups GLOBS        groups it may give workloads (default 'k8s,ns-*,sa-*')
#     --labels KEYS         labels it may give workloads (default '*': any; pods carry their
#                           own labels verbatim besides keymesh's k8s:* ones, so list the
#                           keys your pods use to narrow it, e.g. 'k8s:*,k8s.*,app,tier';
#                           KEY=GLOB|GLOB bounds values, e.g.
#                           'k8s:spiffe=spiffe://cluster.local/*'. A pod with a label outside
#                           it is refused at CNI ADD with an error naming the constraint)
#     --namespace NS        where the DaemonSet runs (default keymesh-system)
#     --keymesh PATH        the keymesh CLI (default: keymesh in PATH)
#
# For each NODE it reads the node CA request that the node's keymesh pod made (its node-ca init
# container: a self-signed certificate naming the node's host name and holding the public key;
# the private key stays on the node), reads the Node's spec.podCIDR from the API server, signs a
# node CA for that public key constrained to exactly that pod CIDR, to names "<host name>/*"
# (what the shipped conflist's identity template yields on that node), to the given groups,
# labels and lifetime, to workload and node certificates (the node's own is "<host>/node",
# without networks), and hands the certificate to the waiting init
# container. It refuses a node without spec.podCIDR and a request whose name is not a plain
# host name. Re-run it to renew (the pod keeps its key; restart the pod afterwards).
set -euo pipefail
ROOT_CRT="" ROOT_KEY="" LIFETIME=720h MAXLIFE=48h WL_GROUPS='k8s,ns-*,sa-*' LABELS='*'
NS=keymesh-system KM=keymesh KUBECTL=${KUBECTL:-kubectl}
die() { echo "keymesh-sign-node.sh: $*" >&2; exit 1; }
nodes=()
while (($#)); do
  case $1 in
    --root-crt) ROOT_CRT=$2; shift ;;
    --root-key) ROOT_KEY=$2; shift ;;
    --lifetime) LIFETIME=$2; shift ;;
    --max-lifetime) MAXLIFE=$2; shift ;;
    --groups) WL_GROUPS=$2; shift ;;
    --labels) LABELS=$2; shift ;;
    --namespace) NS=$2; shift ;;
    --keymesh) KM=$2; shift ;;
    -h | --help) sed -n '2,27p' "$0"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) nodes+=("$1") ;;
  esac
  shift
done
[[ -n $ROOT_CRT && -n $ROOT_KEY ]] || die "--root-crt and --root-key are required"
((${#nodes[@]})) || die "name at least one node"
command -v jq >/dev/null || die "jq is needed"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
kc() { timeout 60 $KUBECTL "$@"; }

for node in "${nodes[@]}"; do
  cidr=$(kc get node "$node" -o 'jsonpath={.spec.podCIDR}') || die "$node: cannot read the Node"
  [[ $cidr =~ ^[0-9.]+/[0-9]+$ ]] || die "$node: no IPv4 spec.podCIDR ('$cidr'): the node CA is constrained to it"
  pod=$(kc -n "$NS" get pods -l app.kubernetes.io/name=keymesh --field-selector "spec.nodeName=$node" \
    -o 'jsonpath={.items[0].metadata.name}') || true
  [[ -n $pod ]] || die "$node: no keymesh pod on this node in namespace $NS"
  req=$W/$node.request.crt
  # The request waits while the node-ca init container runs; afterwards keymeshd's container
  # has the same volume (renewal).
  kc -n "$NS" exec "$pod" -c node-ca -- cat /var/lib/keymesh/ca/request.crt >"$req" 2>/dev/null ||
    kc -n "$NS" exec "$pod" -c keymeshd -- cat /var/lib/keymesh/ca/request.crt >"$req" ||
    die "$node: cannot read the node CA request from pod $pod"
  info=$("$KM" cert show "$req" --json) || die "$node: the request is not a keymesh certificate"
  name=$(jq -r .name <<<"$info")
  pub=$(jq -r .public_key <<<"$info")
  [[ $name =~ ^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$ ]] || die "$node: request name '$name' is not a host name"
  "$KM" cert sign --ca "$ROOT_CRT" --ca-key "$ROOT_KEY" --kind ca --name "$name" --public-key "$pub" \
    --allowed-networks "$cidr" --name-pattern "$name/*" --allow-kinds workload,node \
    --allow-groups "$WL_GROUPS" --allow-labels "$LABELS" --max-lifetime "$MAXLIFE" --lifetime "$LIFETIME" \
    --out "$W/$node.crt" >/dev/null || die "$node: cert sign failed"
  for c in node-ca keymeshd; do
    kc -n "$NS" exec -i "$pod" -c "$c" -- sh -c \
      'cat >/var/lib/keymesh/ca/.node-ca.crt.tmp && mv -f /var/lib/keymesh/ca/.node-ca.crt.tmp /var/lib/keymesh/ca/node-ca.crt' \
      <"$W/$node.crt" 2>/dev/null && break
    [[ $c == keymeshd ]] && die "$node: cannot write the node CA into pod $pod"
  done
  echo "$node: node CA \"$name\" for $cidr, names $name/*, signed ($($KM cert show "$W/$node.crt" --json | jq -r .fingerprint | cut -c1-16))"
done
