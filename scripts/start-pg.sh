#!/usr/bin/env bash
# `./dev start-pg`: a try-out of the API on PostgreSQL with two instances on one database (README,
# "PostgreSQL"). It starts a private, throwaway cluster (scripts/pg-cluster.sh: a temp directory, a free
# loopback port, fsync off; Debian's postgresql package is installed when missing and we are root), makes the
# database `illumichat`, and starts two API instances on it, on PORT and PORT+1 (3000 and 3001 by default),
# each with its delivery worker. The first to take the seed lock creates the demo workspace and prints its key.
# Ctrl-C (or SIGTERM) stops both instances, then the cluster, and removes its directory: nothing is kept.
# Not for production: that needs a durable PostgreSQL server and ILLUMICHAT_DATABASE_URL (README).
set -euo pipefail
cd "$(dirname "$0")/.."

port="${PORT:-3000}"
vars="$(scripts/pg-cluster.sh start)"
cluster_dir="$(sed -n 's/^ILLUMICHAT_PG_CLUSTER_DIR=//p' <<<"$vars")"
admin_url="$(sed -n 's/^ILLUMICHAT_TEST_DATABASE_URL=//p' <<<"$vars")"
url="${admin_url%/postgres}/illumichat"

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  scripts/pg-cluster.sh stop "$cluster_dir"
  echo "start-pg: stopped both instances and the cluster" >&2
}
trap stop EXIT
trap 'exit 130' INT TERM

node -e '
  const pg = require("pg");
  const client = new pg.Client(process.argv[1]);
  client.connect().then(() => client.query("CREATE DATABASE illumichat")).then(() => client.end(),
    (e) => { console.error(e.message); process.exit(1); });
' "$admin_url"

for i in 0 1; do
  PORT=$((port + i)) ILLUMICHAT_DATABASE_URL="$url" npm start --silent &
  pids+=("$!")
done
# The instances log JSON lines; this says once where they are, when both listen.
for _ in $(seq 1 600); do
  up=0
  for i in 0 1; do
    (exec 3<>"/dev/tcp/127.0.0.1/$((port + i))") 2>/dev/null && up=$((up + 1))
  done
  [ "$up" -eq 2 ] && break
  sleep 0.2
done
cat >&2 <<MSG

=== start-pg: two API instances on one PostgreSQL database ===
  http://127.0.0.1:$port
  http://127.0.0.1:$((port + 1))
  database: $url (a throwaway cluster in $cluster_dir)
  admin command line on it: ILLUMICHAT_DATABASE_URL=$url ./dev admin workspace list
  stop: Ctrl-C here (both instances, then the cluster; nothing is kept)
MSG
wait -n "${pids[@]}" || true
echo "start-pg: an instance exited; stopping the rest" >&2
