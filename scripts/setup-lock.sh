# Sourced by scripts/node22.sh: one lock for the project's set-up steps (bringing Node 22, npm ci), so two
# commands started at once in a fresh clone (README: `./dev start` and, in another shell, `./dev test`) run
# them one after the other instead of deleting each other's files.
#
# Why mkdir: it is atomic on every local filesystem, and it is in every shell on Linux and macOS; flock(1)
# is util-linux only (not on macOS). The holder writes "PID START-TIME" into the lock; a waiter that finds
# the holder gone (killed, even with SIGKILL, so no trap ran) takes the lock over. The start time (ps's
# lstart) keeps a recycled PID from looking like the old holder.
#
#   setup_lock_acquire   waits (printing once to stderr why) until the lock is ours
#   setup_lock_release   gives it back; commands that `exec` must call it first, since no trap runs then

SETUP_LOCK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.tools/setup.lock"
_setup_lock_held=0

# "PID START-TIME" of process $1, or nothing when it is not running.
_setup_lock_identity() {
  kill -0 "$1" 2>/dev/null || return 0
  printf '%s %s' "$1" "$(ps -p "$1" -o lstart= 2>/dev/null | tr -s ' ')"
}

setup_lock_acquire() {
  [ "$_setup_lock_held" = 1 ] && return 0
  mkdir -p "$(dirname "$SETUP_LOCK_DIR")"
  local said=0 holder pid
  while ! mkdir "$SETUP_LOCK_DIR" 2>/dev/null; do
    holder="$(cat "$SETUP_LOCK_DIR/owner" 2>/dev/null || true)"
    pid="${holder%% *}"
    # No owner yet: the holder is between its mkdir and writing the file; wait for it.
    if [ -n "$pid" ] && [ "$(_setup_lock_identity "$pid")" != "$holder" ]; then
      # The holder is gone. Renaming is atomic, so of several waiters only one takes the stale lock away;
      # it is removed only if it is still the dead holder's (not one a faster waiter just made).
      local stale="$SETUP_LOCK_DIR.stale.$$"
      if mv "$SETUP_LOCK_DIR" "$stale" 2>/dev/null; then
        if [ "$(cat "$stale/owner" 2>/dev/null || true)" = "$holder" ]; then
          echo "Set-up: process $pid died while holding the set-up lock; taking it over" >&2
          rm -rf "$stale"
        else
          mv "$stale" "$SETUP_LOCK_DIR" 2>/dev/null || rm -rf "$stale"
        fi
      fi
      continue
    fi
    if [ "$said" = 0 ]; then
      echo "Set-up: waiting for another ./dev (process ${pid:-starting}) to finish installing" >&2
      said=1
    fi
    sleep 0.2
  done
  _setup_lock_identity "$$" >"$SETUP_LOCK_DIR/owner.tmp"
  mv "$SETUP_LOCK_DIR/owner.tmp" "$SETUP_LOCK_DIR/owner"
  _setup_lock_held=1
  trap setup_lock_release EXIT
}

setup_lock_release() {
  [ "$_setup_lock_held" = 1 ] || return 0
  rm -rf "$SETUP_LOCK_DIR"
  _setup_lock_held=0
}
