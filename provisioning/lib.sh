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

APT_UPDATED=""
apt_install() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
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
