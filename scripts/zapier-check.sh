#!/usr/bin/env bash
# The Zapier checks of the test command, all offline: stage the app alone (scripts/zapier-stage.sh), validate
# its definition against Zapier's schema, build build.zip (whose own "Testing build" step loads the zip), and
# check the zip holds the app and its runtime packages only.
set -euo pipefail
cd "$(dirname "$0")/.."
export DISABLE_ZAPIER_ANALYTICS=1 NO_UPDATE_NOTIFIER=1
root="$PWD"
stage="${ZAPIER_STAGE_DIR:-build/app}"
zapier="$root/node_modules/.bin/zapier-platform"

scripts/zapier-stage.sh
(cd "$stage" && "$zapier" validate --without-style)
(cd "$stage" && "$zapier" build --skip-dep-install --skip-validation)
"$root/node_modules/.bin/ts-node" --transpile-only test/zapier-app/support/check-build-zip.ts "$stage/build/build.zip"
