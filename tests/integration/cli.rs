//! The `outpost` binary itself: exit codes, one-line errors, and `serve` black-box.

use std::process::{Child, Command, Output};
use std::time::Duration;

use crate::support::logs;
use crate::support::pg::TestDb;

pub(crate) fn outpost(envs: &[(&str, &str)], args: &[&str]) -> Output {
    logs::output(&mut command(envs, args))
}

/// The binary with a clean environment: only what the test passes in.
fn command(envs: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_outpost"));
    cmd.env_clear().envs(envs.iter().copied()).args(args);
    cmd
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn config_file(text: &str) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

#[test]
fn help_lists_every_subcommand() {
    let out = outpost(&[], &["--help"]);
    assert!(out.status.success());
    let text = stdout(&out);
    for sub in ["serve", "migrate", "admin", "config"] {
        assert!(text.contains(sub), "{sub} missing from --help");
    }
}

#[test]
fn config_check_rejects_an_unknown_key_with_exit_2() {
    let file = config_file("listen = \"127.0.0.1:9000\"\nlisten_adress = \"0.0.0.0:80\"\n");
    let out = outpost(
        &[],
        &["config", "check", "--config", file.path().to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("unknown key `listen_adress`"), "{err}");

    let nested = config_file("[session]\nidle = \"5m\"\n");
    let out = outpost(
        &[],
        &[
            "config",
            "check",
            "--config",
            nested.path().to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown key `session.idle`"),
        "{}",
        stderr(&out)
    );

    let out = outpost(&[("OUTPOST_LISTN", "127.0.0.1:1")], &["config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("OUTPOST_LISTN"), "{}", stderr(&out));
}

#[test]
fn config_check_rejects_a_malformed_duration_with_exit_2() {
    let file = config_file("[session]\nidle_timeout = \"fifteen minutes\"\n");
    let out = outpost(
        &[],
        &["config", "check", "--config", file.path().to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("session.idle_timeout") && err.contains("fifteen minutes"),
        "{err}"
    );

    let out = outpost(
        &[("OUTPOST_SESSION__ABSOLUTE_TIMEOUT", "12 parsecs")],
        &["config", "check"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("OUTPOST_SESSION__ABSOLUTE_TIMEOUT"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn config_check_prints_the_effective_config_with_secrets_masked() {
    let file = config_file(
        "database_url = \"postgres://app:hunter2-secret@localhost/outpost\"\n[session]\nidle_timeout = \"10m\"\n",
    );
    let out = outpost(
        &[
            ("OUTPOST_SERVER_NAME", "acme-prod"),
            ("OUTPOST_POOL_SIZE", "3"),
        ],
        &["config", "check", "--config", file.path().to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains("hunter2-secret"), "{text}");
    assert!(
        text.contains("postgres://app:********@localhost/outpost"),
        "{text}"
    );
    assert!(
        text.contains("server_name = \"acme-prod\""),
        "env overrides file: {text}"
    );
    assert!(text.contains("pool_size = 3"));
    assert!(text.contains("idle_timeout = \"10m\""));
}

#[test]
fn a_missing_explicit_config_file_is_an_error() {
    let out = outpost(
        &[],
        &["config", "check", "--config", "/nonexistent/outpost.toml"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/outpost.toml"));
}

#[test]
fn migrate_then_create_owner_prints_a_setup_link() {
    let db = TestDb::empty();
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("vault.key");
    outpost::vault::keyring::Keyring::generate()
        .create_file(&key_file)
        .unwrap();
    let env = [
        ("OUTPOST_VAULT_KEY_FILE", key_file.to_str().unwrap()),
        ("OUTPOST_DATABASE_URL", db.url.as_str()),
        ("OUTPOST_PUBLIC_URL", "https://outpost.example.com/"),
    ];
    let out = outpost(&env, &["migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("applied"), "{}", stdout(&out));
    assert!(stdout(&outpost(&env, &["migrate"])).contains("up to date"));

    let out = outpost(
        &env,
        &["admin", "create-owner", "--email", "Ops@Example.com"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("ops@example.com"));
    assert!(text.contains("30 minutes"));
    let link = text
        .lines()
        .find(|l| l.starts_with("https://"))
        .expect("a link line");
    assert!(
        link.starts_with("https://outpost.example.com/setup/"),
        "{link}"
    );

    let again = outpost(
        &env,
        &["admin", "create-owner", "--email", "ops@example.com"],
    );
    assert!(again.status.success());
    assert!(stdout(&again).contains("earlier links no longer work"));

    let other = outpost(
        &env,
        &["admin", "create-owner", "--email", "someone@example.com"],
    );
    assert_eq!(other.status.code(), Some(1));
    assert!(
        stderr(&other).contains("an owner already exists"),
        "{}",
        stderr(&other)
    );

    let bad = outpost(&env, &["admin", "create-owner", "--email", "not-an-email"]);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(stderr(&bad).trim().lines().count(), 1);
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn serve_applies_migrations_listens_and_logs_json_with_request_ids() {
    let db = TestDb::empty();
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("vault.key");
    let signing_file = keys.path().join("audit-signing.key");
    let checkpoints = keys.path().join("checkpoints.log");
    let key_env = [
        ("OUTPOST_VAULT_KEY_FILE", key_file.to_str().unwrap()),
        (
            "OUTPOST_AUDIT_SIGNING_KEY_FILE",
            signing_file.to_str().unwrap(),
        ),
    ];
    let init = outpost(&key_env, &["keys", "init"]);
    assert!(init.status.success(), "{}", stderr(&init));
    assert!(
        stdout(&init).contains("127.0.0.1:8080/audit+"),
        "public key printed: {}",
        stdout(&init)
    );
    let (child, lines) = logs::spawn(&mut command(
        &[
            ("OUTPOST_VAULT_KEY_FILE", key_file.to_str().unwrap()),
            (
                "OUTPOST_AUDIT_SIGNING_KEY_FILE",
                signing_file.to_str().unwrap(),
            ),
            (
                "OUTPOST_AUDIT_CHECKPOINT_FILE",
                checkpoints.to_str().unwrap(),
            ),
            ("OUTPOST_DATABASE_URL", &db.url),
            ("OUTPOST_LISTEN", "127.0.0.1:0"),
            ("OUTPOST_WORKERS", "1"),
            ("OUTPOST_LOG_FORMAT", "json"),
            // No catch-up backup at start: this test is about serving.
            ("OUTPOST_BACKUP__DAILY", ""),
            ("OUTPOST_BACKUP__WEEKLY", ""),
            ("OUTPOST_BACKUP__MONTHLY", ""),
            ("OUTPOST_SCAN__NIGHTLY", ""),
        ],
        &["serve"],
    ));
    let _running = Running(child);

    let addr = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("serve logs its address");
        let entry: serde_json::Value = serde_json::from_str(&line).expect("log lines are JSON");
        if let Some(addr) = entry["fields"]["addr"].as_str() {
            break addr.to_owned();
        }
    };

    let response = reqwest::Client::new()
        .get(format!("http://{addr}/readyz"))
        .header("x-request-id", "cli-json-log-probe")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "migrations applied at start");

    let logged = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(10))
            .expect("request logged");
        if line.contains("cli-json-log-probe") {
            break serde_json::from_str::<serde_json::Value>(&line).unwrap();
        }
    };
    assert_eq!(logged["span"]["request_id"], "cli-json-log-probe");
    assert_eq!(logged["fields"]["route"], "/readyz");
    assert_eq!(logged["fields"]["status"], 200);
}

#[test]
fn serve_refuses_to_start_without_a_private_vault_key() {
    let db = TestDb::new();
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("vault.key");
    let signing_file = keys.path().join("audit-signing.key");
    let env = [
        ("OUTPOST_DATABASE_URL", db.url.as_str()),
        ("OUTPOST_LISTEN", "127.0.0.1:0"),
        ("OUTPOST_VAULT_KEY_FILE", key_file.to_str().unwrap()),
        (
            "OUTPOST_AUDIT_SIGNING_KEY_FILE",
            signing_file.to_str().unwrap(),
        ),
    ];
    let missing = outpost(&env, &["serve"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("outpost keys init"),
        "{}",
        stderr(&missing)
    );

    assert!(outpost(&env, &["keys", "init"]).status.success());
    let again = outpost(&env, &["keys", "init"]);
    assert!(
        stdout(&again).contains("already exists"),
        "an existing key is kept"
    );

    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let exposed = outpost(&env, &["serve"]);
    assert_eq!(exposed.status.code(), Some(1));
    let err = stderr(&exposed);
    assert!(
        err.contains("lets group or others read it") && err.contains("chmod 0400"),
        "{err}"
    );
}

#[test]
fn completions_and_the_man_page_come_from_the_command_definitions() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_outpost"))
            .args(args)
            .output()
            .unwrap()
    };
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        for command in ["serve", "scan", "backup", "harden", "fleet", "webhook"] {
            assert!(
                script.contains(command),
                "{shell} completion lacks {command}"
            );
        }
    }
    let man = run(&["man"]);
    assert!(man.status.success());
    let page = String::from_utf8(man.stdout).unwrap();
    assert!(page.contains(".TH outpost 1"), "{page}");
    assert!(
        page.contains("outpost\\-scan"),
        "subcommands are listed: {page}"
    );
    let unknown = run(&["completions", "tcsh"]);
    assert_eq!(unknown.status.code(), Some(2));
}
