#!/usr/bin/env bash
# Turns a fresh Debian 12 or Ubuntu 24.04 VPS into an Outpost host. Run as root from
# a checkout of Outpost:
#
#   provisioning/bootstrap.sh --owner-email owner@client.example \
#       [--public-url https://outpost.client.example] [--binary PATH | --deb PATH] \
#       [--ssh-user NAME] [--listen 127.0.0.1:8080]
#
#   1. installs the packages: PostgreSQL, ufw, fail2ban, unattended-upgrades, sshd;
#   2. creates the system users `outpost` (the dashboard) and `outpost-agent` (agent
#      workloads): no login shell, own home, mode 0750 (provisioning/accounts.sh,
#      which the .deb's postinst runs too);
#   3. installs the binary as /usr/bin/outpost: --deb installs a package made by
#      `cargo deb` (binary, units, default configuration) with apt; --binary copies
#      a built binary; with neither, it is built here;
#   4. writes /etc/outpost/outpost.toml (root:outpost 0640) unless it exists; its
#      [harden] section authorises --ssh-user's SSH keys;
#   5. creates the PostgreSQL role and database `outpost`, reached over the unix
#      socket by peer authentication (root's CLI maps to the same role);
#   6. creates the vault keyring and the audit signing key (`outpost keys init`);
#   7. applies the database migrations;
#   8. installs (unless the package did) and starts outpost.service, the nightly
#      outpost-harden.timer and outpost-harden-queue.timer (re-applies controls the
#      security loop found drifted);
#   9. hardens the host (`outpost harden --apply`);
#  10. creates the first Owner and prints their setup link.
#
# Running it again changes nothing that is already in place: packages, users, config,
# keys, role and database are kept; the binary and units are replaced only if they
# differ; the hardening apply is itself idempotent. Every option may also be given by
# environment: OUTPOST_OWNER_EMAIL, OUTPOST_PUBLIC_URL, OUTPOST_BINARY, OUTPOST_DEB,
# OUTPOST_SSH_USER, OUTPOST_LISTEN.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=provisioning/lib.sh
. provisioning/lib.sh

OWNER_EMAIL=${OUTPOST_OWNER_EMAIL:-}
PUBLIC_URL=${OUTPOST_PUBLIC_URL:-https://$(hostname -f 2>/dev/null || hostname)}
BINARY=${OUTPOST_BINARY:-}
DEB=${OUTPOST_DEB:-}
SSH_USER=${OUTPOST_SSH_USER:-${SUDO_USER:-root}}
LISTEN=${OUTPOST_LISTEN:-127.0.0.1:8080}

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --owner-email) OWNER_EMAIL=${2:?}; shift 2 ;;
        --public-url) PUBLIC_URL=${2:?}; shift 2 ;;
        --binary) BINARY=${2:?}; shift 2 ;;
        --deb) DEB=${2:?}; shift 2 ;;
        --ssh-user) SSH_USER=${2:?}; shift 2 ;;
        --listen) LISTEN=${2:?}; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[ "$(id -u)" -eq 0 ] || die "run as root: it installs packages, users and services"
# cloud-init's runcmd may leave HOME unset; rustup and cargo need one.
export HOME=${HOME:-/root}
[ -n "$OWNER_EMAIL" ] || die "--owner-email is required: the first Owner's address"
[ -z "$BINARY" ] || [ -z "$DEB" ] || die "give --binary or --deb, not both"

BIN=/usr/bin/outpost
CONF_DIR=/etc/outpost
CONFIG=$CONF_DIR/outpost.toml
UNIT_DIR=/etc/systemd/system

say "1/10 Installing packages (PostgreSQL, ufw, fail2ban, unattended-upgrades, sshd)"
apt_install postgresql postgresql-client ufw fail2ban python3-systemd \
    unattended-upgrades openssh-server

say "2/10 System users outpost and outpost-agent"
sh provisioning/accounts.sh

say "3/10 Installing the binary as $BIN"
restart=""
if [ -n "$DEB" ]; then
    [ -f "$DEB" ] || die "$DEB is not a file"
    before=$(sha256sum "$BIN" 2>/dev/null || true)
    # apt (not dpkg -i) so the package's dependencies come along; it needs a path.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "$(realpath "$DEB")"
    [ "$before" = "$(sha256sum "$BIN")" ] || restart=1
elif [ -z "$BINARY" ]; then
    say "No --binary given: building Outpost from this checkout"
    ensure_build_tools
    ensure_rust
    cargo build --release --locked --quiet
    BINARY=$PWD/target/release/outpost
fi
if [ -z "$DEB" ]; then
    [ -x "$BINARY" ] || die "$BINARY is not an executable"
    if ! cmp -s "$BINARY" "$BIN"; then
        install -m 0755 -o root -g root "$BINARY" "$BIN"
        restart=1
    fi
fi
"$BIN" --version

say "4/10 Configuration $CONFIG"

# The [harden] entry for the SSH user: their authorised keys, TOML-quoted.
ssh_user_entry() {
    local home keys=() key
    home=$(getent passwd "$SSH_USER" | cut -d: -f6)
    [ -n "$home" ] || die "--ssh-user $SSH_USER does not exist"
    if [ -r "$home/.ssh/authorized_keys" ]; then
        while IFS= read -r key; do
            case "$key" in "" | "#"*) continue ;; esac
            key=${key//\\/\\\\}
            keys+=("\"${key//\"/\\\"}\"")
        done <"$home/.ssh/authorized_keys"
    fi
    if [ "${#keys[@]}" -eq 0 ]; then
        say "WARNING: $SSH_USER has no authorised SSH keys: password login stays on" >&2
        return 0
    fi
    local IFS=,
    printf 'ssh_users = [{ name = "%s", keys = [%s] }]\n' "$SSH_USER" "${keys[*]}"
}

