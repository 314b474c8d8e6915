#!/usr/bin/env bash
# What `npm test` runs: prepare the environment, install the npm dependencies when they are
# missing, build, run every test once with vitest.
# Besides the default reporter, vitest writes a JSON report to $VITEST_JSON_REPORT
# (default reports/vitest.json), which .ci/run turns into its summary line.
# Extra arguments go to vitest (e.g. `npm test -- test/conformance`). Exits with vitest's code.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

report="${VITEST_JSON_REPORT:-reports/vitest.json}"
mkdir -p "$(dirname "$report")"
rm -f "$report"

bash scripts/setup-test-env.sh
# A fresh clone has no node_modules yet: install the locked dependencies (.ci/run has already).
if [ ! -x node_modules/.bin/vitest ] || [ ! -x node_modules/.bin/tsc ]; then npm ci; fi
npm run build
# Tests and helpers are type-checked too (the build covers src/ only).
npm run typecheck

set +e
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
code=$?
set -e
exit "$code"
