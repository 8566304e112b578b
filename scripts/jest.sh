#!/usr/bin/env bash
# The jest step of `npm test`. The whole suite runs with coverage, and jest fails below the thresholds in
# jest.config.js (the coverage gate, CONTRIBUTING.md). A run narrowed by arguments (`npm test --
# test/zapier-app`, `zapier-platform test -- -t auth`) runs just those tests without coverage: a part of the
# suite cannot meet the whole suite's figures.
set -euo pipefail
if [ "$#" -eq 0 ]; then
  exec jest --coverage
fi
exec jest "$@"
