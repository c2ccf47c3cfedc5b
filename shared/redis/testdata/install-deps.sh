#!/usr/bin/env bash
# install-deps.sh installs what redis.sh needs (redis-server, redis-tools, openssl)
# with apt-get when it is missing and this runs as root; otherwise it says so, loudly.
set -euo pipefail
missing=
for t in redis-server:redis-server redis-cli:redis-tools openssl:openssl; do
  bin=${t%%:*}; pkg=${t##*:}
  if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/bin/$bin" ]; then
    case " $missing " in *" $pkg "*) ;; *) missing="$missing $pkg" ;; esac
  fi
done
if [ -z "$missing" ]; then echo "install-deps.sh: redis-server, redis-tools and openssl are present"; exit 0; fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  cat >&2 <<MSG
################################################################################
#  redis install-deps.sh: MISSING:$missing
#  Cannot install them here (needs root and apt-get). Install them yourself:
#    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server redis-tools openssl
#  Without them the Redis tests SKIP (and FAIL when CI=true).
################################################################################
MSG
  if [ "${CI:-}" = "true" ]; then exit 1; fi
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=900 update
# The package's own service is not wanted: redis.sh starts a private server.
apt-get -o DPkg::Lock::Timeout=900 install -y --no-install-recommends $missing
