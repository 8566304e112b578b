#!/usr/bin/env bash
# The jest step of `npm test`: the whole suite once per engine (issue 13 §4, ADR 0010 §8), SQLite then
# PostgreSQL, so one command tests everything.
#
# - SQLite runs with coverage, and jest fails below the thresholds in jest.config.js (the coverage gate,
#   CONTRIBUTING.md). The PostgreSQL run is the same tests without coverage (the gate is SQLite's).
# - PostgreSQL: the cluster in ILLUMICHAT_TEST_DATABASE_URL when set (a superuser's URL), else a private one
#   this script starts (scripts/pg-cluster.sh: initdb on a temp dir, a free loopback port; installs Debian's
#   postgresql package when missing and run as root) and stops on exit, whatever happens. Both runs use it: the
#   SQLite run's tests of PostgreSQL itself (pg-store, schema parity…) need one too.
# - Each run's counts come from jest's own (test/support/summary-reporter.js writes .jest-summary); this
#   prints "sqlite: …" and "postgres: …" with their times, and leaves their sum in .jest-summary as the plain
#   "tests: N passed, N failed" line CI reads. A run that fails outside any test (a missed coverage threshold,
#   a set-up that failed before jest could report, no cluster) counts as 1 failed: that line must not say
#   "0 failed" for a run that failed.
#
# A run narrowed by arguments (`npm test -- test/zapier-app`, `zapier-platform test -- -t auth`) runs just
# those tests once, on ILLUMICHAT_TEST_ENGINE (sqlite unless set), without coverage: a part of the suite
# cannot meet the whole suite's figures.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -gt 0 ]; then
  exec jest "$@"
fi

cluster=""
if [ -z "${ILLUMICHAT_TEST_DATABASE_URL:-}" ]; then
  if vars="$(scripts/pg-cluster.sh start)"; then
    set -a
    eval "$vars"
    set +a
    cluster="$ILLUMICHAT_PG_CLUSTER_DIR"
    trap 'scripts/pg-cluster.sh stop "$cluster"' EXIT
  else
    echo "jest.sh: could not start a PostgreSQL cluster (above); the PostgreSQL run counts as failed" >&2
  fi
fi

summaries=""
# Runs jest once on engine $1 with the arguments after it; adds "<engine>: N passed, N failed (S s)" to
# $summaries and returns jest's status.
run_engine() {
  local engine="$1"
  shift
  rm -f .jest-summary
  local status=0 started line
  started=$(date +%s)
  ILLUMICHAT_TEST_ENGINE="$engine" jest "$@" || status=$?
  if [ -f .jest-summary ]; then
    line="$(sed 's/^tests: //' .jest-summary)"
    if [ "$status" -ne 0 ] && [[ "$line" == *"passed, 0 failed" ]]; then
      line="${line%0 failed}1 failed"
      echo "jest.sh: the $engine run failed outside any test (a coverage threshold above, most likely); counted as 1 failed" >&2
    fi
  else
    line="0 passed, 1 failed" # jest did not get to report (its set-up failed)
    [ "$status" -ne 0 ] || status=1
  fi
  summaries+="$engine: $line ($(($(date +%s) - started)) s)"$'\n'
  return "$status"
}

status=0
run_engine sqlite --coverage || status=1
if [ -n "${ILLUMICHAT_TEST_DATABASE_URL:-}" ]; then
  run_engine postgres || status=1
else
  summaries+="postgres: 0 passed, 1 failed (no cluster)"$'\n'
  status=1
fi

printf '%s' "$summaries"
passed=0
failed=0
while read -r _ p _ f _; do
  [ -n "$p" ] || continue
  passed=$((passed + p))
  failed=$((failed + f))
done <<<"$summaries"
echo "tests: $passed passed, $failed failed" | tee .jest-summary
exit "$status"
