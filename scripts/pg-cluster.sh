#!/usr/bin/env bash
# A private, throwaway PostgreSQL cluster for the tests (issue 13 §4, ADR 0010): initdb and pg_ctl on a temp
# directory and a free loopback port, as an unprivileged user, tuned for speed over durability. No Docker.
#
#   scripts/pg-cluster.sh start          starts one; stdout holds only its variables, one KEY=value a line:
#                                          ILLUMICHAT_PG_CLUSTER_DIR=/tmp/illumichat-pg.XXXXXX
#                                          ILLUMICHAT_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:PORT/postgres
#                                        (e.g. `set -a; eval "$(scripts/pg-cluster.sh start)"; set +a`)
#   scripts/pg-cluster.sh env [DIR]      prints those lines again for a running cluster
#   scripts/pg-cluster.sh stop [DIR]     stops it (immediate shutdown: nothing in it is kept) and removes DIR
#   scripts/pg-cluster.sh run -- CMD…    starts one, runs CMD with its variables exported, stops it; exits
#                                        with CMD's status (what .ci/run uses)
# DIR defaults to $ILLUMICHAT_PG_CLUSTER_DIR.
#
# The binaries: $ILLUMICHAT_PG_BIN if set, else the newest /usr/lib/postgresql/*/bin (Debian), else initdb on
# PATH. When none is found and we run as root, Debian's `postgresql` package is installed (without the main
# cluster it would otherwise create and start). initdb refuses to run as root, so as root the cluster belongs
# to nobody:nogroup (setpriv). Each start has its own mktemp directory and retries another random port when
# the one it picked was taken meanwhile, so several runs at once (two CI jobs, two engineers) do not collide.
#
# Settings (scale-out-notes.md): trust auth on 127.0.0.1 only, the socket inside DIR, fsync, synchronous_commit
# and full_page_writes off (a crash loses the cluster, which a test run throws away anyway), 300 connections
# (test files run in parallel, each with its own pool and listener). Locale C and UTF-8: text compares byte by
# byte, as SQLite's BINARY collation does, so ORDER BY on text gives the same order on both engines.
set -euo pipefail

MARKER=illumichat-pg-cluster.env
MAX_CONNECTIONS=300

log() { echo "pg-cluster: $*" >&2; }

find_bin() {
  if [ -n "${ILLUMICHAT_PG_BIN:-}" ]; then
    [ -x "$ILLUMICHAT_PG_BIN/initdb" ] && echo "$ILLUMICHAT_PG_BIN"
    return 0
  fi
  local newest
  newest="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -n "$newest" ] && [ -x "$newest/initdb" ]; then
    echo "$newest"
  elif command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
  fi
}

install_postgresql() {
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "no PostgreSQL binaries (initdb) found; install Debian's postgresql package (apt-get install -y postgresql)"
    log "or point ILLUMICHAT_PG_BIN at a directory holding initdb and pg_ctl"
    return 1
  fi
  log "initdb is missing; installing Debian's postgresql package"
  # The package would create and start a 'main' cluster on port 5432; these tests need none.
  mkdir -p /etc/postgresql-common
  [ -e /etc/postgresql-common/createcluster.conf ] ||
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
  export DEBIAN_FRONTEND=noninteractive
  local apt=(apt-get -qq -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  "${apt[@]}" install -y postgresql >/dev/null 2>&1 ||
    { "${apt[@]}" update && "${apt[@]}" install -y postgresql >/dev/null; }
}

# Runs a command as the cluster's owner: ourselves, or nobody:nogroup when we are root.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$dir" "$@"
  else
    "$@"
  fi
}

# True when something already listens on 127.0.0.1:$1.
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  local bin
  bin="$(find_bin)"
  if [ -z "$bin" ]; then
    install_postgresql
    bin="$(find_bin)"
    [ -n "$bin" ] || { log "installing postgresql gave no initdb"; return 1; }
  fi
  dir="$(mktemp -d "${ILLUMICHAT_PG_TMPDIR:-/tmp}/illumichat-pg.XXXXXX")"
  chmod 755 "$dir"
  [ "$(id -u)" -ne 0 ] || chown nobody:nogroup "$dir"
  cd "$dir"
  if ! as_owner "$bin/initdb" -D "$dir/data" --auth=trust --no-sync --username=postgres --encoding=UTF8 \
    --locale=C --no-instructions >"$dir/initdb.log" 2>&1; then
    log "initdb failed:"; cat "$dir/initdb.log" >&2
    rm -rf "$dir"; return 1
  fi
  cat >>"$dir/data/postgresql.conf" <<EOF

# scripts/pg-cluster.sh: a throwaway test cluster
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = $MAX_CONNECTIONS
EOF
  local attempt port
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    port=$((20000 + RANDOM % 40000))
    port_taken "$port" && continue
    : >"$dir/server.log"
    [ "$(id -u)" -ne 0 ] || chown nobody:nogroup "$dir/server.log"
    if as_owner "$bin/pg_ctl" start -w -t 120 -D "$dir/data" -l "$dir/server.log" -o "-p $port" >/dev/null 2>&1; then
      printf 'ILLUMICHAT_PG_CLUSTER_DIR=%s\nILLUMICHAT_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:%s/postgres\n' \
        "$dir" "$port" >"$dir/$MARKER"
      echo "$bin" >"$dir/bin"
      cat "$dir/$MARKER"
      return 0
    fi
    # Another process took the port between our check and the server's bind: try another one.
    grep -q 'could not bind\|could not create any TCP/IP sockets' "$dir/server.log" || break
    log "port $port was taken (attempt $attempt); trying another"
  done
  log "the server did not start:"; cat "$dir/server.log" >&2
  stop_dir "$dir"
  return 1
}

cluster_dir() {
  local d="${1:-${ILLUMICHAT_PG_CLUSTER_DIR:-}}"
  if [ -z "$d" ] || [ ! -f "$d/$MARKER" ]; then
    log "'${d}' is not a cluster this script started (no $MARKER in it)"
    return 1
  fi
  echo "$d"
}

stop_dir() {
  dir="$1"
  if [ -f "$dir/data/postmaster.pid" ]; then
    local bin pid
    bin="$(cat "$dir/bin" 2>/dev/null || find_bin)"
    pid="$(head -n 1 "$dir/data/postmaster.pid")"
    cd "$dir"
    if ! as_owner "$bin/pg_ctl" stop -w -t 30 -m immediate -D "$dir/data" >/dev/null 2>&1; then
      # pg_ctl could not stop it: end the postmaster we started (its children follow it).
      [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
    fi
    cd /
  fi
  rm -rf "$dir"
}

cmd="${1:-}"
shift || true
case "$cmd" in
  start) start ;;
  env)
    target="$(cluster_dir "${1:-}")" || exit 1
    cat "$target/$MARKER"
    ;;
  stop)
    target="$(cluster_dir "${1:-}")" || exit 1
    stop_dir "$target"
    ;;
  run)
    [ "${1:-}" = "--" ] && shift
    [ "$#" -gt 0 ] || { log "usage: $0 run -- COMMAND [ARG…]"; exit 2; }
    vars="$(start)"
    set -a; eval "$vars"; set +a
    trap 'stop_dir "$ILLUMICHAT_PG_CLUSTER_DIR"' EXIT
    trap 'exit 130' INT TERM
    status=0
    "$@" || status=$?
    exit "$status"
    ;;
  *)
    echo "usage: $0 start | env [DIR] | stop [DIR] | run -- COMMAND [ARG…]" >&2
    exit 2
    ;;
esac
