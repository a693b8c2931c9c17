#!/usr/bin/env bash
# Sets up and runs the Outpost dashboard on this machine, for evaluation or development:
#   1. installs build tools, Rust and PostgreSQL if they are missing;
#   2. starts PostgreSQL and creates the `outpost` role and database;
#   3. builds Outpost, writes its config to .outpost-dev/outpost.toml and creates the
#      keyring that seals stored secrets (.outpost-dev/vault.key, mode 0400);
#   4. creates the first Owner (if there is none) and prints their setup link;
#   5. serves the dashboard on http://127.0.0.1:8080.
# Running it again keeps everything that exists and just starts the dashboard.
#
# Settings (environment): OUTPOST_OWNER_EMAIL (default owner@example.com),
# OUTPOST_QUICKSTART_PORT (default 8080), OUTPOST_HOME (default ./.outpost-dev).
# `--setup-only` does steps 1-4 and exits.
# For a production server use provisioning/bootstrap.sh instead.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=provisioning/lib.sh
. provisioning/lib.sh

OWNER_EMAIL=${OUTPOST_OWNER_EMAIL:-owner@example.com}
PORT=${OUTPOST_QUICKSTART_PORT:-8080}
STATE_DIR=${OUTPOST_HOME:-$PWD/.outpost-dev}
CONFIG=$STATE_DIR/outpost.toml
PASSWORD_FILE=$STATE_DIR/db-password
SETUP_ONLY=""
case "${1:-}" in
    --setup-only) SETUP_ONLY=1 ;;
    "") ;;
    *) die "unknown argument '$1' (the only option is --setup-only)" ;;
esac

say "Checking build tools, Rust and PostgreSQL"
ensure_build_tools
ensure_rust
apt_install postgresql postgresql-client

read -r PG_VERSION PG_CLUSTER PG_PORT <<<"$(pg_running_cluster)"
pg_wait_ready "$PG_PORT" 127.0.0.1 ||
    die "PostgreSQL $PG_VERSION/$PG_CLUSTER does not accept connections on 127.0.0.1:$PG_PORT"
say "PostgreSQL $PG_VERSION/$PG_CLUSTER is running on 127.0.0.1:$PG_PORT"

mkdir -p "$STATE_DIR"
chmod 700 "$STATE_DIR"
if [ ! -s "$PASSWORD_FILE" ]; then
    (umask 077 && head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$PASSWORD_FILE")
fi
DB_PASSWORD=$(cat "$PASSWORD_FILE")

say "Ensuring the database role 'outpost' and database 'outpost'"
if ! PGPASSWORD=$DB_PASSWORD psql -qAt -h 127.0.0.1 -p "$PG_PORT" -U outpost -d postgres \
        -c 'SELECT 1' >/dev/null 2>&1; then
    as_postgres psql -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -v pw="$DB_PASSWORD" <<'SQL'
SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'outpost') AS missing \gset
\if :missing
CREATE ROLE outpost LOGIN;
\endif
ALTER ROLE outpost WITH LOGIN CREATEDB PASSWORD :'pw';
SQL
fi
if [ "$(as_postgres psql -qAt -p "$PG_PORT" -c "SELECT 1 FROM pg_database WHERE datname = 'outpost'")" != 1 ]; then
    as_postgres createdb -p "$PG_PORT" -O outpost outpost
fi

say "Building Outpost (release)"
cargo build --release --locked --quiet
BIN=$PWD/target/release/outpost

# Same inputs, same bytes: rewriting the file on a second run changes nothing.
(umask 077 && cat >"$CONFIG" <<TOML
# Written by provisioning/quickstart.sh for a local evaluation; see README.md.
server_name = "$(hostname)"
public_url = "http://127.0.0.1:$PORT"
listen = "127.0.0.1:$PORT"
database_url = "postgres://outpost:$DB_PASSWORD@127.0.0.1:$PG_PORT/outpost"
vault_key_file = "$STATE_DIR/vault.key"
audit_signing_key_file = "$STATE_DIR/audit-signing.key"
audit_checkpoint_file = "$STATE_DIR/audit-checkpoints.log"
data_dir = "$STATE_DIR"     # backups (daily, weekly, monthly) go to $STATE_DIR/backups
TOML
)
"$BIN" config check --config "$CONFIG" >/dev/null

say "Ensuring the keys that seal stored secrets and sign the audit log"
"$BIN" keys init --config "$CONFIG"

say "Applying database migrations"
"$BIN" migrate --config "$CONFIG"

say "Ensuring the first Owner ($OWNER_EMAIL)"
"$BIN" admin create-owner --config "$CONFIG" --email "$OWNER_EMAIL"

if [ -n "$SETUP_ONLY" ]; then
    say "Setup complete. Start the dashboard with: $BIN serve --config $CONFIG"
    exit 0
fi
say "Serving the dashboard on http://127.0.0.1:$PORT (Ctrl-C stops it)"
exec "$BIN" serve --config "$CONFIG"
