//! The fail2ban control against the real fail2ban: its configuration test on a
//! scratch copy of this machine's stock configuration, and a real fail2ban-server in
//! a network namespace banning an address after five failed sign-ins logged by
//! Outpost's own formatter.

use std::fs::OpenOptions;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost::host::fail2ban::{self, Fail2ban};
use outpost::host::{Baseline, Control, Host, HostError, SystemRunner, engine};
use outpost::telemetry::{self, Format};
use tracing_subscriber::EnvFilter;

use crate::support::netns::{Netns, host_rules};

/// A scratch root holding this machine's stock fail2ban configuration, or `None`
/// after a loud message when fail2ban is not installed.
fn stock_root() -> Option<tempfile::TempDir> {
    if !Path::new("/etc/fail2ban/jail.conf").exists() {
        eprintln!("SKIPPED: fail2ban is not installed (apt-get install fail2ban python3-systemd)");
        return None;
    }
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("etc")).unwrap();
    let status = Command::new("cp")
        .args(["-a", "/etc/fail2ban"])
        .arg(root.path().join("etc"))
        .status()
        .unwrap();
    assert!(status.success(), "copying /etc/fail2ban");
    Some(root)
}

/// Appends `count` failed sign-ins from `address` to `log`, written by Outpost's own
/// log formatter in `format`, inside a request span as the server writes them.
fn log_failures(log: &Path, format: Format, address: &str, count: usize) {
    let file = OpenOptions::new().append(true).open(log).unwrap();
    let subscriber = telemetry::subscriber(Arc::new(file), EnvFilter::new("info"), format);
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("request", request_id = %"4be1f0a2-1c3d-4e5f-8a9b");
        let _entered = span.enter();
        for _ in 0..count {
            outpost::identity::sign_in::log_failure(address, "someone@example.com");
        }
    });
}

struct FailingRunner(&'static str);

impl outpost::host::Runner for FailingRunner {
    fn run(&self, program: &str, args: &[&str]) -> Result<outpost::host::CommandOutput, HostError> {
        let mut out = SystemRunner.run(program, args)?;
        if program == self.0 {
            out.success = false;
            out.stderr = "injected failure".into();
        }
        Ok(out)
    }
}

/// The scratch configuration passes fail2ban's own test (sshd from the journal, the
/// outpost jail from the journal or a file), and the usual apply cycle holds.
#[test]
fn fail2ban_config_passes_the_real_test_and_applies_idempotently() {
    let Some(root) = stock_root() else { return };
    let host = Host::new(root.path(), Box::new(SystemRunner));
    let jail = root.path().join(fail2ban::JAIL);

    // A failing validator leaves nothing behind.
    let failing = Host::new(root.path(), Box::new(FailingRunner("fail2ban-client")));
    let error = engine::apply(&failing, &Fail2ban, &Baseline::default())
        .unwrap_err()
        .to_string();
    assert!(error.contains("restored"), "{error}");
    assert!(!jail.exists() && !root.path().join(fail2ban::FILTER).exists());

    // The default: both jails read the systemd journal.
    let baseline = Baseline::default();
    let changed = engine::apply(&host, &Fail2ban, &baseline).unwrap();
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert!(engine::check(&host, &Fail2ban, &baseline).drift.is_empty());
    assert!(
        engine::apply(&host, &Fail2ban, &baseline)
            .unwrap()
            .is_empty()
    );

    let text = std::fs::read_to_string(&jail).unwrap();
    std::fs::write(&jail, text.replacen("maxretry = 5", "maxretry = 50", 1)).unwrap();
    let report = engine::check(&host, &Fail2ban, &baseline);
    assert_eq!(report.drift.len(), 1, "{report}");
    assert_eq!(report.drift[0].key.as_deref(), Some("DEFAULT.maxretry"));
    assert_eq!(report.drift[0].actual.as_deref(), Some("50"));
    assert_eq!(
        engine::apply(&host, &Fail2ban, &baseline).unwrap(),
        [format!("/{}", fail2ban::JAIL)]
    );

    // A log file instead of the journal, and extra addresses never banned. fail2ban
    // refuses a jail whose log file does not exist.
    let log = root.path().join("outpost.log");
    let file_baseline = Baseline {
        fail2ban_outpost_log: log.to_string_lossy().into_owned(),
        fail2ban_ignore: vec!["198.51.100.0/24".into()],
        ..Baseline::default()
    };
    let error = engine::apply(&host, &Fail2ban, &file_baseline)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("Have not found any log file for outpost jail"),
        "{error}"
    );
    std::fs::write(&log, "").unwrap();
    engine::apply(&host, &Fail2ban, &file_baseline).unwrap();
    let report = engine::check(&host, &Fail2ban, &file_baseline);
    assert!(report.drift.is_empty(), "{report}");
}

