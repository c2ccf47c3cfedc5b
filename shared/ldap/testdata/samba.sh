#!/usr/bin/env bash
# samba.sh runs a throwaway Samba Active Directory domain controller for chpass's
# integration tests: realm EXAMPLE.TEST, in a directory of its own.
#
#   samba.sh up DIR     generate a CA and a server certificate (with an IP SAN),
#                       provision the domain into DIR/dc, load the fixtures
#                       (samba-fixtures.py: test-friendly password settings, the
#                       delegated service account, groups with their password
#                       policies, the batch users), start samba, wait until it
#                       answers over ldaps, and write DIR/env (export lines)
#   samba.sh down DIR   stop the samba started in DIR (by its pidfile)
#   samba.sh env DIR    print DIR/env, for: eval "$(samba.sh env DIR)"
#
# Samba's LDAP ports are fixed: 389 and 636 on 127.0.0.1 (root needed; one DC per
# machine). Needs samba, samba-dsdb-modules, samba-vfs-modules,
# samba-ad-provision, ldap-utils and openssl (install-samba.sh).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REALM=EXAMPLE.TEST
BASE="DC=example,DC=test"
ADMIN_PW="Admin-Pass-1x"          # Administrator: test fixtures only, never the adapter
SVC_DN="CN=chpass-svc,OU=Service,$BASE"
SVC_PW="Svc-Pass-1x"
USER_PW="Batch-Start-1x"
BATCH=${SAMBA_BATCH_USERS:-100}
PY=/usr/bin/python3               # Debian's, with the samba bindings

usage() { echo "usage: $0 up|down|env DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
DIR=$2

pidfile() { echo "$DIR/dc/run/samba.pid"; }
running() { [ -f "$(pidfile)" ] && kill -0 "$(cat "$(pidfile)")" 2>/dev/null; }

down() {
  if [ -f "$(pidfile)" ]; then
    local pid; pid=$(cat "$(pidfile)")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$(pidfile)"
  fi
  rm -f "$DIR/env"
}

certs() {
  [ -f "$DIR/server.crt" ] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=chpass test AD CA" \
    -keyout "$DIR/ca.key" -out "$DIR/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=dc1.example.test" \
    -keyout "$DIR/server.key" -out "$DIR/server.csr" 2>/dev/null
  # Go checks 127.0.0.1 against IP SANs only: the certificate Samba generates has none.
  printf 'subjectAltName=DNS:localhost,DNS:dc1.example.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$DIR/server.ext"
  openssl x509 -req -in "$DIR/server.csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" -CAcreateserial \
    -days 30 -out "$DIR/server.crt" -extfile "$DIR/server.ext" 2>/dev/null
  chmod 600 "$DIR/server.key" "$DIR/ca.key"
}

answers() {
  LDAPTLS_CACERT="$DIR/ca.crt" ldapsearch -x -H ldaps://127.0.0.1:636 -o nettimeout=2 \
    -D "$SVC_DN" -w "$SVC_PW" -b "" -s base defaultNamingContext >/dev/null 2>&1
}

up() {
  for t in samba samba-tool ldapsearch openssl "$PY"; do
    command -v "$t" >/dev/null 2>&1 || { echo "samba.sh: $t is missing; run $HERE/install-samba.sh" >&2; exit 1; }
  done
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  if running; then echo "samba.sh: already running in $DIR" >&2; return 0; fi
  if (exec 3<>/dev/tcp/127.0.0.1/636) 2>/dev/null; then
    echo "samba.sh: 127.0.0.1:636 is taken by another server; Samba's ports are fixed (one DC per machine)" >&2; exit 1
  fi
  rm -f "$DIR/env"
  certs
  rm -rf "$DIR/dc"; mkdir -p "$DIR/dc/run"
  : > "$DIR/empty.conf"   # keeps Debian's /etc/samba/smb.conf out of the provisioning
  samba-tool domain provision -s "$DIR/empty.conf" --targetdir="$DIR/dc" --host-name=dc1 \
    --realm=$REALM --domain=EXAMPLE --server-role=dc --dns-backend=NONE --adminpass="$ADMIN_PW" \
    --option="interfaces=lo" --option="bind interfaces only=yes" --option="server services=ldap" \
    --option="tls enabled=yes" --option="tls keyfile=$DIR/server.key" \
    --option="tls certfile=$DIR/server.crt" --option="tls cafile=$DIR/ca.crt" \
    >"$DIR/provision.log" 2>&1 || { tail -20 "$DIR/provision.log" >&2; exit 1; }
  # Provisioning drops these: without the first, a replaced password keeps binding
  # for 60 minutes; the second keeps the pidfile in DIR.
  sed -i "/^\[global\]/a\\
	old password allowed period = 0\\
	pid directory = $DIR/dc/run" "$DIR/dc/etc/smb.conf"
  "$PY" "$HERE/samba-fixtures.py" "$DIR/dc/etc/smb.conf" "$SVC_PW" "$USER_PW" "$BATCH" >"$DIR/fixtures.log" 2>&1 || {
    cat "$DIR/fixtures.log" >&2; exit 1; }
  samba -s "$DIR/dc/etc/smb.conf" -D >"$DIR/samba.log" 2>&1 || { cat "$DIR/samba.log" >&2; exit 1; }
  local ok=
  for _ in $(seq 1 600); do
    if answers; then ok=1; break; fi
    [ -f "$(pidfile)" ] && ! running && break
    sleep 0.1
  done
  if [ -z "$ok" ]; then echo "samba.sh: samba did not answer over ldaps; see $DIR/samba.log" >&2; down; exit 1; fi
  cat > "$DIR/env" <<ENV
export AD_TEST_URL='ldaps://127.0.0.1:636'
export AD_TEST_STARTTLS_URL='ldap://127.0.0.1:389'
export AD_TEST_CA='$DIR/ca.crt'
export AD_TEST_BASE='$BASE'
export AD_TEST_SERVICE_DN='$SVC_DN'
export AD_TEST_SERVICE_PASSWORD='$SVC_PW'
export AD_TEST_ADMIN_DN='CN=Administrator,CN=Users,$BASE'
export AD_TEST_ADMIN_PASSWORD='$ADMIN_PW'
export AD_TEST_BATCH_USERS='$BATCH'
export AD_TEST_BATCH_PASSWORD='$USER_PW'
ENV
  echo "samba.sh: Samba AD DC up in $DIR (ldaps://127.0.0.1:636, ldap://127.0.0.1:389 with StartTLS); env in $DIR/env" >&2
}

case "$cmd" in
  up) up ;;
  down) down ;;
  env) [ -f "$DIR/env" ] || { echo "samba.sh: no $DIR/env; run: $0 up $DIR" >&2; exit 1; }; cat "$DIR/env" ;;
  *) usage ;;
esac
