#!/usr/bin/env bash
# The project's one test command (the README's second command; CI runs exactly it):
# set up the machine and .venv (scripts/setup.sh), then `ruff check`, `ruff format --check`
# and the whole pytest suite. Every check runs even when an earlier one fails, so one run
# shows everything that is wrong; the exit status is non-zero if any of them failed.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -m "not pcsc"`).
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh || { echo "test: scripts/setup.sh failed" >&2; exit 1; }

failed=()
run() {
    local name=$1
    shift
    echo "test: $name" >&2
    "$@" || failed+=("$name")
}
run "ruff check" .venv/bin/ruff check .
run "ruff format --check" .venv/bin/ruff format --check .
run "pytest" .venv/bin/python -m pytest -q "$@"

if ((${#failed[@]})); then
    printf 'test: FAILED: %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "test: all checks passed" >&2
