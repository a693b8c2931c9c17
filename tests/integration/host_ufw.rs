//! The firewall control against the real ufw, iptables and kernel, inside network
//! namespaces of the test's own: this machine's rules are compared before and after.

use std::path::{Path, PathBuf};
use std::process::Command;

use outpost::host::ufw::{self, Ufw};
use outpost::host::{Baseline, Control, Host, HostError, engine, listeners, ufw_rules};

use crate::support::netns::{Binds, Netns, NetnsRunner, host_rules};

/// A scratch root holding this machine's stock UFW files (as the package installs
/// them), or `None` after a loud message when ufw is not installed.
fn stock_root() -> Option<tempfile::TempDir> {
    if !Path::new("/etc/ufw/before.rules").exists() || !Path::new("/usr/sbin/ufw").exists() {
        eprintln!("SKIPPED: ufw is not installed (apt-get install ufw)");
        return None;
    }
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("etc/default")).unwrap();
    for (from, to) in [("/etc/ufw", "etc"), ("/etc/default/ufw", "etc/default")] {
        let status = Command::new("cp")
            .args(["-a", from])
            .arg(root.path().join(to))
            .status()
            .unwrap();
        assert!(status.success(), "copying {from}");
    }
    Some(root)
}

/// The scratch files over the paths ufw reads.
fn binds(root: &Path) -> Binds {
    Binds(vec![
        (root.join("etc/ufw"), "/etc/ufw".into()),
        (root.join("etc/default/ufw"), "/etc/default/ufw".into()),
    ])
}

fn baseline() -> Baseline {
    Baseline {
        firewall_allow: vec!["51820/udp".into(), "6000:6007/tcp".into()],
        ..Baseline::default()
    }
}

fn read(root: &Path, path: &str) -> String {
    std::fs::read_to_string(root.join(path)).unwrap()
}

/// Fails one validator, passes everything else to the namespace.
struct FailingValidator {
    inner: NetnsRunner,
    program: &'static str,
}

impl outpost::host::Runner for FailingValidator {
    fn run(&self, program: &str, args: &[&str]) -> Result<outpost::host::CommandOutput, HostError> {
        let mut out = self.inner.run(program, args)?;
        if program == self.program {
            out.success = false;
            out.code = Some(2);
            out.stderr = "injected failure".into();
        }
        Ok(out)
    }
}

