#!/usr/bin/env bash
# chromium.sh install: Debian's chromium for the self-service page's browser test
# (as root, with apt-get; a no-op when it is already there).
set -euo pipefail
case "${1:-install}" in
install)
  if command -v chromium >/dev/null 2>&1; then exit 0; fi
  if [ "$(id -u)" != 0 ]; then
    echo "chromium is missing and this is not root: install Debian's chromium package" >&2
    exit 0
  fi
  apt-get -o DPkg::Lock::Timeout=900 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq chromium >/dev/null
  ;;
*) echo "usage: $0 install" >&2; exit 2 ;;
esac
