#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests.
# Works on a fresh Debian 12 machine: installs a C toolchain, Rust and the PostgreSQL
# server binaries if they are missing. Unless DATABASE_URL names a server to create
# test databases on, the tests start their own throwaway PostgreSQL (initdb in a temp
# dir, unix socket only) and remove it when they finish.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=provisioning/lib.sh
. provisioning/lib.sh

ensure_build_tools
ensure_rust
ensure_postgres_binaries

say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy (warnings are errors)"
cargo clippy --locked --all-targets -- -D warnings
say "cargo test"
cargo test --locked --workspace "$@"
