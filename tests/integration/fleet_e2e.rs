//! The fleet end to end on loopback, every piece a real process: the controller
//! (`outpost fleet serve`, its own database, a 2 s interval), two satellites (`outpost
//! serve`, each with its own database and keys, enrolled with `outpost fleet enroll`
//! using tokens from `outpost fleet token create`), the SMTP sink and a Slack-shaped
//! receiver. One satellite is killed: it goes late, then offline, which is told once
//! on each channel; restarted, it is resolved on each channel.
//!
//! Only the offline rule is under test: the other rules a fresh satellite could trip
//! (no backup yet, a nearly full disk on the test machine, findings, certificates) are
//! routed to no channel, and each satellite's `[fleet] ssh_address` is a listener that
//! greets like an SSH daemon.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fleet_controller::SlackReceiver;
use crate::support::daemon::{Daemon, free_port};
use crate::support::logs;
use crate::support::pg::{TestDb, outpost_command, write_test_keys};
use crate::support::smtp::{ReceivedMail, SmtpSink};

const OPERATOR_TOKEN: &str = "e2e-operator-token";
const ALERTS_TO: &str = "ops@example.com";
/// Rules routed to no channel (see the module comment).
const SILENCED: [&str; 4] = ["disk", "backup", "critical_finding", "certificate"];
/// Upper bound for anything awaited; the conditions normally hold within seconds.
const PATIENCE: Duration = Duration::from_secs(120);

/// A TCP listener that greets every connection with an SSH identification line.
fn ssh_greeter() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.write_all(b"SSH-2.0-test\r\n");
        }
    });
    addr
}

struct ControllerProcess {
    dir: tempfile::TempDir,
    db: TestDb,
    config: PathBuf,
    base: String,
    daemon: Daemon,
}

impl ControllerProcess {
    fn start(slack: &SlackReceiver, mail: &SmtpSink) -> Self {
        let dir = tempfile::tempdir().unwrap();
        write_test_keys(dir.path(), "e2e/controller");
        let db = TestDb::new();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let config = dir.path().join("controller.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[controller]
listen = "127.0.0.1:{port}"
public_url = "{base}"
interval = "2s"
grace = "1s"
slack_webhooks = ["{slack}"]
alert_emails = ["{ALERTS_TO}"]
operator_token = "{OPERATOR_TOKEN}"

[controller.routing]
disk = []
backup = []
critical_finding = []
certificate = []

[smtp]
host = "127.0.0.1"
port = {smtp}
security = "none"
from = "Fleet <fleet@example.com>"
"#,
                slack = slack.url,
                smtp = mail.port(),
            ),
        )
        .unwrap();
        let mut command = outpost_command(dir.path(), &db.url);
        command
            .args(["fleet", "serve"])
            .env("OUTPOST_CONFIG", &config)
            .env("OUTPOST_LOG", "info");
        let mut daemon = Daemon::spawn(command, &dir.path().join("controller.log"));
        daemon.wait_for_port(port, PATIENCE);
        Self {
            dir,
            db,
            config,
            base,
            daemon,
        }
    }

    fn command(&self) -> Command {
        let mut command = outpost_command(self.dir.path(), &self.db.url);
        command.env("OUTPOST_CONFIG", &self.config);
        command
    }

    /// A one-time enrolment token from `outpost fleet token create`.
    fn token(&self, name: &str) -> String {
        let out = logs::output(self.command().args([
            "fleet", "token", "create", "--name", name, "--client", "Acme", "--region", "eu-west",
        ]));
        assert!(out.status.success(), "token create: {out:?}");
        let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        assert!(!token.is_empty());
        token
    }

    /// `GET /fleet/v1/satellites` as an operator.
    async fn satellites(&self, http: &reqwest::Client) -> Vec<Value> {
        let answer = http
            .get(format!("{}/fleet/v1/satellites", self.base))
            .bearer_auth(OPERATOR_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{}", self.daemon.log());
        let body: Value = answer.json().await.unwrap();
        body["satellites"].as_array().unwrap().clone()
    }

    async fn satellite(&self, http: &reqwest::Client, name: &str) -> Value {
        self.satellites(http)
            .await
            .into_iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name} is not listed"))
    }
}

/// A satellite: its own database and keys, enrolled once, started (and restarted) as
/// `outpost serve` reporting to the controller every second.
struct Satellite {
    dir: tempfile::TempDir,
    db: TestDb,
    port: u16,
    controller: String,
    ssh: SocketAddr,
}

impl Satellite {
    fn new(name: &str, controller: &ControllerProcess, ssh: SocketAddr) -> Self {
        let dir = tempfile::tempdir().unwrap();
        write_test_keys(dir.path(), &format!("e2e/{name}"));
        let satellite = Self {
            dir,
            db: TestDb::new(),
            port: free_port(),
            controller: controller.base.clone(),
            ssh,
        };
        let token = controller.token(name);
        let out = logs::output(
            outpost_command(satellite.dir.path(), &satellite.db.url)
                .args(["fleet", "enroll", "--controller", &controller.base])
                .env("OUTPOST_FLEET_TOKEN", &token),
        );
        assert!(out.status.success(), "enroll {name}: {out:?}");
        satellite
    }