#[test]
fn ufw_in_a_namespace_leaves_only_ssh_http_and_https_reachable() {
    let Some(root) = stock_root() else { return };
    let Some(mut a) = Netns::create("fw-a") else {
        return;
    };
    let b = Netns::create("fw-b").expect("a second namespace");
    let before = host_rules();
    Netns::link(
        &a,
        &["10.99.0.1/24", "fd00:99::1/64"],
        &b,
        &["10.99.0.2/24", "fd00:99::2/64"],
    );
    let binds = binds(root.path());
    let host = Host::new(root.path(), Box::new(a.runner(binds.clone())));
    let baseline = baseline();
    let stock_rules = read(root.path(), ufw::RULES);

    // A failing validator (the netfilter parser) rolls every file back.
    let failing = Host::new(
        root.path(),
        Box::new(FailingValidator {
            inner: a.runner(binds.clone()),
            program: "ip6tables-restore",
        }),
    );
    let error = engine::apply(&failing, &Ufw, &baseline)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("ip6tables-restore --test rejected"),
        "{error}"
    );
    assert!(error.contains("restored"), "{error}");
    assert_eq!(read(root.path(), ufw::RULES), stock_rules);

    // Apply on the scratch tree: ufw and iptables-restore validate it (in namespace A).
    let changed = engine::apply(&host, &Ufw, &baseline).unwrap();
    assert_eq!(changed.len(), 4, "{changed:?}");
    assert!(
        root.path().join("etc/ufw/user.rules.outpost-bak").exists(),
        "the stock file is kept"
    );
    let report = engine::check(&host, &Ufw, &baseline);
    assert!(report.drift.is_empty(), "{report}");
    assert!(engine::apply(&host, &Ufw, &baseline).unwrap().is_empty());

    // Activated as on a live host, in namespace A with the scratch files mounted.
    Ufw.activate(&host, &baseline).unwrap();
    let rules = ufw::rules(&baseline).unwrap();
    let status = a.ok_with(&binds, "ufw", &["status", "verbose"]);
    assert!(ufw::status_drift(&status, &rules).is_empty(), "{status}");

    // ufw itself, asked for the same rules, finds them all there and writes the same
    // bytes: the files are what ufw writes.
    let rendered = (
        read(root.path(), ufw::RULES),
        read(root.path(), ufw::RULES6),
    );
    for rule in &rules {
        let out = a.ok_with(&binds, "ufw", &["allow", &rule.to_string()]);
        assert!(out.contains("Skipping adding existing rule"), "{out}");
    }
    a.ok_with(&binds, "ufw", &["reload"]);
    assert_eq!(
        (
            read(root.path(), ufw::RULES),
            read(root.path(), ufw::RULES6)
        ),
        rendered
    );

    // Only SSH, HTTP and HTTPS answer from namespace B, over IPv4 and IPv6.
    let listener = a.listen(&[22, 80, 443, 8080]);
    let targets: Vec<String> = ["10.99.0.1", "[fd00:99::1]"]
        .iter()
        .flat_map(|address| [22, 80, 443, 8080].map(|port| format!("{address}:{port}")))
        .collect();
    let reached = b.probe(&targets);
    let expected = ["open", "open", "open", "timeout"].repeat(2);
    assert_eq!(reached, expected, "{targets:?}");

    // The listener report, from namespace A's own socket table: only 8080 is named.
    let found = listeners::read(&PathBuf::from(format!("/proc/{listener}/net"))).unwrap();
    assert_eq!(found.len(), 8, "{found:?}");
    let drift = ufw::listener_drift(&found, &listeners::owners(), &rules);
    assert_eq!(drift.len(), 1, "{drift:?}");
    let text = drift[0].to_string();
    assert!(
        text.starts_with("listener 8080/tcp: python3 listens on 0.0.0.0 and ::"),
        "{text}"
    );

    // Someone opens 8080 by hand: the files and the running firewall name the rule,
    // 8080 answers; --apply and activation close it again.
    a.ok_with(&binds, "ufw", &["allow", "8080/tcp"]);
    assert_eq!(b.probe(&targets[3..4]), ["open"]);
    let report = engine::check(&host, &Ufw, &baseline);
    let text: Vec<String> = report.drift.iter().map(ToString::to_string).collect();
    assert!(
        text.contains(&"etc/ufw/user.rules: rule `allow 8080/tcp`: is not in the baseline".into()),
        "{text:#?}"
    );
    let status = a.ok_with(&binds, "ufw", &["status", "verbose"]);
    let live: Vec<String> = ufw::status_drift(&status, &rules)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        live.contains(&"rule `8080/tcp ALLOW IN Anywhere`: is not in the baseline".into()),
        "{live:#?}"
    );
    let changed = engine::apply(&host, &Ufw, &baseline).unwrap();
    assert_eq!(changed, ["/etc/ufw/user.rules", "/etc/ufw/user6.rules"]);
    Ufw.activate(&host, &baseline).unwrap();
    assert_eq!(b.probe(&targets[3..4]), ["timeout"]);
    assert!(engine::check(&host, &Ufw, &baseline).drift.is_empty());

    // Turned off by hand: the running firewall is reported inactive.
    a.ok_with(&binds, "ufw", &["disable"]);
    let status = a.ok_with(&binds, "ufw", &["status", "verbose"]);
    let off = ufw::status_drift(&status, &rules);
    assert_eq!(off[0].actual.as_deref(), Some("inactive"));

    drop((a, b));
    assert_eq!(host_rules(), before, "this machine's own rules changed");
}

/// The validator reads rules the way ufw does: a rule file ufw would skip a line of
/// is refused, and nothing is left changed.
#[test]
fn a_rule_file_ufw_cannot_read_is_refused() {
    let Some(root) = stock_root() else { return };
    let Some(a) = Netns::create("fw-bad") else {
        return;
    };
    let host = Host::new(root.path(), Box::new(a.runner(binds(root.path()))));
    let baseline = baseline();
    engine::apply(&host, &Ufw, &baseline).unwrap();
    // A malformed tuple: the validator must see ufw skip it.
    let path = root.path().join(ufw::RULES);
    let text = read(root.path(), ufw::RULES).replace("allow udp 51820", "allow udpx 51820");
    std::fs::write(&path, &text).unwrap();
    let error = Ufw.validate(&host, &baseline).unwrap_err().to_string();
    assert!(error.contains("malformed"), "{error}");
    // The baseline's rules, as ufw reads them back, are the ones rendered.
    assert_eq!(
        ufw_rules::rules_in_file(&ufw_rules::render(&ufw::rules(&baseline).unwrap(), false)),
        [
            "allow 22/tcp",
            "allow 80/tcp",
            "allow 443/tcp",
            "allow 51820/udp",
            "allow 6000:6007/tcp"
        ]
    );
}
