#!/usr/bin/env bash
# Installs the system packages asyncmqtt's tests, demo and benchmarks need, when they are missing:
# mosquitto (the tests start their own brokers from it), make, python3 (3.11+) and its venv
# module. Uses apt-get as root (or password-less sudo). Installs nothing when all is present.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive

have() { command -v "$1" >/dev/null 2>&1; }

# Debian puts mosquitto in /usr/sbin, which is not on every user's PATH.
have_mosquitto() { have mosquitto || [ -x /usr/sbin/mosquitto ]; }

# Debian splits the venv module (ensurepip) out of python3, so try making a throwaway venv.
python_makes_venvs() {
  local probe status
  probe="$(mktemp -d)"
  status=0
  python3 -m venv "$probe/venv" >/dev/null 2>&1 || status=$?
  rm -rf "$probe"
  return "$status"
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif have sudo; then
    sudo -n "$@"  # -n: fail at once rather than wait for a password nobody can type
  else
    echo "system-packages: need root for: $*  (run as root, or install sudo)" >&2
    return 1
  fi
}

packages=()
have_mosquitto || packages+=(mosquitto mosquitto-clients)
have make || packages+=(make)
if ! have python3; then
  packages+=(python3 python3-venv)
elif [ ! -x .venv/bin/python ] && ! python_makes_venvs; then
  packages+=(python3-venv)
fi

if [ "${#packages[@]}" -gt 0 ]; then
  if ! have apt-get; then
    echo "system-packages: missing ${packages[*]}, and this is not a Debian-like system with apt-get;" \
      "install them yourself and run 'make test'" >&2
    exit 1
  fi
  echo "system-packages: installing ${packages[*]}"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    "${packages[@]}"
fi

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "system-packages: asyncmqtt needs Python 3.11 or later; python3 is $(python3 --version)" >&2
  exit 1
}
