#!/bin/sh
# The accounts Outpost runs as, and the configuration directory they read: run as
# root by provisioning/bootstrap.sh and by the .deb's postinst (installed there as
# /usr/lib/outpost/accounts), so both make them the same way. Changes nothing that
# is already in place.
#
#   outpost        the dashboard (`outpost serve`), home /var/lib/outpost
#   outpost-agent  agent workloads, home /var/lib/outpost-agent
#
# Each is a system account with no login shell, a group of its own and a home of its
# own (mode 0750) without the skeleton files of a person's account.
set -eu

ensure_system_user() {
    name=$1
    home=$2
    if ! id -u "$name" >/dev/null 2>&1; then
        printf '==> Creating system user %s (home %s, no login shell)\n' "$name" "$home"
        useradd --system --user-group --home-dir "$home" --no-create-home \
            --shell /usr/sbin/nologin "$name"
    fi
    install -d -m 0750 -o "$name" -g "$name" "$home"
}

ensure_system_user outpost /var/lib/outpost
ensure_system_user outpost-agent /var/lib/outpost-agent
# The service reads its configuration; nobody else on the host does.
install -d -m 0750 -o root -g outpost /etc/outpost
