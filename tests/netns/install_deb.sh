#!/usr/bin/env bash
# install_deb.sh - keymesh installs like a real daemon: the .deb CPack builds from this build
# installs with dpkg, its unit passes systemd-analyze verify, the service starts (by systemd
# when PID 1 is systemd, otherwise by running the unit's ExecStartPre/ExecStart lines as
# docs/operations.md documents), and the demo runs against the installed binaries. The
# package is removed again (dpkg --purge) whatever happens. This changes the machine
# (/usr, /etc/keymesh, /var/lib/keymesh, /var/log/keymesh, /run/keymesh): meant for a
# disposable test machine, and it refuses to run when keymesh is already installed.
#
#   ns ...-svc (the packaged service, default config)
#   km0 (no addresses), UDP 51820, control socket /run/keymesh/keymesh.sock
#   then scripts/demo.sh with KEYMESH_BIN_DIR=/usr/sbin:/usr/bin:/usr/lib/cni (its own
#   namespaces, 198.18.0.0/24 and 100.64.0.0/10)
#
# Scenarios:
# 1. cpack -G DEB builds keymesh_<version>_<arch>.deb whose Depends (dpkg-shlibdeps) name
#    the shared libraries' packages (libsodium, libuv, libsqlite3, libmicrohttpd, libnftables,
#    libprotobuf, libyaml-cpp, libspdlog) and whose conffiles are /etc/keymesh/config.yaml
#    and /etc/logrotate.d/keymesh.
# 2. dpkg -i installs /usr/sbin/keymeshd, /usr/bin/keymesh, /usr/lib/cni/keymesh-cni, the
#    unit, the default config and /usr/share/doc/keymesh; `keymeshd --version` runs.
# 3. systemd-analyze verify accepts the unit (skipped when systemd-analyze is missing), and
#    the unit has the hardening docs/operations.md promises.
# 4. The service starts with the default config: a host key is made in /var/lib/keymesh
#    (0600), `keymesh status` answers on /run/keymesh/keymesh.sock, and SIGTERM stops it
#    with status 0.
# 5. scripts/demo.sh passes with the installed binaries.
# 6. dpkg --purge removes binaries, unit, config and state.
KM_DEADLINE=${KM_DEADLINE:-190}
source "$(dirname "$0")/lib.sh"
need dpkg dpkg-deb cpack

dpkg -s keymesh >/dev/null 2>&1 && fail "keymesh is already installed on this machine: not touching it"
[[ ! -e /etc/keymesh && ! -e /var/lib/keymesh ]] ||
  fail "/etc/keymesh or /var/lib/keymesh exists: this machine has a keymesh of its own"
PURGE=0
uninstall() {
  ((PURGE)) || return 0
  PURGE=0
  dpkg --purge keymesh >"$KM_TMP/purge.log" 2>&1 || cat "$KM_TMP/purge.log" >&2
  rm -rf /run/keymesh
}
trap 'km_rc=$?; uninstall; (exit $km_rc); cleanup' EXIT

# 1. the package
log "1. cpack -G DEB (from $KM_BUILD_DIR)"
(cd "$KM_TMP" && cpack --config "$KM_BUILD_DIR/CPackConfig.cmake" -G DEB -B "$KM_TMP/pkg" \
  >"$KM_TMP/cpack.log" 2>&1) || { tail -30 "$KM_TMP/cpack.log" >&2; fail "1. cpack failed"; }
DEB=$(compgen -G "$KM_TMP/pkg/keymesh_*.deb" | head -1 || true)
[[ -f $DEB ]] || fail "1. no keymesh_*.deb in $KM_TMP/pkg"
depends=$(dpkg-deb -f "$DEB" Depends)
for lib in libsodium libuv1 libsqlite3 libmicrohttpd libnftables libprotobuf libyaml-cpp libspdlog iproute2; do
  [[ $depends == *"$lib"* ]] || fail "1. Depends does not name $lib: $depends"
done
conffiles=$(dpkg-deb -I "$DEB" conffiles)
[[ $conffiles == *"/etc/keymesh/config.yaml"* && $conffiles == *"/etc/logrotate.d/keymesh"* ]] ||
  fail "1. conffiles: $conffiles"
log "1. $(basename "$DEB") ($(du -h "$DEB" | cut -f1)); Depends: $depends"

# 2. install
PURGE=1
dpkg -i "$DEB" >"$KM_TMP/dpkg.log" 2>&1 || { cat "$KM_TMP/dpkg.log" >&2; fail "2. dpkg -i failed"; }
for f in /usr/sbin/keymeshd /usr/bin/keymesh /usr/lib/cni/keymesh-cni; do
  [[ -x $f ]] || fail "2. $f is not installed"
done
for f in /usr/lib/systemd/system/keymeshd.service /etc/keymesh/config.yaml /etc/logrotate.d/keymesh \
         /usr/share/doc/keymesh/README.md /usr/share/doc/keymesh/docs/operations.md; do
  [[ -f $f ]] || fail "2. $f is not installed"
