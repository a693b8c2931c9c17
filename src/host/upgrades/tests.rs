//! Against the real apt-config, on scratch roots seeded with this machine's apt files.

use std::fs;
use std::path::Path;

use super::*;
use crate::host::{SystemRunner, engine};

fn apt_config_missing() -> bool {
    if Path::new("/usr/bin/apt-config").exists() {
        return false;
    }
    eprintln!("SKIPPED: apt-config is not installed; the unattended-upgrades tests need it");
    true
}

/// A root with the distribution's own unattended-upgrades files, where this machine
/// has them (20auto-upgrades is the file the control takes over).
fn seeded_root() -> (tempfile::TempDir, Host) {
    let dir = tempfile::tempdir().unwrap();
    let parts = dir.path().join(PARTS);
    fs::create_dir_all(&parts).unwrap();
    for name in ["50unattended-upgrades", "20auto-upgrades"] {
        let source = Path::new("/etc/apt/apt.conf.d").join(name);
        if source.exists() {
            fs::copy(&source, parts.join(name)).unwrap();
        }
    }
    let host = Host::new(dir.path(), Box::new(SystemRunner));
    (dir, host)
}

fn keys(report: &crate::host::ControlReport) -> Vec<String> {
    report.drift.iter().filter_map(|d| d.key.clone()).collect()
}

#[test]
fn apply_then_check_is_clean_and_a_tampered_setting_is_named() {
    if apt_config_missing() {
        return;
    }
    let (dir, host) = seeded_root();
    let baseline = Baseline::default();
    assert_ne!(
        engine::check(&host, &Upgrades, &baseline).status,
        crate::host::Status::Ok
    );

    let changed = engine::apply(&host, &Upgrades, &baseline).unwrap();
    assert!(changed.contains(&format!("/{ORIGINS}")), "{changed:?}");
    let backup_first = fs::read_to_string(dir.path().join(BACKUP_FIRST)).unwrap();
    assert!(
        backup_first.contains("ExecStartPre=-/usr/bin/systemctl start outpost-backup.service"),
        "{backup_first}"
    );
    let report = engine::check(&host, &Upgrades, &baseline);
    assert!(report.drift.is_empty(), "{report}");
    assert!(
        engine::apply(&host, &Upgrades, &baseline)
            .unwrap()
            .is_empty()
    );
    if Path::new("/etc/apt/apt.conf.d/20auto-upgrades").exists() {
        assert!(
            dir.path().join(format!("{PERIODIC}.outpost-bak")).exists(),
            "the distribution's file is kept"
        );
    }

    // An edit in the file itself, and a later file overriding another setting.
    let path = dir.path().join(ORIGINS);
    let text = fs::read_to_string(&path).unwrap();
    fs::write(
        &path,
        text.replace("Automatic-Reboot \"false\"", "Automatic-Reboot \"true\""),
    )
    .unwrap();
    fs::write(
        dir.path().join(PARTS).join("99local"),
        "APT::Periodic::Unattended-Upgrade \"0\";\n",
    )
    .unwrap();
    let report = engine::check(&host, &Upgrades, &baseline);
    let named = keys(&report);
    assert!(
        named.contains(&"Unattended-Upgrade::Automatic-Reboot".to_owned()),
        "{report}"
    );
    assert!(
        named.contains(&"APT::Periodic::Unattended-Upgrade".to_owned()),
        "{report}"
    );

    // Apply restores Outpost's file; the override is another file's, named until removed.
    assert_eq!(
        engine::apply(&host, &Upgrades, &baseline).unwrap(),
        vec![format!("/{ORIGINS}")]
    );
    let named = keys(&engine::check(&host, &Upgrades, &baseline));
    assert_eq!(named, vec!["APT::Periodic::Unattended-Upgrade".to_owned()]);
    fs::remove_file(dir.path().join(PARTS).join("99local")).unwrap();
    assert!(engine::check(&host, &Upgrades, &baseline).drift.is_empty());
}

#[test]
fn the_reboot_window_and_mail_come_from_the_baseline() {
    if apt_config_missing() {
        return;
    }
    let (_dir, host) = seeded_root();
    let baseline = Baseline {
        auto_reboot: true,
        reboot_time: "03:30".into(),
        upgrade_mail: "root".into(),
        ..Baseline::default()
    };
    engine::apply(&host, &Upgrades, &baseline).unwrap();
    let dump = effective(&host).unwrap();
    let value = |key: &str| {
        dump.iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        value("Unattended-Upgrade::Automatic-Reboot").as_deref(),
        Some("true")
    );
    assert_eq!(
        value("Unattended-Upgrade::Automatic-Reboot-Time").as_deref(),
        Some("03:30")
    );
    assert_eq!(value("Unattended-Upgrade::Mail").as_deref(), Some("root"));
    assert!(engine::check(&host, &Upgrades, &baseline).drift.is_empty());

    // The same files no longer match a baseline with another window.
    let later = Baseline {
        reboot_time: "04:00".into(),
        ..baseline
    };
    assert!(
        keys(&engine::check(&host, &Upgrades, &later))
            .contains(&"Unattended-Upgrade::Automatic-Reboot-Time".to_owned())
    );
}

#[test]
fn a_file_apt_config_cannot_parse_rolls_the_apply_back() {
    if apt_config_missing() {
        return;
    }
    let (dir, host) = seeded_root();
    let broken = dir.path().join(PARTS).join("10broken");
    fs::write(&broken, "APT::Periodic::Foo \"1\"\nBar \"2\";\n").unwrap();
    let before = fs::read(dir.path().join(PERIODIC)).ok();

    let error = engine::apply(&host, &Upgrades, &Baseline::default()).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("apt-config"), "{text}");
    assert!(text.contains("restored"), "{text}");
    assert!(!dir.path().join(ORIGINS).exists());
    assert_eq!(fs::read(dir.path().join(PERIODIC)).ok(), before);

    // The check says apt cannot read the directory rather than failing.
    let report = engine::check(&host, &Upgrades, &Baseline::default());
    assert!(
        report
            .drift
            .iter()
            .any(|d| d.to_string().contains("apt-config cannot read")),
        "{report}"
    );
}

#[test]
fn values_that_would_break_the_file_are_refused() {
    for (time, mail) in [("25:00", ""), ("2:00", ""), ("02:00", "root\"; X \"y")] {
        let baseline = Baseline {
            reboot_time: time.into(),
            upgrade_mail: mail.into(),
            ..Baseline::default()
        };
        assert!(
            matches!(Upgrades::files(&baseline), Err(HostError::Refused(_))),
            "{time} {mail}"
        );
    }
}

#[test]
fn the_dump_parser_reads_scalars_and_list_items() {
    let dump = parse_dump(
        "APT::Periodic \"\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n\
         Unattended-Upgrade::Origins-Pattern:: \"origin=Debian,label=Debian-Security\";\n",
    );
    assert_eq!(dump.len(), 3);
    assert_eq!(dump[1].1, "1");
    assert_eq!(dump[2].0, "Unattended-Upgrade::Origins-Pattern::");
}
