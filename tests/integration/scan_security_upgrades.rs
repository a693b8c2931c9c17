//! Pending security upgrades on a scratch root: a dpkg status file and apt lists as
//! apt leaves them, one of them a security suite (known by its Release file). Debian's
//! version order is cross-checked against the real `dpkg --compare-versions`.

use std::path::Path;
use std::process::Command;

use debversion::Version;
use outpost::scan::checks::SecurityUpgrades;
use outpost::scan::{Check, Context, Severity};
use time::OffsetDateTime;

use crate::support::backup::Server;
use crate::support::tools;

const LISTS: &str = "var/lib/apt/lists";
const SECURITY: &str = "deb.debian.org_debian-security_dists_bookworm-security_";
const MAIN: &str = "deb.debian.org_debian_dists_bookworm_";

fn installed(name: &str, arch: &str, version: &str, state: &str) -> String {
    format!(
        "Package: {name}\nStatus: install ok {state}\nPriority: optional\nArchitecture: {arch}\n\
         Version: {version}\nDescription: {name}\n a package\n\n"
    )
}

fn offered(name: &str, arch: &str, version: &str) -> String {
    format!(
        "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nFilename: pool/{name}.deb\n\n"
    )
}

fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn release(suite: &str, codename: &str, label: &str) -> String {
    format!(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: Debian\nLabel: {label}\n\
         Suite: {suite}\nCodename: {codename}\nComponents: main\n\
         -----BEGIN PGP SIGNATURE-----\n\nabc=\n-----END PGP SIGNATURE-----\n"
    )
}

fn found(server: &Server, root: &Path) -> Vec<(String, Severity, String)> {
    let cx = Context {
        config: &server.config,
        db: &server.pool,
        vault: &server.vault,
        now: OffsetDateTime::now_utc(),
    };
    SecurityUpgrades {
        root: root.to_owned(),
    }
    .run(&cx)
    .unwrap()
    .into_iter()
    .map(|f| (f.subject, f.severity, f.evidence))
    .collect()
}

#[test]
fn security_fixes_apt_knows_of_but_did_not_install_are_found() {
    let server = Server::new(1);
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    write(
        root,
        "var/lib/dpkg/status",
        &[
            installed("openssl", "amd64", "3.0.11-1~deb12u2", "installed"),
            installed("libc6", "amd64", "2.36-9+deb12u7", "installed"),
            installed("curl", "amd64", "8.14.1-2~bpo12+1", "installed"),
            installed("tzdata", "all", "2024a-0+deb12u1", "installed"),
            // Removed, its configuration kept: nothing to upgrade.
            installed("sudo", "amd64", "1.9.13p3-1+deb12u1", "config-files"),
        ]
        .concat(),
    );
    write(
        root,
        &format!("{LISTS}/{SECURITY}InRelease"),
        &release("stable-security", "bookworm-security", "Debian-Security"),
    );
    write(
        root,
        &format!("{LISTS}/{MAIN}InRelease"),
        &release("stable", "bookworm", "Debian"),
    );
    write(
        root,
        &format!("{LISTS}/{SECURITY}main_binary-amd64_Packages"),
        &[
            offered("openssl", "amd64", "3.0.15-1~deb12u1"),
            offered("openssl", "amd64", "3.0.14-1~deb12u1"),
            offered("libc6", "amd64", "2.36-9+deb12u7"),
            offered("curl", "amd64", "7.88.1-10+deb12u8"),
            offered("tzdata", "all", "2024a-0+deb12u1"),
            offered("sudo", "amd64", "1.9.13p3-1+deb12u2"),
            offered("openssl", "i386", "3.0.16-1~deb12u1"),
        ]
        .concat(),
    );
    // Newer in the main suite is no security fix.
    write(
        root,
        &format!("{LISTS}/{MAIN}main_binary-amd64_Packages"),
        &offered("tzdata", "all", "2025b-0+deb12u1"),
    );
    assert_eq!(
        found(&server, root),
        [(
            "package:openssl".to_owned(),
            Severity::High,
            "openssl 3.0.11-1~deb12u2 is installed; the security suite has 3.0.15-1~deb12u1"
                .to_owned()
        )]
    );

    // Installed, the fix leaves nothing behind.
    write(
        root,
        "var/lib/dpkg/status",
        &installed("openssl", "amd64", "3.0.15-1~deb12u1", "installed"),
    );
    assert_eq!(found(&server, root), []);

    // Without any security suite apt cannot see fixes at all.
    std::fs::remove_file(root.join(format!("{LISTS}/{SECURITY}main_binary-amd64_Packages")))
        .unwrap();
    let subjects: Vec<String> = found(&server, root).into_iter().map(|f| f.0).collect();
    assert_eq!(subjects, ["apt:security-lists"]);
}

#[test]
fn debian_version_order_matches_dpkg() {
    let Some(dpkg) = tools::require("dpkg", "Debian version order") else {
        return;
    };
    let versions = [
        "1.0",
        "1.0-1",
        "1.0-1+deb12u1",
        "1.0-1~deb12u1",
        "1.0~rc1-1",
        "1.0+dfsg-1",
        "1:0.9-1",
        "1.0a-1",
        "1.0.1-1",
        "1.00-1",
        "2.36-9+deb12u7",
        "2.36-9+deb12u10",
        "7.88.1-10+deb12u8~bpo12+1",
        "3.0.11-1~deb12u2",
        "1.9.13p3-1",
        "0~",
    ];
    for a in versions {
        for b in versions {
            let ours = a.parse::<Version>().unwrap() < b.parse::<Version>().unwrap();
            let theirs = Command::new(&dpkg)
                .args(["--compare-versions", a, "lt", b])
                .status()
                .unwrap()
                .success();
            assert_eq!(ours, theirs, "{a} < {b}");
        }
    }
}
