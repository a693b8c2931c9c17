#!/usr/bin/env bash
# Usage: tests/check-logs.sh LOG_DIR SECRETS_FILE
#
# Fails if any secret the tests recorded (SECRETS_FILE, one per line, written by
# tests/support/canary.rs) appears in any log a test process or `outpost` child wrote
# (LOG_DIR/*.log, see tests/support/logs.rs). A leak is reported as the file and the
# secret's first characters, never the whole secret: this output is a log too.
# Also fails when there is nothing to check, no log lines or no secrets, so a run
# that logged nothing (or recorded nothing) cannot pass by default.
# Exit status: 0 clean, 1 leaked or nothing to check, 2 usage or I/O error.
set -euo pipefail

if [ "$#" -ne 2 ]; then
    echo "usage: $0 LOG_DIR SECRETS_FILE" >&2
    exit 2
fi
log_dir=$1
secrets_file=$2

fail() { printf 'log check: %s\n' "$*" >&2; exit 1; }

[ -d "$log_dir" ] || fail "no log directory $log_dir"
shopt -s nullglob
logs=("$log_dir"/*.log)
[ "${#logs[@]}" -gt 0 ] || fail "no log files in $log_dir: nothing was logged, nothing was checked"
lines=$(cat -- "${logs[@]}" | wc -l)
[ "$lines" -gt 0 ] || fail "the ${#logs[@]} log files in $log_dir are empty: nothing was checked"

[ -f "$secrets_file" ] || fail "no secrets file $secrets_file: no secret was recorded"
patterns=$(mktemp)
trap 'rm -f "$patterns"' EXIT
# An empty pattern would match every line; duplicates only slow grep down.
grep -v '^$' -- "$secrets_file" | sort -u >"$patterns" || true
secrets=$(wc -l <"$patterns")
[ "$secrets" -gt 0 ] || fail "$secrets_file records no secret: nothing to look for"

# Bytes, not characters (LC_ALL=C), and binary-looking files read as text (-a).
status=0
hits=$(LC_ALL=C grep -a -F -o -H -f "$patterns" -- "${logs[@]}") || status=$?
case $status in
    0) ;;
    1)
        echo "log check: $lines log lines from ${#logs[@]} processes, $secrets recorded secrets, none leaked"
        exit 0
        ;;
    *)
        echo "log check: grep failed (exit $status)" >&2
        exit 2
        ;;
esac

# One line per leaked secret and file. Log file names hold no colon.
while IFS= read -r hit; do
    file=${hit%%:*}
    secret=${hit#*:}
    # A canary's label or a real secret's first characters: enough to find it, too
    # few to use it.
    shown=$((${#secret} / 4))
    [ "$shown" -le 12 ] || shown=12
    printf 'log check: LEAK in %s: recorded secret "%s..." (%d characters)\n' \
        "$file" "${secret:0:shown}" "${#secret}"
done <<<"$hits" | sort -u >&2
leaked=$(cut -d: -f2- <<<"$hits" | sort -u | wc -l)
fail "$leaked of $secrets recorded secrets found in $lines log lines"