/// A fail2ban-server of the test's own, in a network namespace, bans an address
/// after five failed sign-ins in either log format; the ban is in the namespace's
/// netfilter rules and not in this machine's.
#[test]
fn fail2ban_in_a_namespace_bans_after_five_failed_sign_ins() {
    let Some(root) = stock_root() else { return };
    let Some(mut netns) = Netns::create("f2b") else {
        return;
    };
    let before = host_rules();
    let dir = root.path();
    let log = dir.join("outpost.log");
    let own_log = dir.join("fail2ban.log");
    std::fs::write(&log, "").unwrap();
    std::fs::write(&own_log, "").unwrap();
    let baseline = Baseline {
        fail2ban_outpost_log: log.to_string_lossy().into_owned(),
        ..Baseline::default()
    };
    let host = Host::new(dir, Box::new(SystemRunner));
    engine::apply(&host, &Fail2ban, &baseline).unwrap();

    // Only where this server keeps its state differs from a real host: socket, pid
    // file, database and its own log (which recidive reads) in the scratch tree.
    let conf = dir.join("etc/fail2ban");
    let socket = dir.join("fail2ban.sock");
    std::fs::write(
        conf.join("fail2ban.local"),
        format!(
            "[Definition]\nlogtarget = {}\nsocket = {}\npidfile = {}\ndbfile = {}\n",
            own_log.display(),
            socket.display(),
            dir.join("fail2ban.pid").display(),
            dir.join("fail2ban.sqlite3").display()
        ),
    )
    .unwrap();
    std::fs::write(
        conf.join("jail.d/zz-test.local"),
        format!("[recidive]\nlogpath = {}\n", own_log.display()),
    )
    .unwrap();
    // The written configuration, with those paths, still passes the test.
    Fail2ban.validate(&host, &baseline).unwrap();

    let output = std::fs::File::create(dir.join("server.out")).unwrap();
    let mut server = netns.command("fail2ban-server");
    server
        .args(["-f", "-x", "-c"])
        .arg(&conf)
        .arg("-s")
        .arg(&socket)
        .arg("-p")
        .arg(dir.join("fail2ban.pid"))
        .stdout(output.try_clone().unwrap())
        .stderr(Stdio::from(output));
    netns.spawn(server);

    let client = |args: &[&str]| {
        Command::new("fail2ban-client")
            .arg("-s")
            .arg(&socket)
            .args(args)
            .output()
            .unwrap()
    };
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done() {
            if Instant::now() > deadline {
                let server = std::fs::read_to_string(dir.join("server.out")).unwrap_or_default();
                let log = std::fs::read_to_string(&own_log).unwrap_or_default();
                panic!("timed out waiting for {what}\n{server}\n{log}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait_for("the jails", &|| {
        let out = client(&["status"]);
        let mut jails = fail2ban::running_jails(&String::from_utf8_lossy(&out.stdout));
        jails.sort();
        jails == ["outpost", "recidive", "sshd"]
    });

    let banned = || {
        let out = client(&["status", "outpost"]);
        fail2ban::banned(&String::from_utf8_lossy(&out.stdout))
    };
    // Four failures are not enough.
    log_failures(&log, Format::PlainText, "203.0.113.7", 4);
    log_failures(&log, Format::Json, "198.51.100.23", 5);
    wait_for("198.51.100.23 (JSON lines) to be banned", &|| {
        banned().contains(&"198.51.100.23".to_owned())
    });
    assert!(!banned().contains(&"203.0.113.7".to_owned()));
    log_failures(&log, Format::PlainText, "203.0.113.7", 1);
    wait_for("203.0.113.7 (text lines) to be banned", &|| {
        banned().contains(&"203.0.113.7".to_owned())
    });

    let rules = netns.ok("iptables", &["-S"]);
    assert!(
        rules.contains("-A f2b-outpost -s 203.0.113.7/32 -j REJECT"),
        "{rules}"
    );
    assert!(rules.contains("--dports 80,443 -j f2b-outpost"), "{rules}");
    assert!(!host_rules().contains("203.0.113.7"));

    drop(netns);
    assert_eq!(host_rules(), before, "this machine's own rules changed");
}
