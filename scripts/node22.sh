# Sourced by ./dev and .ci/run: puts Node >= 22 first on PATH.
# Zapier runs core 19 on Node 22, zapier-platform-cli refuses older Node, and better-sqlite3 13 needs it.
# A machine with only an older Node gets the npm registry's node@22 package (a real Node binary), the way
# actions/setup-node would elsewhere; a machine that already has Node 22 or newer is left as it is.
NODE22_VERSION=22.23.3
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$_major" -lt 22 ]; then
  _dir="$_root/.tools/node22"
  _node22_ready() { [ "$("$_dir/node_modules/.bin/node" --version 2>/dev/null)" = "v$NODE22_VERSION" ]; }
  if ! _node22_ready; then
    # Under the set-up lock, so a second ./dev waits instead of installing into the same directory; a
    # directory left half-done by an interrupted install is started afresh.
    source "$_root/scripts/setup-lock.sh"
    setup_lock_acquire
    if ! _node22_ready; then
      echo "Bringing Node $NODE22_VERSION into .tools/ (this machine has Node ${_major})" >&2
      rm -rf "$_dir"
      mkdir -p "$_dir"
      npm install --prefix "$_dir" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
        "node@$NODE22_VERSION" >&2
      _node22_ready || { echo "Node $NODE22_VERSION did not install into $_dir; run the command again" >&2; exit 1; }
    fi
    setup_lock_release
  fi
  export PATH="$_dir/node_modules/.bin:$PATH"
  unset -f _node22_ready
fi
export DISABLE_ZAPIER_ANALYTICS=1 NO_UPDATE_NOTIFIER=1
unset _root _major _dir
