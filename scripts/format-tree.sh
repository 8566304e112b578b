#!/usr/bin/env bash
# Formats the whole tree once with Prettier (npm run format) and records it for `git blame`:
#   1. one commit that holds only the formatting, and nothing else;
#   2. a second commit that appends that commit's hash to .git-blame-ignore-revs.
# Run it on a clean worktree after every branch is merged, then add `npm run format:check` to `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! git diff --quiet || ! git diff --cached --quiet; then
  echo "format-tree: commit or stash your changes first; the formatting commit must hold nothing else" >&2
  exit 1
fi

./dev npm run --silent format
if git diff --quiet; then
  echo "format-tree: the tree is already formatted; nothing to commit"
  exit 0
fi
# Formatting must not change what the code means: the types and the lint rules still pass on the result.
./dev npm run --silent typecheck
./dev npm run --silent lint

git add -u
git commit --quiet -m "Format the tree with Prettier (npm run format), no other change

Width 120 and the rest of .prettierrc.json; listed in .git-blame-ignore-revs so git blame skips it."
formatting_commit=$(git rev-parse HEAD)

printf '%s\n' "$formatting_commit" >>.git-blame-ignore-revs
git add .git-blame-ignore-revs
git commit --quiet -m "List the formatting commit ${formatting_commit:0:12} in .git-blame-ignore-revs

So git blame (with blame.ignoreRevsFile set) and GitHub's blame view skip it."
echo "format-tree: formatted in $formatting_commit; listed in .git-blame-ignore-revs in $(git rev-parse --short HEAD)"
