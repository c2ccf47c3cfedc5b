#!/usr/bin/env bash
# slapd.sh runs a private OpenLDAP server with the ppolicy overlay for chpass's
# integration tests, in a directory of its own, on free loopback ports.
#
#   slapd.sh up DIR     generate a CA and server certificate, write DIR/slapd.conf,
#                       load fixtures.ldif with slapadd, start slapd, wait until it
#                       answers, and write DIR/env (export lines for the tests)
#   slapd.sh down DIR   stop the server started in DIR (by its pidfile)
#   slapd.sh env DIR    print DIR/env, for: eval "$(slapd.sh env DIR)"
#
# Needs slapd, ldap-utils and openssl (install-deps.sh). Runs as root or not;
# slapd is not asked to change user.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BASE="dc=example,dc=test"
ADMIN_DN="cn=pwadmin,$BASE"
ADMIN_PW="Pwadmin-Pass-1"
ROOT_DN="cn=admin,$BASE"
ROOT_PW="Root-Pass-1"

usage() { echo "usage: $0 up|down|env DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
DIR=$2

SLAPD=$(command -v slapd || echo /usr/sbin/slapd)
SLAPADD=$(command -v slapadd || echo /usr/sbin/slapadd)

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  echo "slapd.sh: no free port found" >&2; return 1
}

running() { [ -f "$DIR/slapd.pid" ] && kill -0 "$(cat "$DIR/slapd.pid")" 2>/dev/null; }

down() {
  if [ -f "$DIR/slapd.pid" ]; then
    local pid; pid=$(cat "$DIR/slapd.pid")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    fi
    rm -f "$DIR/slapd.pid"
  fi
  rm -f "$DIR/env"
}

certs() {
  [ -f "$DIR/server.crt" ] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=chpass test CA" \
    -keyout "$DIR/ca.key" -out "$DIR/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$DIR/server.key" -out "$DIR/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,DNS:%s,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' "$(hostname)" > "$DIR/server.ext"
  openssl x509 -req -in "$DIR/server.csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" -CAcreateserial \
    -days 30 -out "$DIR/server.crt" -extfile "$DIR/server.ext" 2>/dev/null
  chmod 600 "$DIR/server.key" "$DIR/ca.key"
}

up() {
  for t in "$SLAPD" "$SLAPADD" ldapsearch openssl; do
    command -v "$t" >/dev/null 2>&1 || [ -x "$t" ] || {
      echo "slapd.sh: $t is missing; run $HERE/install-deps.sh" >&2; exit 1; }
  done
  if running; then echo "slapd.sh: already running in $DIR" >&2; return 0; fi
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  certs
  rm -rf "$DIR/db"; mkdir -p "$DIR/db"
  sed -e "s|@@DIR@@|$DIR|g" -e "s|@@ROOTPW@@|$ROOT_PW|g" "$HERE/slapd.conf.tmpl" > "$DIR/slapd.conf"
  "$SLAPADD" -q -f "$DIR/slapd.conf" -l "$HERE/fixtures.ldif" >"$DIR/slapadd.log" 2>&1 || {
    cat "$DIR/slapadd.log" >&2; exit 1; }
  local port sport ok=
  for _ in 1 2 3 4 5; do
    port=$(free_port); sport=$(free_port)
    [ "$port" != "$sport" ] || continue
    if "$SLAPD" -f "$DIR/slapd.conf" -h "ldap://127.0.0.1:$port/ ldaps://127.0.0.1:$sport/" 2>"$DIR/slapd.log"; then
      for _ in $(seq 1 100); do
        if ldapsearch -x -H "ldap://127.0.0.1:$port/" -b "" -s base -o nettimeout=1 namingContexts >/dev/null 2>&1; then
          ok=1; break
        fi
        running || break
        sleep 0.05
      done
    fi
    [ -n "$ok" ] && break
    down
  done
  if [ -z "$ok" ]; then echo "slapd.sh: slapd did not start; see $DIR/slapd.log" >&2; cat "$DIR/slapd.log" >&2; exit 1; fi
  cat > "$DIR/env" <<ENV
export LDAP_TEST_URL='ldap://127.0.0.1:$port'
export LDAP_TEST_LDAPS_URL='ldaps://127.0.0.1:$sport'
export LDAP_TEST_CA='$DIR/ca.crt'
export LDAP_TEST_BASE='$BASE'
export LDAP_TEST_ADMIN_DN='$ADMIN_DN'
export LDAP_TEST_ADMIN_PASSWORD='$ADMIN_PW'
export LDAP_TEST_ROOT_DN='$ROOT_DN'
export LDAP_TEST_ROOT_PASSWORD='$ROOT_PW'
ENV
  echo "slapd.sh: slapd up in $DIR (ldap://127.0.0.1:$port, ldaps://127.0.0.1:$sport); env in $DIR/env" >&2
}

case "$cmd" in
  up) up ;;
  down) down ;;
  env) [ -f "$DIR/env" ] || { echo "slapd.sh: no $DIR/env; run: $0 up $DIR" >&2; exit 1; }; cat "$DIR/env" ;;
  *) usage ;;
esac
