#!/usr/bin/env bash
# Pushes the app to Zapier from the staged directory (see scripts/zapier-stage.sh), with Zapier's online
# validation. Needs `zapier-platform login` once and a registered app in .zapierapprc (docs/zapier-app.md).
#   npm run zapier:push [-- --snapshot LABEL]
set -euo pipefail
cd "$(dirname "$0")/.."
export DISABLE_ZAPIER_ANALYTICS=1 NO_UPDATE_NOTIFIER=1
root="$PWD"
stage="${ZAPIER_STAGE_DIR:-build/app}"
if ! grep -q '"id"' .zapierapprc; then
  echo "This app is not registered with Zapier yet: run npx zapier-platform register (docs/zapier-app.md)." >&2
  exit 1
fi
scripts/zapier-stage.sh
cd "$stage" && "$root/node_modules/.bin/zapier-platform" push --skip-dep-install "$@"
