//! The sshd control on scratch roots, against the real sshd and ssh-keygen: apply,
//! check, tamper, roll back, the lock-out guard, and a real sshd started with the
//! generated configuration on a loopback port.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use outpost::host::baseline::SshUser;
use outpost::host::sshd::{self, DROPIN, KEYS_DIR, MAIN, MODULI, Sshd};
use outpost::host::{Baseline, CommandOutput, HostError, Runner, Status, SystemRunner, engine};

use crate::support::daemon::{Daemon, free_port};
use crate::support::host_root::{ScratchRoot, is_root, keygen};

/// A scratch Debian host: accounts, sshd's stock main config and moduli, an Ed25519
/// host key; and a client key pair for root.
struct Fixture {
    root: ScratchRoot,
    client_key: PathBuf,
    public: String,
}

fn fixture() -> Fixture {
    let root = ScratchRoot::new();
    root.seed_accounts();
    root.seed_sshd();
    root.host_key("ed25519", None);
    let client_key = root.join("client/id_ed25519");
    std::fs::create_dir_all(client_key.parent().unwrap()).unwrap();
    let public = keygen(&client_key, "ed25519", None);
    Fixture {
        root,
        client_key,
        public,
    }
}

fn baseline(keys: &[&str]) -> Baseline {
    Baseline {
        ssh_users: vec![SshUser {
            name: "root".into(),
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
        }],
        permit_root_login: "prohibit-password".into(),
        ..Baseline::default()
    }
}

/// The real tools, except that `sshd -t` fails: a validator rejecting the files.
struct RejectingSshd;

impl Runner for RejectingSshd {
    fn run(&self, program: &str, args: &[&str]) -> Result<CommandOutput, HostError> {
        if program == "sshd" && args.first() == Some(&"-t") {
            return Ok(CommandOutput {
                success: false,
                code: Some(255),
                stdout: String::new(),
                stderr: "injected: bad configuration".into(),
            });
        }
        SystemRunner.run(program, args)
    }
}

fn keys_named(report: &outpost::host::ControlReport) -> Vec<String> {
    report.drift.iter().filter_map(|d| d.key.clone()).collect()
}

#[test]
fn apply_makes_the_host_match_and_check_names_a_tampered_key() {
    let f = fixture();
    let host = f.root.host();
    let baseline = baseline(&[&f.public]);

    assert_eq!(engine::check(&host, &Sshd, &baseline).status, Status::Drift);
    let changed = engine::apply(&host, &Sshd, &baseline).unwrap();
    for file in [DROPIN, MODULI, &format!("{KEYS_DIR}/root")] {
        assert!(changed.contains(&format!("/{file}")), "{changed:?}");
    }
    let report = engine::check(&host, &Sshd, &baseline);
    assert_eq!(report.status, Status::Ok, "{report}");

    let dropin = f.root.read(DROPIN);
    for line in [
        "PasswordAuthentication no",
        "AuthenticationMethods publickey",
        "PermitRootLogin prohibit-password",
        "AllowUsers root",
        "MaxAuthTries 3",
    ] {
        assert!(
            dropin.lines().any(|l| l == line),
            "{line} missing:\n{dropin}"
        );
    }
    assert_eq!(
        f.root.read(&format!("{KEYS_DIR}/root")).lines().nth(1),
        Some(f.public.as_str())
    );
    let sizes: Vec<u32> = f
        .root
        .read(MODULI)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().nth(4)?.parse().ok())
        .collect();
    assert!(
        !sizes.is_empty() && sizes.iter().all(|&s| s >= 3071),
        "{sizes:?}"
    );

    // Nothing left to do: a second apply writes nothing.
    assert!(engine::apply(&host, &Sshd, &baseline).unwrap().is_empty());
    assert!(engine::plan(&host, &Sshd, &baseline).unwrap().is_empty());

    f.root.write(
        DROPIN,
        &dropin.replace("PasswordAuthentication no", "PasswordAuthentication yes"),
    );
    let report = engine::check(&host, &Sshd, &baseline);
    assert_eq!(report.status, Status::Drift);
    assert_eq!(keys_named(&report), ["passwordauthentication"], "{report}");

    assert_eq!(
        engine::apply(&host, &Sshd, &baseline).unwrap(),
        [format!("/{DROPIN}")]
    );
    assert_eq!(engine::check(&host, &Sshd, &baseline).status, Status::Ok);
    assert!(engine::apply(&host, &Sshd, &baseline).unwrap().is_empty());
}

