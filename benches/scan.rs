//! A full `outpost scan` (every check of the security loop, the HTTP probes against a
//! running `outpost serve` included) next to `lynis audit system --quick`, the usual
//! host audit, both on this machine in the same run: wall time, CPU time and peak RSS,
//! medians over several rounds, and the ratio outpost / lynis. Performance is a ratio
//! against the baseline of the same run, never a timed assertion.
//!
//! The two do different work: lynis audits the whole operating system (a few hundred
//! shell tests); the scan probes Outpost's own HTTP surface, reads its database
//! (members, keys, sessions, the audit chain, backups, findings) and searches the
//! configured logs and documents for leaked secrets. The comparison says what a
//! nightly scan costs next to the tool an administrator would otherwise run.
//!
//! The bench starts a PostgreSQL of its own, migrates a database with a few members,
//! keys and credentials, writes 20,000 lines of application log and a small document
//! tree for the leak search, and starts `outpost serve` on a loopback port.
//!
//! `cargo bench --bench scan` (add `-- --quick` for one round each). Needs lynis
//! (`apt-get install lynis`) and the PostgreSQL server binaries (`tests/run.sh`
//! ensures those). Peak RSS and CPU time: see `common/probe.rs`.

#[path = "common/probe.rs"]
mod probe;
#[path = "../tests/support/mod.rs"]
mod support;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use diesel::{Connection, PgConnection};
use outpost::identity::{Capability, Role, api_keys, user};
use probe::{Sample, measured, median};
use support::daemon::{Daemon, free_port};
use support::pg::{Cluster, Durability};

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if let Some(exit) = probe::run_probe_if_asked(&args) {
        return exit;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let Some(lynis) = support::tools::find("lynis") else {
        eprintln!("lynis is not installed: apt-get install lynis");
        return ExitCode::FAILURE;
    };
    let (scan_rounds, lynis_rounds) = if quick { (1, 1) } else { (5, 3) };
    bench(&lynis, scan_rounds, lynis_rounds);
    ExitCode::SUCCESS
}

fn toml_str(value: impl AsRef<str>) -> String {
    toml::Value::String(value.as_ref().to_owned()).to_string()
}

fn path_str(path: &Path) -> String {
    toml_str(path.to_str().expect("UTF-8 path"))
}

/// A server's worth of state to scan: members (one Owner without two-factor sign-in),
/// API keys, and audit entries.
fn populate(url: &str) {
    let mut conn = PgConnection::establish(url).expect("connect");
    outpost::db::migrate(&mut conn).expect("migrate");
    let owner = user::create(&mut conn, "owner@example.com", Role::Owner).expect("owner");
    for (i, role) in [Role::Admin, Role::Developer, Role::Viewer]
        .into_iter()
        .enumerate()
    {
        user::create(&mut conn, &format!("member{i}@example.com"), role).expect("member");
    }
    for (name, capabilities) in [
        ("ci", vec![Capability::DashboardView]),
        ("everything", Capability::ALL.to_vec()),
    ] {
        let new = api_keys::NewKey {
            name: name.into(),
            capabilities,
            expires_at: None,
        };
        api_keys::create(&mut conn, &owner, new).expect("api key");
    }
}

/// 20,000 lines of ordinary application log and a few documents, for the leak search.
fn write_corpus(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("app.log");
    let lines: String = (0..20_000)
        .map(|i| {
            format!(
                "2026-12-06T03:{:02}:{:02}Z INFO request id={i:08x} path=/api/v1/items/{i} \
                 status=200 took={}ms user=member{}@example.com\n",
                (i / 60) % 60,
                i % 60,
                i % 97,
                i % 4
            )
        })
        .collect();
    std::fs::write(&log, lines).expect("write log");
    let docs = dir.join("documents");
    for (name, body) in [
        (
            "runbook.md",
            "# Runbook\nRestart with systemctl restart app.\n",
        ),
        ("notes/meeting.md", "# Notes\nShip the release on Friday.\n"),
        ("config/app.env", "LOG_LEVEL=info\nPORT=8080\n"),
    ] {
        let path = docs.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("document dir");
        std::fs::write(path, body.repeat(200)).expect("write document");
    }
    (log, docs)
}

