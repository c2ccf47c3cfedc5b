#!/usr/bin/env bash
# install-qemu.sh installs qemu-user-static, which the end-to-end tests use to run
# the arm64 AWS binaries on a machine of another architecture, with apt-get when it
# is missing and this runs as root; otherwise it says so, loudly.
set -euo pipefail
case "$(uname -m)" in aarch64|arm64) echo "install-qemu.sh: arm64 machine, qemu not needed"; exit 0 ;; esac
if command -v qemu-aarch64-static >/dev/null 2>&1 || command -v qemu-aarch64 >/dev/null 2>&1; then
  echo "install-qemu.sh: qemu-aarch64 is present"; exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  cat >&2 <<'MSG'
################################################################################
#  install-qemu.sh: MISSING: qemu-user-static (qemu-aarch64-static)
#  Cannot install it here (needs root and apt-get). Install it yourself:
#    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends qemu-user-static
#  Without it the arm64 AWS end-to-end tests SKIP (and FAIL when CI=true).
################################################################################
MSG
  if [ "${CI:-}" = "true" ]; then exit 1; fi
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends qemu-user-static