#[test]
fn settings_that_override_the_drop_in_are_found_through_sshd_t() {
    let f = fixture();
    let host = f.root.host();
    let baseline = baseline(&[&f.public]);
    engine::apply(&host, &Sshd, &baseline).unwrap();

    // Read before the Include: sshd keeps the first value, so this one wins.
    f.root.write(
        MAIN,
        &format!(
            "PasswordAuthentication yes\n{}",
            crate::support::host_root::DEBIAN_SSHD_CONFIG
        ),
    );
    let report = engine::check(&host, &Sshd, &baseline);
    let drift = report
        .drift
        .iter()
        .find(|d| d.key.as_deref() == Some("passwordauthentication"))
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(
        (drift.expected.as_deref(), drift.actual.as_deref()),
        (Some("no"), Some("yes"))
    );

    // A Match block re-enabling passwords for some addresses (sshd -T alone would not
    // show it): named too.
    f.root.write(
        MAIN,
        &format!(
            "{}Match Address 10.0.0.0/8\n    PasswordAuthentication yes\n",
            crate::support::host_root::DEBIAN_SSHD_CONFIG
        ),
    );
    let report = engine::check(&host, &Sshd, &baseline);
    assert_eq!(keys_named(&report), ["passwordauthentication"], "{report}");
    assert!(
        report
            .to_string()
            .contains("inside `Match Address 10.0.0.0/8`"),
        "{report}"
    );

    // Without the Include the drop-in is never read.
    f.root.write(MAIN, "UsePAM yes\n");
    let report = engine::check(&host, &Sshd, &baseline);
    assert!(
        report.drift.iter().any(|d| d.path.as_deref() == Some(MAIN)
            && d.note.as_deref().is_some_and(|n| n.contains("Include"))),
        "{report}"
    );
}

#[test]
fn a_rejected_configuration_is_rolled_back() {
    let f = fixture();
    let baseline = baseline(&[&f.public]);

    // A fresh tree: nothing the apply wrote survives.
    let rejecting = f.root.host_with(Box::new(RejectingSshd));
    let error = engine::apply(&rejecting, &Sshd, &baseline)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("injected") && error.contains("restored"),
        "{error}"
    );
    assert!(!f.root.join(DROPIN).exists());
    assert!(!f.root.join(&format!("{KEYS_DIR}/root")).exists());
    assert_eq!(
        f.root.read(MODULI),
        std::fs::read_to_string(f.root.join(&format!("{MODULI}.outpost-bak"))).unwrap()
    );

    // An edited drop-in stays as it was when the fix for it is rejected.
    let host = f.root.host();
    engine::apply(&host, &Sshd, &baseline).unwrap();
    let tampered = f
        .root
        .read(DROPIN)
        .replace("MaxAuthTries 3", "MaxAuthTries 9");
    f.root.write(DROPIN, &tampered);
    assert!(engine::apply(&rejecting, &Sshd, &baseline).is_err());
    assert_eq!(f.root.read(DROPIN), tampered);

    // The real sshd -t rejects a main config it cannot parse: the drop-in goes back too.
    f.root.write(
        MAIN,
        &format!(
            "{}NoSuchKeyword yes\n",
            crate::support::host_root::DEBIAN_SSHD_CONFIG
        ),
    );
    let error = engine::apply(&host, &Sshd, &baseline)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("NoSuchKeyword") || error.contains("Bad configuration"),
        "{error}"
    );
    assert_eq!(f.root.read(DROPIN), tampered);
}

#[test]
fn password_login_is_never_turned_off_without_a_key_that_can_log_in() {
    let f = fixture();
    let host = f.root.host();
    let refused = |baseline: &Baseline| {
        let error = engine::apply(&host, &Sshd, baseline)
            .unwrap_err()
            .to_string();
        assert!(
            !f.root.join(DROPIN).exists(),
            "nothing is written when refused"
        );
        assert_eq!(error.lines().count(), 1, "{error}");
        error
    };

    let error = refused(&Baseline::default());
    assert!(
        error.contains("lock everyone out") && error.contains("ssh_users is empty"),
        "{error}"
    );
    assert!(refused(&baseline(&[])).contains("`root` has no key"));
    let mut no_root = baseline(&[&f.public]);
    no_root.permit_root_login = "no".into();
    assert!(refused(&no_root).contains("permit_root_login"));
    let mut absent = baseline(&[&f.public]);
    absent.ssh_users[0].name = "deploy".into();
    assert!(refused(&absent).contains("`deploy` has no account"));
    let mut grouped = baseline(&[&f.public]);
    grouped.ssh_allow_groups = vec!["sshusers".into()];
    assert!(refused(&grouped).contains("ssh_allow_groups"));

    // Keys are read by ssh-keygen: a damaged one, or a short RSA one, is named.
    let damaged = f.public.replacen("AAAA", "AAAB", 1);
    let error = refused(&baseline(&[&f.public, &damaged]));
    assert!(
        error.contains("`root`, key 2") && error.contains("not a valid public key"),
        "{error}"
    );
    let short_rsa = keygen(&f.root.join("client/id_rsa"), "rsa", Some(2048));
    assert!(refused(&baseline(&[&short_rsa])).contains("2048 bits"));
    let mut weak = baseline(&[&f.public]);
    weak.permit_root_login = "yes".into();
    assert!(refused(&weak).contains("permit_root_login"));
}

