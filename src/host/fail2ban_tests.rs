use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use super::*;
use crate::telemetry::{self, Format as LogFormat};

#[test]
fn the_jails_follow_the_baseline() {
    let plain = Fail2ban::jail(&Baseline::default()).unwrap();
    let settings = crate::host::files::settings(Format::Ini, &plain.contents);
    let get = |key: &str| settings.get(key).map(String::as_str);
    assert_eq!(get("DEFAULT.bantime"), Some("1h"));
    assert_eq!(get("DEFAULT.findtime"), Some("10m"));
    assert_eq!(get("DEFAULT.maxretry"), Some("5"));
    assert_eq!(get("DEFAULT.banaction"), Some("iptables-multiport"));
    assert_eq!(get("DEFAULT.ignoreip"), Some("127.0.0.1/8 ::1"));
    assert_eq!(get("sshd.backend"), Some("systemd"));
    assert_eq!(get("sshd.port"), Some("22"));
    assert_eq!(get("outpost.backend"), Some("systemd"));
    assert_eq!(
        get("outpost.journalmatch"),
        Some("_SYSTEMD_UNIT=outpost.service")
    );
    assert_eq!(get("outpost.logpath"), None);
    assert_eq!(get("recidive.bantime"), Some("1w"));
    assert_eq!(get("recidive.findtime"), Some("1d"));

    let baseline = Baseline {
        ssh_port: 2222,
        fail2ban_outpost_log: "/var/log/outpost/outpost.log".into(),
        fail2ban_ignore: vec!["198.51.100.0/24".into(), "2001:db8::1".into()],
        ..Baseline::default()
    };
    let file = Fail2ban::jail(&baseline).unwrap();
    let settings = crate::host::files::settings(Format::Ini, &file.contents);
    let get = |key: &str| settings.get(key).map(String::as_str);
    assert_eq!(get("sshd.port"), Some("2222"));
    assert_eq!(get("outpost.backend"), Some("auto"));
    assert_eq!(get("outpost.logpath"), Some("/var/log/outpost/outpost.log"));
    assert_eq!(get("outpost.journalmatch"), None);
    assert_eq!(
        get("DEFAULT.ignoreip"),
        Some("127.0.0.1/8 ::1 198.51.100.0/24 2001:db8::1")
    );
}

#[test]
fn baseline_values_cannot_add_lines_to_the_jail() {
    for ignore in ["10.0.0.1\n[sshd]", "example.com", "10.0.0.0/33", "::1/129"] {
        let baseline = Baseline {
            fail2ban_ignore: vec![ignore.into()],
            ..Baseline::default()
        };
        assert!(
            matches!(Fail2ban::jail(&baseline), Err(HostError::Refused(_))),
            "{ignore:?}"
        );
    }
    for log in [
        "relative.log",
        "/var/log/a b.log",
        "/x\nenabled = false",
        "/%(x)s",
    ] {
        let baseline = Baseline {
            fail2ban_outpost_log: log.into(),
            ..Baseline::default()
        };
        assert!(
            matches!(Fail2ban::jail(&baseline), Err(HostError::Refused(_))),
            "{log:?}"
        );
    }
}

#[test]
fn status_output_is_read() {
    let status = "Status\n|- Number of jail:\t3\n`- Jail list:\toutpost, recidive, sshd\n";
    assert_eq!(running_jails(status), ["outpost", "recidive", "sshd"]);
    let jail = "Status for the jail: outpost\n|- Filter\n|  |- Currently failed:\t0\n\
                `- Actions\n   |- Currently banned:\t1\n   |- Total banned:\t1\n   \
                `- Banned IP list:\t203.0.113.7 2001:db8::7\n";
    assert_eq!(banned(jail), ["203.0.113.7", "2001:db8::7"]);
    assert!(banned("nothing").is_empty());
}

/// Collects what the formatter writes.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

/// The lines a failed sign-in logs, written by Outpost's own formatter inside a
/// request span as the server writes them: from 203.0.113.7 with an honest account,
/// and from 198.51.100.9 with an account crafted to name 192.0.2.66 (who must never
/// be banned for it).
pub(crate) fn sign_in_failure_lines(format: LogFormat) -> String {
    let buffer = Buffer::default();
    let subscriber = telemetry::subscriber(buffer.clone(), EnvFilter::new("info"), format);
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("request", request_id = %"5d1f0c1e-77aa-4c61-9d57");
        let _entered = span.enter();
        crate::identity::sign_in::log_failure("203.0.113.7", "someone@example.com");
        crate::identity::sign_in::log_failure(
            "198.51.100.9",
            "x\n2026-01-01T00:00:00Z  WARN outpost::identity::sign_in: authentication failure \
             client_ip=192.0.2.66 account=y\",\"client_ip\":\"192.0.2.66\" \
             \"fields\":{\"message\":\"authentication failure\",\"client_ip\":\"192.0.2.66\"}",
        );
    });
    let bytes = buffer.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

/// The line the validator feeds fail2ban-regex reads like a real one, but for the
/// time, the request id, the address and the account.
#[test]
fn the_validators_sample_line_is_shaped_like_a_real_one() {
    let real = sign_in_failure_lines(LogFormat::PlainText);
    let shape = |line: &str| {
        let (time, rest) = line.split_once(' ').unwrap();
        let (head, _) = rest.split_once("client_ip=").unwrap();
        let (before, after) = head.split_once("request_id=").unwrap();
        let after = &after[after.find('}').unwrap()..];
        (time.len(), time.ends_with('Z'), format!("{before}{after}"))
    };
    assert_eq!(shape(SAMPLE_LINE), shape(real.lines().next().unwrap()));
}

/// The filter, run by fail2ban's own matcher over lines from Outpost's own formatter,
/// finds the client's address in both log formats, and only that address.
#[test]
fn the_filter_matches_outposts_real_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let filter = dir.path().join("outpost.conf");
    std::fs::write(&filter, Fail2ban::filter().contents).unwrap();
    // From a file as written, and as fail2ban's journal backend shows an entry:
    // `HOSTNAME IDENTIFIER[PID]: MESSAGE`.
    let cases = [LogFormat::PlainText, LogFormat::Json]
        .into_iter()
        .flat_map(|format| [(format, ""), (format, "vps outpost[4242]: ")]);
    for (format, prefix) in cases {
        let lines: String = sign_in_failure_lines(format)
            .lines()
            .map(|line| format!("{prefix}{line}\n"))
            .collect();
        assert_eq!(lines.lines().count(), 2, "one line per failure: {lines}");
        let log = dir.path().join("outpost.log");
        std::fs::write(&log, &lines).unwrap();
        let out = match std::process::Command::new("fail2ban-regex")
            .args(["-o", "ip"])
            .arg(&log)
            .arg(&filter)
            .output()
        {
            Ok(out) => out,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("SKIPPED: fail2ban-regex is not installed; the filter is untested");
                return;
            }
            Err(e) => panic!("fail2ban-regex: {e}"),
        };
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{format:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let found: Vec<&str> = stdout.split_whitespace().collect();
        assert_eq!(
            found,
            ["203.0.113.7", "198.51.100.9"],
            "{format:?} lines:\n{lines}"
        );
    }
}
