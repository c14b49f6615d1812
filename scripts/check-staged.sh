#!/usr/bin/env bash
# Quick pre-commit check: lint every tracked or staged file and typecheck the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
npx biome check $(git ls-files --cached --others --exclude-standard -- '*.ts' '*.mjs' '*.js' '*.json' | grep -v '^zoo/' || true)
npm run typecheck --silent
