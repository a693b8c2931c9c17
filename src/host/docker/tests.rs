//! Scratch roots: Docker absent, installed without a daemon.json, and with one that
//! sets other keys. Docker itself is not installed on the test machine: the real
//! `dockerd --validate` runs only where it is (and says so where it is not).

use std::fs;

use super::*;
use crate::host::{CommandOutput, Runner, Status, SystemRunner, engine};

fn root_with_docker() -> (tempfile::TempDir, Host) {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("etc/docker")).unwrap();
    let host = Host::new(dir.path(), Box::new(SystemRunner));
    (dir, host)
}

fn keys(host: &Host) -> Vec<String> {
    engine::check(host, &Docker, &Baseline::default())
        .drift
        .iter()
        .filter_map(|d| d.key.clone())
        .collect()
}

#[test]
fn without_docker_there_is_nothing_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::new(dir.path(), Box::new(SystemRunner));
    let report = engine::check(&host, &Docker, &Baseline::default());
    assert_eq!(report.status, Status::Ok);
    assert!(
        engine::apply(&host, &Docker, &Baseline::default())
            .unwrap()
            .is_empty()
    );
    assert!(!dir.path().join("etc/docker").exists());
}

#[test]
fn existing_keys_are_kept_and_the_required_ones_named_and_set() {
    let (dir, host) = root_with_docker();
    let path = dir.path().join(DAEMON_JSON);
    fs::write(
        &path,
        r#"{"log-driver": "journald", "icc": true, "data-root": "/srv/docker"}"#,
    )
    .unwrap();
    let named = keys(&host);
    for key in ["no-new-privileges", "icc", "userland-proxy", "live-restore"] {
        assert!(named.contains(&key.to_owned()), "{named:?}");
    }

    engine::apply(&host, &Docker, &Baseline::default()).unwrap();
    let written: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(written["log-driver"], "journald");
    assert_eq!(written["data-root"], "/srv/docker");
    assert_eq!(written["icc"], false);
    assert_eq!(written["no-new-privileges"], true);
    assert!(keys(&host).is_empty());
    assert!(
        engine::apply(&host, &Docker, &Baseline::default())
            .unwrap()
            .is_empty()
    );
    assert!(
        dir.path()
            .join("etc/docker/daemon.json.outpost-bak")
            .exists()
    );

    // A tampered key is named; apply sets it back and keeps the rest.
    let text = fs::read_to_string(&path).unwrap();
    fs::write(
        &path,
        text.replace("\"live-restore\": true", "\"live-restore\": false"),
    )
    .unwrap();
    assert_eq!(keys(&host), vec!["live-restore".to_owned()]);
    engine::apply(&host, &Docker, &Baseline::default()).unwrap();
    assert!(keys(&host).is_empty());
}

#[test]
fn a_fresh_installation_gets_the_file_and_a_compliant_one_is_left_as_it_is() {
    let (dir, host) = root_with_docker();
    assert_eq!(
        engine::check(&host, &Docker, &Baseline::default())
            .drift
            .len(),
        1,
        "the file is missing"
    );
    engine::apply(&host, &Docker, &Baseline::default()).unwrap();
    assert!(keys(&host).is_empty());

    let compliant = "{ \"live-restore\": true, \"icc\": false,\n  \"userland-proxy\": false, \"no-new-privileges\": true, \"debug\": false }\n";
    fs::write(dir.path().join(DAEMON_JSON), compliant).unwrap();
    assert!(
        engine::apply(&host, &Docker, &Baseline::default())
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        fs::read_to_string(dir.path().join(DAEMON_JSON)).unwrap(),
        compliant
    );
}

#[test]
fn a_file_that_is_not_json_is_an_error_not_overwritten() {
    let (dir, host) = root_with_docker();
    fs::write(dir.path().join(DAEMON_JSON), "{ icc: false").unwrap();
    let report = engine::check(&host, &Docker, &Baseline::default());
    assert_eq!(report.status, Status::Error);
    assert!(report.error.unwrap().contains("not valid JSON"));
    assert!(engine::apply(&host, &Docker, &Baseline::default()).is_err());
    assert_eq!(
        fs::read_to_string(dir.path().join(DAEMON_JSON)).unwrap(),
        "{ icc: false"
    );
}

/// The real daemon, with a fault injected: what `dockerd --validate` says when it
/// rejects a file.
struct DockerdRejects;

impl Runner for DockerdRejects {
    fn run(&self, program: &str, args: &[&str]) -> Result<CommandOutput, HostError> {
        if program.ends_with("dockerd") {
            return Ok(CommandOutput {
                success: false,
                code: Some(1),
                stdout: String::new(),
                stderr: "unable to configure the Docker daemon with file daemon.json".into(),
            });
        }
        SystemRunner.run(program, args)
    }
}

#[test]
fn a_rejected_file_is_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("usr/bin")).unwrap();
    fs::write(dir.path().join("usr/bin/dockerd"), "").unwrap();
    fs::create_dir_all(dir.path().join("etc/docker")).unwrap();
    let original = "{\"icc\": true}\n";
    fs::write(dir.path().join(DAEMON_JSON), original).unwrap();
    let host = Host::new(dir.path(), Box::new(DockerdRejects));

    let error = engine::apply(&host, &Docker, &Baseline::default()).unwrap_err();
    assert!(error.to_string().contains("dockerd --validate"), "{error}");
    assert!(error.to_string().contains("restored"), "{error}");
    assert_eq!(
        fs::read_to_string(dir.path().join(DAEMON_JSON)).unwrap(),
        original
    );
}

#[test]
fn the_real_dockerd_accepts_the_file() {
    let Some(dockerd) = ["/usr/bin/dockerd", "/usr/sbin/dockerd"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        eprintln!("SKIPPED: dockerd is not installed; daemon.json was checked as JSON only");
        return;
    };
    let (dir, host) = root_with_docker();
    let file = dir.path().join("daemon.json");
    fs::write(&file, Docker::file(&host).unwrap().unwrap().contents).unwrap();
    let out = SystemRunner
        .run(
            dockerd,
            &["--validate", "--config-file", &file.to_string_lossy()],
        )
        .unwrap();
    assert!(out.success, "{}", out.detail());
}

#[test]
fn privileged_and_host_network_containers_are_reported() {
    let inspect = r#"[
        {"Name": "/web", "HostConfig": {"Privileged": false, "NetworkMode": "bridge"}},
        {"Name": "/agent", "HostConfig": {"Privileged": true, "NetworkMode": "host"}},
        {"Name": "/db", "HostConfig": {"Privileged": false, "NetworkMode": "host"}}
    ]"#;
    let drift = risky(inspect).unwrap();
    let text: Vec<String> = drift.iter().map(ToString::to_string).collect();
    assert_eq!(text.len(), 3, "{text:?}");
    assert!(
        text[0].starts_with("container agent is `privileged`"),
        "{text:?}"
    );
    assert!(
        text[1].starts_with("container agent is `host network`"),
        "{text:?}"
    );
    assert!(
        text[2].starts_with("container db is `host network`"),
        "{text:?}"
    );
}
