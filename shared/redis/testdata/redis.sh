#!/usr/bin/env bash
# redis.sh runs a private redis-server for chpass's tests, in a directory of its
# own, on a free loopback port, with TLS only (no plain port) and passwords on:
# the default user's requirepass and an ACL user "chpass".
#
#   redis.sh up DIR     generate a CA and server certificate, write DIR/redis.conf,
#                       start redis-server, wait until it answers over TLS, and
#                       write DIR/env (export lines for the tests)
#   redis.sh down DIR   stop the server started in DIR (by its pidfile)
#   redis.sh env DIR    print DIR/env, for: eval "$(redis.sh env DIR)"
#
# Tests that stop or restart Redis start their own server with REDIS_TEST_SERVER
# and the certificates named in DIR/env; they never touch the shared one.
# Needs redis-server, redis-tools and openssl (install-deps.sh).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() { echo "usage: $0 up|down|env DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
DIR=$2

SERVER=$(command -v redis-server || echo /usr/bin/redis-server)

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  echo "redis.sh: no free port found" >&2; return 1
}

running() { [ -f "$DIR/redis.pid" ] && kill -0 "$(cat "$DIR/redis.pid")" 2>/dev/null; }

down() {
  if [ -f "$DIR/redis.pid" ]; then
    local pid; pid=$(cat "$DIR/redis.pid")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    fi
    rm -f "$DIR/redis.pid"
  fi
  rm -f "$DIR/env"
}

certs() {
  [ -f "$DIR/server.crt" ] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=chpass redis test CA" \
    -keyout "$DIR/ca.key" -out "$DIR/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$DIR/server.key" -out "$DIR/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$DIR/server.ext"
  openssl x509 -req -in "$DIR/server.csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" -CAcreateserial \
    -days 30 -out "$DIR/server.crt" -extfile "$DIR/server.ext" 2>/dev/null
  chmod 600 "$DIR/server.key" "$DIR/ca.key"
}

up() {
  for t in "$SERVER" redis-cli openssl; do
    command -v "$t" >/dev/null 2>&1 || [ -x "$t" ] || {
      echo "redis.sh: $t is missing; run $HERE/install-deps.sh" >&2; exit 1; }
  done
  if running; then echo "redis.sh: already running in $DIR" >&2; return 0; fi
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  certs
  local pw user_pw
  pw=$(openssl rand -hex 16); user_pw=$(openssl rand -hex 16)
  local port ok=
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    cat > "$DIR/redis.conf" <<CONF
bind 127.0.0.1
port 0
tls-port $port
tls-cert-file $DIR/server.crt
tls-key-file $DIR/server.key
tls-ca-cert-file $DIR/ca.crt
tls-auth-clients no
requirepass $pw
user chpass on >$user_pw ~* &* +@all
daemonize yes
pidfile $DIR/redis.pid
logfile $DIR/redis.log
dir $DIR
save ""
appendonly no
CONF
    chmod 600 "$DIR/redis.conf"
    rm -f "$DIR/redis.pid"
    if "$SERVER" "$DIR/redis.conf" 2>>"$DIR/redis.log"; then
      for _ in $(seq 1 100); do
        if REDISCLI_AUTH=$pw redis-cli --tls --cacert "$DIR/ca.crt" -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
          ok=1; break
        fi
        sleep 0.05
      done
    fi
    [ -n "$ok" ] && break
    down
  done
  if [ -z "$ok" ]; then echo "redis.sh: redis-server did not start; see $DIR/redis.log" >&2; cat "$DIR/redis.log" >&2; exit 1; fi
  cat > "$DIR/env" <<ENV
export REDIS_TEST_ADDR='127.0.0.1:$port'
export REDIS_TEST_CA='$DIR/ca.crt'
export REDIS_TEST_CERT='$DIR/server.crt'
export REDIS_TEST_KEY='$DIR/server.key'
export REDIS_TEST_PASSWORD='$pw'
export REDIS_TEST_USER='chpass'
export REDIS_TEST_USER_PASSWORD='$user_pw'
export REDIS_TEST_SERVER='$SERVER'
ENV
  chmod 600 "$DIR/env"
  echo "redis.sh: redis-server up in $DIR (rediss://127.0.0.1:$port); env in $DIR/env" >&2
}

case "$cmd" in
  up) up ;;
  down) down ;;
  env) [ -f "$DIR/env" ] || { echo "redis.sh: no $DIR/env; run: $0 up $DIR" >&2; exit 1; }; cat "$DIR/env" ;;
  *) usage ;;
esac