    fn serve(&self, log: &Path) -> Daemon {
        let mut command = outpost_command(self.dir.path(), &self.db.url);
        command
            .arg("serve")
            .env("OUTPOST_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("OUTPOST_FLEET__CONTROLLER_URL", &self.controller)
            .env("OUTPOST_FLEET__INTERVAL", "1s")
            .env("OUTPOST_FLEET__SSH_ADDRESS", self.ssh.to_string())
            .env("OUTPOST_LOG", "info");
        let mut daemon = Daemon::spawn(command, log);
        daemon.wait_for_port(self.port, PATIENCE);
        daemon
    }
}

/// Polls `check` every 200 ms until it yields something; panics with `what` after
/// [`PATIENCE`].
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(started.elapsed() < PATIENCE, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The satellite's open problems, leaving out the rules routed to no channel here.
async fn open_rules(
    controller: &ControllerProcess,
    http: &reqwest::Client,
    name: &str,
) -> Vec<String> {
    let satellite = controller.satellite(http, name).await;
    satellite["open_problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["rule"].as_str().unwrap().to_owned())
        .filter(|rule| !SILENCED.contains(&rule.as_str()))
        .collect()
}

fn mail_text(mail: &ReceivedMail) -> String {
    format!("{}\n{}", mail.subject().unwrap_or_default(), mail.body())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_satellite_is_escalated_once_and_resolved_when_it_returns() {
    let slack = SlackReceiver::start();
    let mail = SmtpSink::start();
    let controller = ControllerProcess::start(&slack, &mail);
    let ssh = ssh_greeter();
    let http = reqwest::Client::new();

    let steady = Satellite::new("steady-1", &controller, ssh);
    let flaky = Satellite::new("flaky-2", &controller, ssh);
    let listed = controller.satellites(&http).await;
    assert_eq!(listed.len(), 2, "both enrolled: {listed:?}");

    let _steady = steady.serve(&steady.dir.path().join("serve.log"));
    let flaky_log = flaky.dir.path().join("serve.log");
    let first_run = flaky.serve(&flaky_log);

    // Reports from both arrive: online, with the host's figures.
    eventually("both satellites online with metrics", || async {
        let fleet = controller.satellites(&http).await;
        let reporting = fleet.iter().all(|s| {
            s["status"] == "online"
                && !s["last_report_at"].is_null()
                && s["cpu_percent"].is_number()
                && s["memory_percent"].as_f64().is_some_and(|m| m > 0.0)
                && s["worst_disk_percent"].is_number()
        });
        (fleet.len() == 2 && reporting).then_some(())
    })
    .await;
    for s in controller.satellites(&http).await {
        assert_eq!(s["client"], "Acme");
        assert_eq!(s["region"], "eu-west");
    }

    // Killed: late first, and nothing is told while it is merely late.
    drop(first_run);
    let saw_late = std::cell::Cell::new(false);
    eventually("flaky-2 goes offline", || {
        let (http, controller, slack, mail) = (&http, &controller, &slack, &mail);
        let saw_late = &saw_late;
        async move {
            // What was told before the status is read was told while it was at most late.
            let told = (slack.texts(), mail.messages());
            let status = controller.satellite(http, "flaky-2").await["status"].clone();
            if status == "late" {
                saw_late.set(true);
                assert!(told.0.is_empty(), "Slack told while late: {:?}", told.0);
                assert!(told.1.is_empty(), "email sent while late: {:?}", told.1);
            }
            (status == "offline").then_some(())
        }
    })
    .await;
    assert!(saw_late.get(), "flaky-2 was never seen late before offline");

    // Offline: one message on each channel, naming it.
    let (slack_alert, mail_alert) = eventually("the offline alert on both channels", || async {
        let (texts, mails) = (slack.texts(), mail.messages());
        (!texts.is_empty() && !mails.is_empty()).then_some((texts, mails))
    })
    .await;
    assert_eq!(slack_alert.len(), 1, "{slack_alert:?}");
    assert_eq!(mail_alert.len(), 1, "{mail_alert:?}");
    let text = &slack_alert[0];
    assert!(
        text.contains("flaky-2") && text.contains("offline"),
        "{text}"
    );
    assert!(!text.contains("steady-1"), "{text}");
    let email = mail_text(&mail_alert[0]);
    assert_eq!(mail_alert[0].to, vec![ALERTS_TO.to_owned()]);
    assert!(
        email.contains("flaky-2") && email.contains("offline"),
        "{email}"
    );
    assert!(!email.contains("steady-1"), "{email}");
    assert_eq!(open_rules(&controller, &http, "flaky-2").await, ["offline"]);

    // Back: online again, and a resolved notice on each channel.
    let _second_run = flaky.serve(&flaky.dir.path().join("serve-again.log"));
    let (texts, mails) = eventually("the resolved notice on both channels", || async {
        let (texts, mails) = (slack.texts(), mail.messages());
        (texts.len() >= 2 && mails.len() >= 2).then_some((texts, mails))
    })
    .await;
    let back = controller.satellite(&http, "flaky-2").await;
    assert_eq!(back["status"], "online", "{back}");
    assert_eq!(
        open_rules(&controller, &http, "flaky-2").await,
        [] as [&str; 0]
    );
    assert_eq!(
        texts.len(),
        2,
        "one alert and one resolved notice: {texts:?}"
    );
    assert_eq!(
        mails.len(),
        2,
        "one alert and one resolved notice: {mails:?}"
    );
    assert!(
        texts[1].contains("flaky-2 resolved: offline"),
        "{}",
        texts[1]
    );
    let resolved = mail_text(&mails[1]);
    assert!(resolved.contains("flaky-2 resolved: offline"), "{resolved}");

    // The healthy one stayed online and was never named.
    assert_eq!(
        controller.satellite(&http, "steady-1").await["status"],
        "online"
    );
    assert!(texts.iter().all(|t| !t.contains("steady-1")), "{texts:?}");
    assert!(
        mails.iter().all(|m| !mail_text(m).contains("steady-1")),
        "{mails:?}"
    );
}
