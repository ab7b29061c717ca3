# install.sh - keymesh installed into the cluster of cluster.sh the way docs/kubernetes.md says,
# for the kubernetes tests. Source it after cluster.sh and tests/netns/lib.sh, once k8s_up has
# returned:
#
#   km_install_image              scripts/image.sh's image imported into the node's containerd
#                                 (no registry); sets REF
#   km_install_apply RULES        the root CA made with `keymesh ca init` ($KM_TMP/root.crt/.key);
#                                 deploy/kubernetes/ copied to $M with its per-cluster values
#                                 filled in (trust.yaml's root.crt, the image name, config.yaml's
#                                 kubernetes.api_server unless KM_IN_CLUSTER_API=1, where
#                                 kube-proxy makes the "kubernetes" Service reachable) and RULES
#                                 (policy.yaml rule lines, the operator's own, indented as
#                                 policy.yaml's) added to policy.yaml; `kubectl apply -f` of it
#   km_install_wait_request       the DaemonSet pod's node-ca init container has written its
#                                 request; sets POD
#   km_install_sign LABELS        deploy/kubernetes/keymesh-sign-node.sh for the node, the node
#                                 CA's label patterns LABELS (--labels); $KM_TMP/sign.log
#   km_install_wait_ready         keymeshd Ready
#   km_install LABELS RULES       all of the above, in that order
#   km_fetch NS POD ADDR PORT [WAIT]
#                                 the body of GET /hello.txt from ADDR:PORT, asked with
#                                 busybox's nc inside POD (kubectl exec; busybox's static wget
#                                 crashes on Debian 12); empty when nothing answered in WAIT s
#   km_require [COMMAND...]       before all: exit 77 (skip) without the Kubernetes build, fail
#                                 without the tools every cluster test needs, COMMANDs or the
#                                 keymesh binaries; sets KM (the keymesh CLI)
#
# Failure messages start with $KM_INSTALL_STEP (e.g. "1. "). NS is the keymesh namespace.
NS=keymesh-system
KM_INSTALL_STEP=${KM_INSTALL_STEP:-}

km_require() {
  if ! k8s_have_binaries; then
    echo "SKIP: no Kubernetes $K8S_VERSION build in $K8S_BIN; run 'bash tests/kubernetes/build-k8s.sh' (CI does)" >&2
    exit 77
  fi
  need jq nsenter containerd runc ctr openssl etcd umoci unshare "$@"
  KM=$(binary keymesh) || fail "keymesh is not built"
  binary keymeshd >/dev/null && binary cni/keymesh-cni >/dev/null || fail "keymeshd/keymesh-cni are not built"
}

km_fetch() {
  kc -n "$1" exec "$2" -- sh -c "printf 'GET /hello.txt HTTP/1.0\r\n\r\n' | nc -w ${5:-5} $3 $4" 2>/dev/null |
    tr -d '\r' | sed '1,/^$/d'
}

km_install_image() {
  bash "$KM_REPO/scripts/image.sh" --build-dir "$KM_BUILD_DIR" --out "$KM_TMP/keymesh.oci.tar" >"$KM_TMP/image.log" 2>&1 ||
    fail "scripts/image.sh: $(tail -3 "$KM_TMP/image.log")"
  REF=$(sed -n 's/.*: \(keymesh:[^ ]*\) .*/\1/p' "$KM_TMP/image.log")
  [[ -n $REF ]] || fail "image.sh printed no image name: $(cat "$KM_TMP/image.log")"
  k8s_import_oci "$KM_TMP/keymesh.oci.tar" "$REF"
  log "image $REF imported into the node's containerd"
}

km_install_apply() {  # km_install_apply RULES
  "$KM" ca init --name cluster-root --out "$KM_TMP/root.crt" --key-out "$KM_TMP/root.key" >/dev/null || fail "ca init"
  M=$KM_TMP/manifests
  cp -r "$KM_REPO/deploy/kubernetes" "$M"
  # The documented per-cluster values: trust.yaml's root.crt; the image name when ours differs.
  awk -v f="$KM_TMP/root.crt" '/REPLACE with the contents of root.crt/ { while ((getline l < f) > 0) print "    " l; next } { print }' \
    "$M/trust.yaml" >"$M/trust.yaml.new" && mv "$M/trust.yaml.new" "$M/trust.yaml"
  [[ $REF == keymesh:0.1.0 ]] || sed -i "s|image: keymesh:0.1.0|image: $REF|" "$M/daemonset.yaml"
  # kubernetes.api_server: without kube-proxy the "kubernetes" Service's ClusterIP is not
  # reachable from the host network; the API server itself is.
  if [[ ${KM_IN_CLUSTER_API:-0} != 1 ]]; then
    sed -i "s|# api_server: https://API-SERVER:6443|api_server: https://$K8S_NODE_IP:6443|" "$M/configmap.yaml"
    grep -q "api_server: https://$K8S_NODE_IP:6443" "$M/configmap.yaml" || fail "configmap.yaml has no api_server line to fill in"
  fi
  # The operator's own rules, beside the shipped ones (policy.yaml is theirs to write).
  KM_RULES=$1 python3 - "$M/configmap.yaml" <<'PY'
import os, sys
p = sys.argv[1]
s = open(p).read()
i = s.index("  # identity/groups/labels below")
s = s[:i] + os.environ["KM_RULES"] + s[i:]
open(p, "w").write(s)
PY
  kc apply -f "$M/" >"$KM_TMP/apply.log" 2>&1 || fail "kubectl apply -f deploy/kubernetes/: $(cat "$KM_TMP/apply.log")"
}

kmpod() { kc -n "$NS" get pods -l app.kubernetes.io/name=keymesh -o 'jsonpath={.items[0].metadata.name}'; }

km_install_wait_request() {
  wait_for "kc -n $NS exec \$(kmpod) -c node-ca -- test -s /var/lib/keymesh/ca/request.crt" 120 1 ||
    fail "${KM_INSTALL_STEP}no node CA request from the keymesh pod: $(kc -n "$NS" describe pods 2>&1 | tail -30)"
  POD=$(kmpod)
}

km_install_sign() {  # km_install_sign LABELS
  KUBECTL="$(k8s_kubectl)" \
    bash "$KM_REPO/deploy/kubernetes/keymesh-sign-node.sh" --root-crt "$KM_TMP/root.crt" --root-key "$KM_TMP/root.key" \
    --labels "$1" --keymesh "$KM" "$K8S_NODE" >"$KM_TMP/sign.log" 2>&1 ||
    fail "${KM_INSTALL_STEP}keymesh-sign-node.sh: $(cat "$KM_TMP/sign.log")"
}

km_install_wait_ready() {
  kc -n "$NS" wait --for=condition=Ready "pod/$POD" --timeout=120s >/dev/null 2>&1 ||
    fail "${KM_INSTALL_STEP}keymeshd not Ready: $(kc -n "$NS" describe pod "$POD" | tail -25; kc -n "$NS" logs "$POD" -c keymeshd --tail=20)"
}

km_install() {  # km_install LABELS RULES
  km_install_image
  km_install_apply "$2"
  km_install_wait_request
  km_install_sign "$1"
  km_install_wait_ready
}