# The package's default configuration, untouched, is replaced with this server's.
if [ -e "$CONFIG" ] && ! cmp -s "$CONFIG" provisioning/outpost.toml; then
    say "Keeping the existing $CONFIG"
else
    root_login=no
    # Root's key is the way in: keep it working, but never with a password.
    [ "$SSH_USER" = root ] && root_login=prohibit-password
    ssh_users=$(ssh_user_entry)
    (umask 027 && cat >"$CONFIG" <<TOML
# Written by provisioning/bootstrap.sh; see README.md for every key.
server_name = "$(hostname)"
public_url = "$PUBLIC_URL"
listen = "$LISTEN"
$(grep -v '^#' provisioning/outpost.toml)

[harden]
permit_root_login = "$root_login"
$ssh_users
TOML
    )
    chown root:outpost "$CONFIG"
    chmod 0640 "$CONFIG"
fi
"$BIN" config check --config "$CONFIG" >/dev/null

say "5/10 PostgreSQL role and database 'outpost' (unix socket, peer authentication)"
read -r PG_VERSION PG_CLUSTER PG_PORT <<<"$(pg_running_cluster)"
pg_wait_ready "$PG_PORT" || die "PostgreSQL $PG_VERSION/$PG_CLUSTER does not answer"
psql_admin() { as_postgres psql -qAt -v ON_ERROR_STOP=1 -p "$PG_PORT" "$@"; }
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = 'outpost'")" != 1 ]; then
    psql_admin -c 'CREATE ROLE outpost LOGIN'
fi
# CREATEDB: restore drills restore each backup into a scratch database (and drop it),
# and `outpost backup restore` creates the database it restores into.
psql_admin -c 'ALTER ROLE outpost CREATEDB'

if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = 'outpost'")" != 1 ]; then
    as_postgres createdb -p "$PG_PORT" -O outpost outpost
fi
# Peer authentication maps the OS user to the role: `outpost` (the service) and root
# (the CLI: migrations, `harden --check` recording its results, backups) both connect
# as the role outpost, over the socket only, to any database (drills and restores use
# databases of their own). The pg_hba line goes before Debian's catch-all
# `local all all peer`, which would otherwise match first.
IDENT_FILE=$(psql_admin -c 'SHOW ident_file')
HBA_FILE=$(psql_admin -c 'SHOW hba_file')
for system_user in outpost root; do
    grep -Eq "^outpost[[:space:]]+${system_user}[[:space:]]+outpost([[:space:]]|$)" "$IDENT_FILE" ||
        echo "outpost $system_user outpost" >>"$IDENT_FILE"
done
if ! grep -Eq '^local[[:space:]]+all[[:space:]]+outpost[[:space:]]+peer[[:space:]]+map=outpost' "$HBA_FILE"; then
    awk '!done && /^[[:space:]]*[^#[:space:]]/ {
             print "local   all             outpost                                 peer map=outpost"
             done = 1
         }
         { print }
         END { if (!done) print "local   all             outpost                                 peer map=outpost" }' \
        "$HBA_FILE" >"$HBA_FILE.outpost-new"
    # Same owner and mode as the file it replaces: PostgreSQL must still read it.
    chown --reference="$HBA_FILE" "$HBA_FILE.outpost-new"
    chmod --reference="$HBA_FILE" "$HBA_FILE.outpost-new"
    mv "$HBA_FILE.outpost-new" "$HBA_FILE"
fi
psql_admin -c 'SELECT pg_reload_conf()' >/dev/null

say "6/10 Keys: the vault keyring and the audit signing key"
"$BIN" keys init --config "$CONFIG"
# The service reads the signing key itself (owner-only, so it must own it); the vault
# keyring stays root's and reaches the service as a systemd credential.
chown outpost:outpost "$CONF_DIR/audit-signing.key"

say "7/10 Database migrations"
"$BIN" migrate --config "$CONFIG"

say "8/10 systemd units: outpost.service, outpost-backup.service, the hardening timers"
for unit in outpost.service outpost-backup.service outpost-harden.service outpost-harden.timer \
    outpost-harden-queue.service outpost-harden-queue.timer; do
    if [ -n "$DEB" ]; then
        # The package's units are in /usr/lib/systemd/system; a copy left in
        # $UNIT_DIR by an earlier bootstrap would override them.
        if cmp -s "systemd/$unit" "$UNIT_DIR/$unit"; then
            rm -f "$UNIT_DIR/$unit"
            restart=1
        fi
    elif ! cmp -s "systemd/$unit" "$UNIT_DIR/$unit"; then
        install -m 0644 -o root -g root "systemd/$unit" "$UNIT_DIR/$unit"
        restart=1
    fi
done
if [ -n "$restart" ]; then
    systemctl daemon-reload
    # A running service picks up the new binary or unit; a stopped one starts below.
    systemctl try-restart outpost.service
fi
systemctl enable --now outpost.service outpost-harden.timer outpost-harden-queue.timer

say "9/10 Hardening the host (outpost harden --apply)"
# A control that refuses (no SSH key to replace passwords with, say) must not keep
# the Owner from getting in: report it, finish, and fail at the end.
harden_status=0
"$BIN" harden --apply --config "$CONFIG" || harden_status=$?

say "10/10 The first Owner ($OWNER_EMAIL)"
"$BIN" admin create-owner --config "$CONFIG" --email "$OWNER_EMAIL"
if [ "$harden_status" -ne 0 ]; then
    die "the host is not fully hardened: fix what \`outpost harden --apply\` reported above and run it again"
fi
say "Done. Open the setup link above to choose the Owner's password."