#[test]
fn weak_host_keys_and_unlisted_login_keys_are_reported_not_removed() {
    let f = fixture();
    let host = f.root.host();
    let baseline = baseline(&[&f.public]);
    engine::apply(&host, &Sshd, &baseline).unwrap();

    let ecdsa = f.root.host_key("ecdsa", None);
    let rsa = f.root.host_key("rsa", Some(2048));
    let stranger = keygen(&f.root.join("client/stranger"), "ed25519", None);
    f.root.write(
        "root/.ssh/authorized_keys",
        &format!("{}\n{stranger}\n", f.public),
    );
    f.root
        .write(&format!("{KEYS_DIR}/olduser"), &format!("{stranger}\n"));

    let report = engine::check(&host, &Sshd, &baseline);
    let text = report.to_string();
    assert!(
        text.contains("etc/ssh/ssh_host_ecdsa_key: ECDSA host key"),
        "{text}"
    );
    assert!(text.contains("RSA host key of 2048 bits"), "{text}");
    assert!(
        text.contains("root/.ssh/authorized_keys: a key [harden].ssh_users does not list"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{KEYS_DIR}/olduser: keys for an account not in")),
        "{text}"
    );
    assert_eq!(report.drift.len(), 4, "{text}");

    assert!(engine::apply(&host, &Sshd, &baseline).unwrap().is_empty());
    assert!(
        ecdsa.exists() && rsa.exists(),
        "host keys are a person's decision"
    );
}

#[test]
fn a_real_sshd_with_the_generated_config_refuses_passwords_and_takes_the_key() {
    if !is_root() {
        eprintln!("SKIPPED: a real sshd needs root (privilege separation, logging in as root)");
        return;
    }
    let f = fixture();
    let host = f.root.host();
    let baseline = baseline(&[&f.public]);
    engine::apply(&host, &Sshd, &baseline).unwrap();

    // The configuration sshd -t validated: the main file with the drop-in included and
    // its paths (host key, authorised keys) inside the scratch tree.
    let config = f.root.join("sshd-test.conf");
    std::fs::write(&config, sshd::flatten(&host).unwrap().text).unwrap();
    let port = free_port();
    let mut command = Command::new("/usr/sbin/sshd");
    command
        .args(["-D", "-e", "-f"])
        .arg(&config)
        .args([
            "-p",
            &port.to_string(),
            "-o",
            "ListenAddress=127.0.0.1",
            // The checkout (and so the scratch tree) may sit below a world-writable
            // directory such as /tmp, which StrictModes refuses for key files; what
            // this test asserts is which authentication methods the config allows.
            "-o",
            "StrictModes=no",
            "-o",
        ])
        .arg(format!("PidFile={}", f.root.join("sshd.pid").display()));
    let mut daemon = Daemon::spawn(command, &f.root.join("sshd.log"));
    daemon.wait_for_port(port, Duration::from_secs(10));

    let password = ssh(
        port,
        &[
            "-o",
            "PreferredAuthentications=password",
            "-o",
            "PubkeyAuthentication=no",
        ],
    );
    let stderr = String::from_utf8_lossy(&password.stderr);
    assert!(!password.status.success());
    assert!(
        stderr.contains("Permission denied (publickey)"),
        "{stderr}\n{}",
        daemon.log()
    );

    let key = f.client_key.to_string_lossy().into_owned();
    let with_key = ssh(port, &["-i", &key]);
    assert!(
        with_key.status.success(),
        "key login failed: {}\n{}",
        String::from_utf8_lossy(&with_key.stderr),
        daemon.log()
    );

    let other = f.root.join("client/other");
    keygen(&other, "ed25519", None);
    let unlisted = ssh(port, &["-i", &other.to_string_lossy()]);
    assert!(
        !unlisted.status.success(),
        "a key not in the baseline got in"
    );
    assert!(String::from_utf8_lossy(&unlisted.stderr).contains("Permission denied (publickey)"));
}

/// `ssh root@127.0.0.1 true` with nothing from this machine's ssh setup.
fn ssh(port: u16, extra: &[&str]) -> Output {
    Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
        ])
        .args(["-o", "IdentityAgent=none", "-o", "StrictHostKeyChecking=no"])
        .args([
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=10",
        ])
        .args(["-p", &port.to_string()])
        .args(extra)
        .args(["root@127.0.0.1", "true"])
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("ssh is installed")
}
