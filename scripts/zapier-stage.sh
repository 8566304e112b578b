#!/usr/bin/env bash
# Lays out the Zapier app alone in build/app (or $ZAPIER_STAGE_DIR): the compiled app, its sources, a
# package.json with only the runtime dependencies, and node_modules holding only those (copied from the
# installed tree, so it works offline). The Zapier CLI zips every package.json under the directory it builds
# in, so building at the repo root would ship the manifests of the partner API's and the tooling's packages.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
stage="${ZAPIER_STAGE_DIR:-build/app}"

# A fresh compile: no file from a deleted source can linger in dist/.
rm -rf dist/zapier-app dist/catalog dist/fixtures
npm run --silent build:app

rm -rf "$stage"
mkdir -p "$stage/dist"
cp index.js .zapierapprc "$stage/"
cp -R dist/zapier-app dist/catalog dist/fixtures "$stage/dist/"
# The sources ride along for source.zip, the copy Zapier keeps for review; build.zip takes only what index.js requires.
cp -R zapier-app catalog fixtures tsconfig.json tsconfig.build.json "$stage/"
mkdir -p "$stage/docs" && cp docs/zapier-app.md "$stage/docs/" 2>/dev/null || true

node -e '
  const pkg = require(process.argv[1]);
  const app = {
    name: pkg.name, version: pkg.version, description: pkg.description, private: true,
    main: "index.js", engines: pkg.engines, dependencies: pkg.dependencies,
  };
  require("fs").writeFileSync(process.argv[2], JSON.stringify(app, null, 2) + "\n");
' "$root/package.json" "$stage/package.json"

# source.zip honours the app directory's .gitignore; without one it would take node_modules too.
printf 'node_modules/\nbuild/\ndist/\n*.zip\n.env\n' > "$stage/.gitignore"

# Every installed package the runtime dependencies need, and nothing else.
# npm may print real paths (node_modules can be a symlink), so paths are taken relative to its real location.
modules="$(cd node_modules && pwd -P)"
npm ls --omit=dev --all --parseable 2>/dev/null | tail -n +2 | while read -r dir; do
  case "$dir" in
    "$root"/*) rel="${dir#"$root"/}" ;;
    "$modules"/*) rel="node_modules/${dir#"$modules"/}" ;;
    *) echo "unexpected package path: $dir" >&2; exit 1 ;;
  esac
  [ -e "$stage/$rel" ] && continue
  mkdir -p "$stage/$(dirname "$rel")"
  cp -R "$dir" "$stage/$rel"
done
echo "Zapier app staged in $stage"
