# Shared by provisioning/quickstart.sh and tests/run.sh: install what a fresh
# Debian 12 / Ubuntu 24.04 machine lacks, and nothing it already has.
# shellcheck shell=bash

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Root runs commands as is; anyone else goes through sudo.
if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi

as_root() { "${SUDO[@]}" "$@"; }

# Runs a command as the postgres system user.
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

# Prints those of the named packages that are not installed, one a line.
missing_packages() {
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
    done
}

APT_UPDATED=""
apt_install() {
    local missing=()
    mapfile -t missing < <(missing_packages "$@")
    [ "${#missing[@]}" -eq 0 ] && return 0
    command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand"
    if [ -z "$APT_UPDATED" ]; then
        say "Refreshing package lists"
        as_root apt-get update -qq
        APT_UPDATED=1
    fi
    say "Installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# A C toolchain for the crates that build C (libpq is compiled from source).
ensure_build_tools() {
    command -v cc >/dev/null && command -v make >/dev/null && command -v curl >/dev/null && return 0
    apt_install build-essential pkg-config curl ca-certificates
}

# A current Rust toolchain (Debian's own rustc is too old), with rustfmt and clippy.
ensure_rust() {
    if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if ! command -v cargo >/dev/null; then
        say "Installing Rust with rustup (into $HOME/.cargo)"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
            sh -s -- -y --profile minimal --component rustfmt,clippy
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if command -v rustup >/dev/null; then
        rustup component list --installed 2>/dev/null | grep -q '^clippy' ||
            rustup component add clippy rustfmt
    fi
}

# Prints the directory with initdb/pg_ctl/postgres (Debian keeps them off PATH).
pg_bin_dir() {
    local dir
    dir=$(find /usr/lib/postgresql -maxdepth 3 -path '*/bin/initdb' 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$dir" ]; then dirname "$dir"; return 0; fi
    command -v initdb >/dev/null && dirname "$(command -v initdb)"
}

ensure_postgres_binaries() {
    pg_bin_dir >/dev/null && return 0
    apt_install postgresql postgresql-client
}

# The real tools the host-hardening tests run (sshd, fail2ban, ufw, iptables, apt's
# unattended-upgrades, systemd-analyze, shellcheck; python3-yaml reads cloud-init.yaml; zstd is
# the backup benchmark's baseline; pebble is the ACME server the certificate tests
# obtain from). Installing a daemon on Debian
# starts it; a policy-rc.d that refuses every start (exit 101) keeps this machine's
# services stopped while the packages go in, and is removed again afterwards (one
# already there is left alone).
ensure_host_tools() {
    local missing=()
    mapfile -t missing < <(missing_packages openssh-server openssh-client fail2ban \
        python3-systemd ufw iptables unattended-upgrades shellcheck systemd python3-yaml \
        iproute2 python3 util-linux zstd pebble)
    [ "${#missing[@]}" -eq 0 ] && return 0
    command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand"
    local guard=/usr/sbin/policy-rc.d ours="" status=0
    if [ ! -e "$guard" ]; then
        printf '#!/bin/sh\n# provisioning/lib.sh: installing test tools, start no services.\nexit 101\n' |
            as_root tee "$guard" >/dev/null
        as_root chmod 0755 "$guard"
        ours=1
    fi
    apt_install "${missing[@]}" || status=$?
    if [ -n "$ours" ]; then as_root rm -f "$guard"; fi
    return "$status"
}

# Debian's Chromium for the browser tests (tests/integration/browser.rs drive it
# headless over the DevTools protocol), with the fonts the screenshots are drawn in.
# From the distribution only: nothing downloads a browser build of its own.
# axe-core (from the npm registry) is the accessibility engine the same test runs in
# each page; OUTPOST_TEST_AXE_JS tells the test where it is.
ensure_browser() {
    if [ ! -x /usr/bin/chromium ] || [ -n "$(missing_packages fonts-liberation)" ]; then
        apt_install chromium fonts-liberation
    fi
    local dir="${XDG_DATA_HOME:-$HOME/.local/share}/outpost-test/axe"
    local axe="$dir/node_modules/axe-core/axe.min.js"
    if [ ! -f "$axe" ]; then
        command -v npm >/dev/null || apt_install npm
        say "Installing axe-core from the npm registry into $dir"
        mkdir -p "$dir"
        npm install --silent --no-audit --no-fund --prefix "$dir" axe-core@4
    fi
    export OUTPOST_TEST_AXE_JS="$axe"
}

# The moto S3 server (from PyPI) the backup-target tests store objects in, in a venv
# of its own: Debian's system Python refuses pip installs (PEP 668).
ensure_moto() {
    command -v moto_server >/dev/null && return 0
    local venv="${XDG_DATA_HOME:-$HOME/.local/share}/outpost-test/moto-venv"
    if [ ! -x "$venv/bin/moto_server" ]; then
        python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3 python3-venv
        say "Installing the moto S3 test server from PyPI into $venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q 'moto[server]'
    fi
    export PATH="$venv/bin:$PATH"
}

# cargo-deb 3.x, which builds the .deb (tests/integration/deb.rs builds one from
# the test binary), from crates.io into ~/.cargo/bin. The major version is pinned:
# the test relies on its flags.
CARGO_DEB_VERSION=3.8.0
ensure_cargo_deb() {
    case "$(cargo-deb --version 2>/dev/null)" in
        *" 3."*) return 0 ;;
    esac
    say "Installing cargo-deb $CARGO_DEB_VERSION from crates.io"
    cargo install --locked --quiet --version "$CARGO_DEB_VERSION" cargo-deb
}

# Prints "version cluster port" of the first running PostgreSQL cluster, creating
# and starting one if needed.
pg_running_cluster() {
    local line
    line=$(pg_lsclusters -h 2>/dev/null | awk '$4 == "online" { print $1, $2, $3; exit }')
    if [ -z "$line" ]; then
        line=$(pg_lsclusters -h 2>/dev/null | awk '{ print $1, $2, $3; exit }')
        if [ -z "$line" ]; then
            local version
            version=$(basename "$(dirname "$(pg_bin_dir)")")
            say "Creating PostgreSQL $version cluster 'main'" >&2
            as_root pg_createcluster "$version" main >/dev/null
            line=$(pg_lsclusters -h | awk '{ print $1, $2, $3; exit }')
        fi
        # shellcheck disable=SC2086
        set -- $line
        say "Starting PostgreSQL $1/$2" >&2
        as_root pg_ctlcluster "$1" "$2" start
    fi
    echo "$line"
}

# Waits up to 30 s for PostgreSQL on PORT (at HOST: an address, or the socket
# directory /var/run/postgresql); fails if it never answers.
pg_wait_ready() {
    local port=$1 host=${2:-/var/run/postgresql}
    for _ in $(seq 1 30); do
        pg_isready -q -h "$host" -p "$port" && return 0
        sleep 1
    done
    pg_isready -q -h "$host" -p "$port"
}
