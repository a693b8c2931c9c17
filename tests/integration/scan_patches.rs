//! The patch-status check on a scratch root, read by the real `apt-config`: upgrades
//! switched off and never run are found; switched on and run today, nothing is.

use std::path::Path;

use outpost::scan::checks::PatchStatus;
use outpost::scan::{Check, Context};
use time::OffsetDateTime;

use crate::support::backup::Server;
use crate::support::tools;

fn subjects(server: &Server, root: &Path) -> Vec<String> {
    let check = PatchStatus {
        root: root.to_owned(),
    };
    let cx = Context {
        config: &server.config,
        db: &server.pool,
        vault: &server.vault,
        now: OffsetDateTime::now_utc(),
    };
    check
        .run(&cx)
        .unwrap()
        .into_iter()
        .map(|f| format!("{}:{:?}", f.subject, f.severity))
        .collect()
}

#[test]
fn upgrades_switched_off_or_never_run_are_found() {
    if tools::require("apt-config", "patch status").is_none() {
        return;
    }
    let server = Server::new(1);
    let root = tempfile::tempdir().unwrap();
    let parts = root.path().join("etc/apt/apt.conf.d");
    std::fs::create_dir_all(&parts).unwrap();
    std::fs::write(
        parts.join("20auto-upgrades"),
        "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"0\";\n",
    )
    .unwrap();
    assert_eq!(
        subjects(&server, root.path()),
        [
            "apt:APT::Periodic::Unattended-Upgrade:High",
            "apt:last-run:Medium"
        ]
    );

    std::fs::write(
        parts.join("20auto-upgrades"),
        "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n",
    )
    .unwrap();
    let stamp = root
        .path()
        .join("var/lib/apt/periodic/unattended-upgrades-stamp");
    std::fs::create_dir_all(stamp.parent().unwrap()).unwrap();
    std::fs::write(&stamp, b"").unwrap();
    assert!(subjects(&server, root.path()).is_empty());
}
