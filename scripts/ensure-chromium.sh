#!/usr/bin/env bash
# The settings browser test (test/e2e/settings-browser.test.ts) drives Debian's Chromium at /usr/bin/chromium
# through playwright-core; no browser is downloaded. .ci/run calls this before `./dev test`: when Chromium is
# missing and we run as root, it installs Debian's `chromium` package. Otherwise it only says what is missing,
# and the browser test then fails with the same advice (it is never skipped).
set -uo pipefail
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: $CHROMIUM is missing; installing Debian's chromium package" >&2
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; then
    [ -x "$CHROMIUM" ] && exit 0
  fi
  echo "ensure-chromium: installing chromium failed; the settings browser test will fail" >&2
  exit 1
fi
echo "ensure-chromium: $CHROMIUM is missing. Install it as root: apt-get install -y --no-install-recommends chromium" >&2
exit 1
