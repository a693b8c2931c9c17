//! The system-users control on scratch roots, with the real useradd and usermod
//! (`--root`): accounts created without a login, homes at 0750, the daemon's config
//! and key files made root-owned and private.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use outpost::host::users::Users;
use outpost::host::{Baseline, Control, Status, engine};

use crate::support::host_root::{ScratchRoot, is_root, set_mode};

fn mode(root: &ScratchRoot, path: &str) -> u32 {
    std::fs::metadata(root.join(path))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

fn passwd_line(root: &ScratchRoot, name: &str) -> String {
    root.read("etc/passwd")
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in etc/passwd"))
        .to_owned()
}

#[test]
fn accounts_are_created_without_a_login_and_tampering_is_undone() {
    if !is_root() {
        eprintln!("SKIPPED: useradd --root and chown need root");
        return;
    }
    let root = ScratchRoot::new();
    root.seed_accounts();
    let host = root.host();
    let baseline = Baseline::default();

    let report = engine::check(&host, &Users, &baseline);
    assert_eq!(report.status, Status::Drift);
    let text = report.to_string();
    assert!(
        text.contains("etc/passwd: outpost: the account is missing"),
        "{text}"
    );
    assert!(
        text.contains("etc/passwd: outpost-agent: the account is missing"),
        "{text}"
    );

    // --plan says what it would run and changes nothing.
    let planned = Users.converge(&host, &baseline, true).unwrap();
    assert!(planned[0].starts_with("useradd --root "), "{planned:?}");
    assert!(
        planned[0]
            .ends_with("--shell /usr/sbin/nologin --comment 'Outpost daemon' --user-group outpost"),
        "{planned:?}"
    );
    assert!(!root.read("etc/passwd").contains("outpost"));

    let changed = engine::apply(&host, &Users, &baseline).unwrap();
    assert_eq!(changed.len(), 4, "{changed:?}");
    let report = engine::check(&host, &Users, &baseline);
    assert_eq!(report.status, Status::Ok, "{report}");
    for name in ["outpost", "outpost-agent"] {
        let line = passwd_line(&root, name);
        assert!(
            line.ends_with(&format!(":/var/lib/{name}:/usr/sbin/nologin")),
            "{line}"
        );
        let home = format!("var/lib/{name}");
        assert_eq!(mode(&root, &home), 0o750);
        let uid: u32 = line.split(':').nth(2).unwrap().parse().unwrap();
        assert_eq!(std::fs::metadata(root.join(&home)).unwrap().uid(), uid);
    }
    let shadow = root.read("etc/shadow");
    assert!(
        shadow.lines().any(|l| l.starts_with("outpost:!")),
        "{shadow}"
    );
    assert!(engine::apply(&host, &Users, &baseline).unwrap().is_empty());

    // A login shell, a password and a loosened home are drift, named, and undone.
    let line = passwd_line(&root, "outpost");
    root.write(
        "etc/passwd",
        &root
            .read("etc/passwd")
            .replace(&line, &line.replace("/usr/sbin/nologin", "/bin/bash")),
    );
    root.write(
        "etc/shadow",
        &root
            .read("etc/shadow")
            .replace("outpost:!:", "outpost:$y$j9T$salt$hash:"),
    );
    set_mode(&root.join("var/lib/outpost-agent"), 0o755);
    let report = engine::check(&host, &Users, &baseline);
    let keys: Vec<String> = report.drift.iter().map(ToString::to_string).collect();
    assert_eq!(
        keys,
        [
            "etc/passwd: outpost.shell is `/bin/bash`, expected `/usr/sbin/nologin`",
            "etc/shadow: outpost.password is `usable`, expected `locked`",
            "var/lib/outpost-agent: mode is `0755`, expected `0750`",
        ]
    );
    assert_eq!(engine::apply(&host, &Users, &baseline).unwrap().len(), 3);
    assert_eq!(engine::check(&host, &Users, &baseline).status, Status::Ok);
    assert!(passwd_line(&root, "outpost").ends_with(":/usr/sbin/nologin"));
    assert!(engine::apply(&host, &Users, &baseline).unwrap().is_empty());
}

#[test]
fn the_daemons_config_and_keys_are_root_owned_and_private() {
    if !is_root() {
        eprintln!("SKIPPED: chown to the service account needs root");
        return;
    }
    let root = ScratchRoot::new();
    root.seed_accounts();
    let host = root.host();
    let baseline = Baseline::default();
    engine::apply(&host, &Users, &baseline).unwrap();

    root.write("etc/outpost/outpost.toml", "server_name = \"x\"\n");
    root.write("etc/outpost/vault.keyring", "outpost-keyring v1\n");
    root.write("etc/outpost/audit-signing.key", "key\n");
    set_mode(&root.join("etc/outpost"), 0o755);
    set_mode(&root.join("etc/outpost/outpost.toml"), 0o644);
    set_mode(&root.join("etc/outpost/vault.keyring"), 0o440);
    set_mode(&root.join("etc/outpost/audit-signing.key"), 0o400);

    let report = engine::check(&host, &Users, &baseline);
    let text: Vec<String> = report.drift.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "etc/outpost: mode is `0755`, expected `0750`",
            "etc/outpost: group is `root`, expected `outpost`",
            "etc/outpost/outpost.toml: mode is `0644`, expected `0640`",
            "etc/outpost/outpost.toml: group is `root`, expected `outpost`",
            "etc/outpost/vault.keyring: mode is `0440`, expected `0400`",
        ]
    );
    engine::apply(&host, &Users, &baseline).unwrap();
    assert_eq!(engine::check(&host, &Users, &baseline).status, Status::Ok);
    assert_eq!(mode(&root, "etc/outpost/outpost.toml"), 0o640);
    assert_eq!(mode(&root, "etc/outpost/vault.keyring"), 0o400);
    let config = std::fs::metadata(root.join("etc/outpost/outpost.toml")).unwrap();
    let group_line = root.read("etc/group");
    let gid: u32 = group_line
        .lines()
        .find(|l| l.starts_with("outpost:"))
        .and_then(|l| l.split(':').nth(2)?.parse().ok())
        .unwrap();
    assert_eq!((config.uid(), config.gid()), (0, gid));
}