done
version=$(/usr/sbin/keymeshd --version) || fail "2. installed keymeshd --version failed"
[[ $DEB == *"_${version##* }_"* ]] || fail "2. package version does not match '$version'"
log "2. installed: $version, $(dpkg -L keymesh | wc -l) paths"

# 3. the unit
UNIT=/usr/lib/systemd/system/keymeshd.service
for want in "ProtectSystem=strict" "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW" \
            "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW" "RuntimeDirectory=keymesh" \
            "StateDirectory=keymesh" "NoNewPrivileges=yes" "ExecReload=/bin/kill -HUP \$MAINPID"; do
  grep -qxF "$want" "$UNIT" || fail "3. the unit lacks '$want'"
done
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$UNIT" >"$KM_TMP/verify.log" 2>&1 ||
    { cat "$KM_TMP/verify.log" >&2; fail "3. systemd-analyze verify failed"; }
  [[ ! -s $KM_TMP/verify.log ]] && log "3. systemd-analyze verify: no complaints" ||
    log "3. systemd-analyze verify passed with notes: $(tr '\n' ' ' <"$KM_TMP/verify.log")"
else
  log "3. systemd-analyze not installed: verify skipped"
fi

# 4. start the service
if [[ $(ps -p 1 -o comm= 2>/dev/null) == systemd ]]; then
  log "4. PID 1 is systemd: systemctl start keymeshd"
  systemctl start keymeshd.service || { journalctl -u keymeshd --no-pager | tail -20 >&2; fail "4. systemctl start failed"; }
  wait_for "/usr/bin/keymesh status >/dev/null 2>&1" 10 0.2 || fail "4. keymesh status did not answer"
  systemctl stop keymeshd.service
else
  log "4. PID 1 is $(ps -p 1 -o comm=): running the unit's ExecStartPre/ExecStart in a namespace"
  # What systemd would do first: the directories of RuntimeDirectory=, StateDirectory=,
  # LogsDirectory= with their modes.
  install -d -m 0750 /run/keymesh /var/log/keymesh
  install -d -m 0700 /var/lib/keymesh
  make_host svc 198.18.0.50
  mapfile -t pre < <(sed -n 's/^ExecStartPre=//p' "$UNIT")
  start=$(sed -n 's/^ExecStart=//p' "$UNIT")
  for cmd in "${pre[@]}"; do
    eval "on svc $cmd" >>"$KM_TMP/svc-pre.log" 2>&1 || { cat "$KM_TMP/svc-pre.log" >&2; fail "4. ExecStartPre failed: $cmd"; }
  done
  [[ $(stat -c %a /var/lib/keymesh/host.key) == 600 ]] || fail "4. host key is not 0600"
  read -ra argv <<<"$start"
  spawn svc "$KM_TMP/svc.log" "${argv[@]}"
  svc_pid=$KM_LAST_PID
  wait_for "[[ -S /run/keymesh/keymesh.sock ]]" 10 0.1 || fail "4. no control socket /run/keymesh/keymesh.sock"
  status=$(/usr/bin/keymesh status) || fail "4. keymesh status failed: $status"
  on svc ip link show km0 >/dev/null || fail "4. no km0 in the service's namespace"
  rc=0; stop_pid "$svc_pid" TERM || rc=$?
  [[ $rc == 0 ]] || fail "4. keymeshd exited with $rc on SIGTERM"
  log "4. service ran from the unit's command lines; keymesh status answered; stopped with 0"
fi

# 5. the demo on the installed binaries
log "5. scripts/demo.sh with KEYMESH_BIN_DIR=/usr/sbin:/usr/bin:/usr/lib/cni"
KEYMESH_BIN_DIR=/usr/sbin:/usr/bin:/usr/lib/cni KM_DEADLINE=120 timeout 130 \
  bash "$KM_REPO/scripts/demo.sh" >"$KM_TMP/demo.log" 2>&1 ||
  { tail -30 "$KM_TMP/demo.log" >&2; fail "5. the demo failed on the installed binaries"; }
grep -qx "binaries: /usr/sbin/keymeshd /usr/bin/keymesh /usr/lib/cni/keymesh-cni" "$KM_TMP/demo.log" ||
  fail "5. the demo did not use the installed binaries: $(grep binaries: "$KM_TMP/demo.log")"
log "5. demo passed on the installed binaries"

# 6. removal
uninstall
for f in /usr/sbin/keymeshd /usr/bin/keymesh /usr/lib/cni/keymesh-cni /usr/lib/systemd/system/keymeshd.service \
         /etc/keymesh/config.yaml /var/lib/keymesh; do
  [[ ! -e $f ]] || fail "6. $f is still there after dpkg --purge"
done
log "6. dpkg --purge removed binaries, unit, config and state"
log "all scenarios passed"
