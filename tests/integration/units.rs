//! The systemd units in systemd/, checked by the real `systemd-analyze`: `verify`
//! passes with nothing at all on stderr (it exits 0 on unknown keys, warning only
//! there), and outpost.service's sandbox rates an exposure of at most 2.0.
//!
//! `verify` wants each ExecStart binary to exist, so the units are checked as copies
//! whose /usr/bin/outpost is the binary this test run built. Neither command
//! needs systemd running as PID 1.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::tools;

const UNITS: [&str; 6] = [
    "outpost.service",
    "outpost-backup.service",
    "outpost-harden.service",
    "outpost-harden.timer",
    "outpost-harden-queue.service",
    "outpost-harden-queue.timer",
];
const INSTALLED_BINARY: &str = "/usr/bin/outpost";

fn source(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("systemd")
        .join(name)
}

/// Copies of every unit, pointing at the built binary, in one directory (the timer
/// finds its service there).
fn copies() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in UNITS {
        let text = std::fs::read_to_string(source(name)).unwrap();
        assert!(
            !name.ends_with(".service") || text.contains(INSTALLED_BINARY),
            "{name} runs {INSTALLED_BINARY}, where provisioning/bootstrap.sh installs it"
        );
        let text = text.replace(INSTALLED_BINARY, env!("CARGO_BIN_EXE_outpost"));
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn analyze(args: &[&str], unit: &Path) -> (bool, String, String) {
    let out = Command::new("systemd-analyze")
        .args(args)
        .arg(unit)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_unit_passes_systemd_analyze_verify_without_a_warning() {
    if tools::require("systemd-analyze", "systemd unit verification").is_none() {
        return;
    }
    let dir = copies();
    for name in UNITS {
        let (ok, stdout, stderr) = analyze(&["verify", "--man=no"], &dir.path().join(name));
        assert!(
            ok,
            "{name}: systemd-analyze verify failed: {stdout}{stderr}"
        );
        assert!(
            stderr.trim().is_empty(),
            "{name}: systemd-analyze verify warned:\n{stderr}"
        );
    }
}

#[test]
fn verify_catches_what_it_should() {
    // The check above would pass vacuously if verify said nothing about anything.
    if tools::require("systemd-analyze", "systemd unit verification").is_none() {
        return;
    }
    let dir = copies();
    let unit = dir.path().join("outpost.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    std::fs::write(
        &unit,
        text.replace("[Service]\n", "[Service]\nProtectSistem=strict\n"),
    )
    .unwrap();
    let (_, _, stderr) = analyze(&["verify", "--man=no"], &unit);
    assert!(stderr.contains("ProtectSistem"), "{stderr}");
}

/// The number in "→ Overall exposure level for outpost.service: 1.4 OK".
fn exposure(output: &str) -> f64 {
    let line = output
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure level in:\n{output}"));
    line.rsplit(':')
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unreadable exposure line: {line}"))
}

#[test]
fn the_dashboard_service_is_sandboxed_to_an_exposure_of_at_most_2() {
    if tools::require("systemd-analyze", "systemd exposure rating").is_none() {
        return;
    }
    let dir = copies();
    // The dashboard, and the backup it shares its user and keyring with.
    for unit in ["outpost.service", "outpost-backup.service"] {
        let (ok, stdout, stderr) = analyze(&["security", "--offline=true"], &dir.path().join(unit));
        assert!(ok, "systemd-analyze security failed: {stderr}");
        let level = exposure(&stdout);
        assert!(level <= 2.0, "{unit} exposure {level} > 2.0:\n{stdout}");
    }

    // The root oneshot is rated too, though it needs root's reach: it must stay well
    // below an unsandboxed service (9.6).
    let (_, stdout, _) = analyze(
        &["security", "--offline=true"],
        &dir.path().join("outpost-harden.service"),
    );
    let harden = exposure(&stdout);
    assert!(
        harden <= 5.0,
        "outpost-harden.service exposure {harden}:\n{stdout}"
    );
}

fn exec_lines(unit: &str) -> Vec<String> {
    std::fs::read_to_string(source(unit))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("ExecStart"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_nightly_timer_only_ever_checks() {
    let exec = exec_lines("outpost-harden.service");
    assert_eq!(exec.len(), 1);
    assert!(exec[0].contains("harden --check"), "{exec:?}");
}

#[test]
fn the_queue_timer_applies_only_what_was_requested() {
    let exec = exec_lines("outpost-harden-queue.service");
    assert_eq!(exec.len(), 1);
    assert!(exec[0].contains("harden --apply-requested"), "{exec:?}");
    assert!(!exec[0].contains("--only"), "{exec:?}");
}