fn write_config(dir: &Path, url: &str, port: u16, log: &Path, docs: &Path) -> PathBuf {
    let data_dir = dir.join("data");
    std::fs::create_dir_all(&data_dir).expect("data dir");
    let config = format!(
        "database_url = {}\n\
         listen = \"127.0.0.1:{port}\"\n\
         public_url = \"http://127.0.0.1:{port}\"\n\
         data_dir = {}\n\
         vault_key_file = {}\n\
         audit_signing_key_file = {}\n\
         audit_checkpoint_file = {}\n\
         \n\
         [backup]\n\
         daily = \"\"\n\
         weekly = \"\"\n\
         monthly = \"\"\n\
         \n\
         [scan]\n\
         nightly = \"\"\n\
         journal = false\n\
         log_files = [{}]\n\
         document_directories = [{}]\n",
        toml_str(url),
        path_str(&data_dir),
        path_str(&dir.join("vault.key")),
        path_str(&dir.join("audit-signing.key")),
        path_str(&dir.join("checkpoints.log")),
        path_str(log),
        path_str(docs),
    );
    let path = dir.join("outpost.toml");
    std::fs::write(&path, config).expect("write config");
    path
}

/// The checks and findings of one scan, from its JSON.
fn scan_summary(outpost: &Path, config: &Path) -> String {
    let out = Command::new(outpost)
        .args(["scan", "--json"])
        .env("OUTPOST_CONFIG", config)
        .env("OUTPOST_LOG", "warn")
        .output()
        .expect("run outpost scan");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "outpost scan --json: {e}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let checks = json["checks"].as_array().map_or(0, Vec::len);
    let errors = json["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["status"] == "error")
        .count();
    let findings = json["findings"].as_array().map_or(0, Vec::len);
    format!("{checks} checks ({errors} could not run here), {findings} findings")
}

fn version(program: &Path, flag: &str) -> String {
    let out = Command::new(program).arg(flag).output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn bench(lynis: &Path, scan_rounds: usize, lynis_rounds: usize) {
    let outpost = Path::new(env!("CARGO_BIN_EXE_outpost"));
    let cluster = Cluster::start(Durability::Off);
    let url = cluster.create_database("outpost_scan_bench");
    populate(&url);
    let work = tempfile::tempdir().expect("temp dir");
    support::pg::write_test_keys(work.path(), "bench/scan");
    let (log, docs) = write_corpus(work.path());
    let port = free_port();
    let config = write_config(work.path(), &url, port, &log, &docs);

    let mut serve = Command::new(outpost);
    serve
        .arg("serve")
        .env("OUTPOST_CONFIG", &config)
        .env("OUTPOST_LOG", "warn");
    let mut server = Daemon::spawn(serve, &work.path().join("serve.log"));
    server.wait_for_port(port, Duration::from_secs(60));
    eprintln!("outpost serve on 127.0.0.1:{port}; first scan (unmeasured)");
    let summary = scan_summary(outpost, &config);

    let mut scan = Command::new(outpost);
    scan.args(["scan", "--json"])
        .env("OUTPOST_CONFIG", &config)
        .env("OUTPOST_LOG", "warn");
    let mut audit = Command::new(lynis);
    audit
        .args(["audit", "system", "--quick", "--no-colors", "--no-log"])
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("HOME", "/root");

    let mut scans = Vec::new();
    let mut audits = Vec::new();
    for round in 0..scan_rounds.max(lynis_rounds) {
        eprintln!("round {} of {}", round + 1, scan_rounds.max(lynis_rounds));
        if round < scan_rounds {
            // Exit 1 is a scan that ran and found something urgent.
            scans.push(measured(&scan, &[0, 1]).unwrap_or_else(|e| panic!("{e}")));
        }
        if round < lynis_rounds {
            audits.push(measured(&audit, &[0]).unwrap_or_else(|e| panic!("{e}")));
        }
    }
    drop(server);

    println!(
        "outpost {} ({summary}); {}",
        env!("CARGO_PKG_VERSION"),
        version(lynis, "--version").replace('\n', " ")
    );
    println!(
        "{:<36} {:>6} {:>8} {:>7} {:>7} {:>7} {:>10}",
        "(medians; min/max wall)", "rounds", "wall s", "min", "max", "CPU s", "peak RSS"
    );
    report("outpost scan --json", &scans);
    report("lynis audit system --quick", &audits);
    let (ours, theirs) = (median(&scans), median(&audits));
    println!(
        "outpost scan / lynis: wall time x{:.4}, CPU time x{:.4}, peak RSS x{:.2}",
        ours.wall / theirs.wall,
        ours.cpu / theirs.cpu,
        ours.tree_kib as f64 / theirs.tree_kib as f64,
    );
}

fn report(what: &str, runs: &[Sample]) {
    let walls = runs.iter().map(|s| s.wall);
    let min = walls.clone().fold(f64::INFINITY, f64::min);
    let max = walls.fold(0.0, f64::max);
    let m = median(runs);
    println!(
        "{what:<36} {:>6} {:>8.3} {min:>7.3} {max:>7.3} {:>7.3} {:>6.1} MiB",
        runs.len(),
        m.wall,
        m.cpu,
        runs.iter().map(|s| s.tree_kib).max().unwrap_or(0) as f64 / 1024.0,
    );
}
