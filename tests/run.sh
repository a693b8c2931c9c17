#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests, and a check
# that no secret the tests handled reached any log line.
# Works on a fresh Debian 12 machine: installs a C toolchain, Rust, the PostgreSQL
# server binaries, the host tools the hardening tests run and the Chromium the
# browser tests drive, if they are missing.
# Unless DATABASE_URL names a server to create test databases on, the tests start
# their own throwaway PostgreSQL (initdb in a temp dir, unix socket only) and remove
# it when they finish.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=provisioning/lib.sh
. provisioning/lib.sh

ensure_build_tools
ensure_rust
ensure_postgres_binaries
# sshd, fail2ban, ufw, unattended-upgrades, systemd-analyze, shellcheck: the host
# hardening tests run the real tools (never the machine's own services).
ensure_host_tools
# A real S3 API (moto) for the backup-target tests.
ensure_moto
# cargo-deb for the package test (tests/integration/deb.rs).
ensure_cargo_deb
# Headless Chromium for the dashboard's browser tests.
ensure_browser

say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy (warnings are errors)"
cargo clippy --locked --all-targets -- -D warnings
# Every test process, and every `outpost` the tests start, logs everything at debug
# into $work/logs; the tests record each secret they handle in $work/secrets; no
# recorded secret may appear in any log line (tests/check-logs.sh).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/logs"
say "cargo test (debug logs collected and checked for secrets)"
OUTPOST_TEST_LOG_DIR="$work/logs" OUTPOST_TEST_SECRETS="$work/secrets" \
    cargo test --locked --workspace "$@"
say "log check"
if ! tests/check-logs.sh "$work/logs" "$work/secrets"; then
    # Kept so a leaking line can be found; they hold only test secrets.
    trap - EXIT
    die "log check failed; the logs and recorded secrets are in $work"
fi
tests/check-logs-selftest.sh "$work/secrets"
