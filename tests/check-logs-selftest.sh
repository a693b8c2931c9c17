#!/usr/bin/env bash
# Usage: tests/check-logs-selftest.sh [SECRETS_FILE]
#
# Shows that tests/check-logs.sh can fail: a planted secret is caught (and reported
# without being printed whole), and a run with no log lines or no recorded secrets
# does not pass. Given the secrets a real test run recorded, the planted secret is
# one of those, so the check is shown to catch what the run actually recorded.
set -euo pipefail

check=$(dirname "${BASH_SOURCE[0]}")/check-logs.sh
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

problem() { printf 'log check self-test: %s\n' "$*" >&2; exit 1; }

# Runs the check on LOG_DIR SECRETS; succeeds if its exit status is EXPECTED.
expect() {
    local expected=$1 status=0
    shift
    "$check" "$@" >"$scratch/out" 2>&1 || status=$?
    [ "$status" -eq "$expected" ] || {
        cat "$scratch/out" >&2
        problem "check-logs.sh $* exited $status, expected $expected"
    }
}

mkdir "$scratch/logs"
printf '2025-01-01T00:00:00Z DEBUG hyper: connecting to 127.0.0.1:5432\n' >"$scratch/logs/clean-1.log"
if [ "${1:-}" ]; then
    cp -- "$1" "$scratch/secrets"
    planted=$(grep -v '^$' "$scratch/secrets" | tail -n 1)
else
    planted=sk-canary-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    printf '%s\n' "$planted" >"$scratch/secrets"
fi
[ "$planted" ] || problem "the secrets file records no secret to plant"

expect 0 "$scratch/logs" "$scratch/secrets"

# A debug line that printed a secret, in the middle of an ordinary log.
{
    printf '2025-01-01T00:00:01Z DEBUG lettre: connected\n'
    printf '2025-01-01T00:00:02Z DEBUG outpost: login form password=%s ok\n' "$planted"
} >"$scratch/logs/outpost-4242.log"
expect 1 "$scratch/logs" "$scratch/secrets"
grep -q 'LEAK in .*outpost-4242.log' "$scratch/out" || problem "the leak report does not name the file"
if grep -qF -- "$planted" "$scratch/out"; then
    problem "the leak report prints the whole secret"
fi
rm "$scratch/logs/outpost-4242.log"

# Nothing to check must not pass: no secrets recorded, no log lines, no logs at all.
: >"$scratch/none"
expect 1 "$scratch/logs" "$scratch/none"
: >"$scratch/logs/clean-1.log"
expect 1 "$scratch/logs" "$scratch/secrets"
rm "$scratch/logs/clean-1.log"
expect 1 "$scratch/logs" "$scratch/secrets"

echo "log check self-test: a planted secret is caught, an empty run fails"
