# root.sh - sourced by the scripts that need root: `source scripts/lib/root.sh; need_root "$@"`.
# As root: nothing happens. As a user with sudo: the script runs itself again through sudo
# (keeping the environment, so KM_* knobs still apply). Without sudo: a clear message and
# exit 1, unless the caller passes --optional, in which case it goes on unprivileged.
need_root() {  # need_root [--optional] ARGS... ; uses $0 (the calling script)
  local optional=0
  if [[ ${1:-} == --optional ]]; then optional=1; shift; fi
  ((EUID == 0)) && return 0
  if command -v sudo >/dev/null 2>&1; then
    echo "$(basename "$0"): needs root; running it again with sudo" >&2
    exec sudo -E bash "$0" "$@"
  fi
  ((optional)) && return 0
  echo "$(basename "$0"): needs root (network namespaces) and sudo is not installed: run it as root, e.g. su -c 'bash $0 $*'" >&2
  exit 1
}
