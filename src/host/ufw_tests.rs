use std::collections::HashMap;

use super::*;
use crate::host::{SystemRunner, engine};

fn scratch() -> (tempfile::TempDir, Host) {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::new(dir.path(), Box::new(SystemRunner));
    (dir, host)
}

#[test]
fn the_files_deny_incoming_and_open_the_baseline_ports() {
    let (_dir, host) = scratch();
    let baseline = Baseline {
        ssh_port: 2222,
        firewall_allow: vec!["51820/udp".into()],
        ..Baseline::default()
    };
    let files = Ufw.desired(&host, &baseline).unwrap();
    let paths: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
    assert_eq!(paths, [DEFAULTS, CONF, RULES, RULES6]);
    let defaults = files::settings(Format::Equals, &files[0].contents);
    assert_eq!(defaults["DEFAULT_INPUT_POLICY"], "\"DROP\"");
    assert_eq!(defaults["DEFAULT_OUTPUT_POLICY"], "\"ACCEPT\"");
    assert_eq!(defaults["IPV6"], "yes");
    assert_eq!(defaults["IPT_SYSCTL"], "");
    let conf = files::settings(Format::Equals, &files[1].contents);
    assert_eq!(conf["ENABLED"], "yes");
    assert_eq!(conf["LOGLEVEL"], "low");
    assert_eq!(
        ufw_rules::rules_in_file(&files[2].contents),
        [
            "allow 2222/tcp",
            "allow 80/tcp",
            "allow 443/tcp",
            "allow 51820/udp"
        ]
    );
    assert_eq!(files[2].mode, 0o640, "as ufw writes its rule files");

    let bad = Baseline {
        firewall_allow: vec!["8080".into()],
        ..Baseline::default()
    };
    let report = engine::check(&host, &Ufw, &bad);
    assert!(report.error.unwrap().contains("`8080` is not PORT/tcp"));
}

/// A rule added behind Outpost's back (`ufw allow 8080/tcp`) is named, in both rule
/// files; a changed default names its key.
#[test]
fn drift_names_the_extra_rule_and_the_changed_key() {
    let (dir, host) = scratch();
    let baseline = Baseline::default();
    for wanted in Ufw.desired(&host, &baseline).unwrap() {
        files::write(&host, &wanted).unwrap();
    }
    assert!(engine::check(&host, &Ufw, &baseline).drift.is_empty());

    let mut rules = rules(&baseline).unwrap();
    rules.push(Allow::parse("8080/tcp").unwrap());
    std::fs::write(dir.path().join(RULES), ufw_rules::render(&rules, false)).unwrap();
    std::fs::write(dir.path().join(RULES6), ufw_rules::render(&rules, true)).unwrap();
    let defaults = dir.path().join(DEFAULTS);
    let text = std::fs::read_to_string(&defaults).unwrap();
    std::fs::write(
        &defaults,
        text.replace("INPUT_POLICY=\"DROP\"", "INPUT_POLICY=\"ACCEPT\""),
    )
    .unwrap();

    let report = engine::check(&host, &Ufw, &baseline);
    let text: Vec<String> = report.drift.iter().map(ToString::to_string).collect();
    assert!(
        text.contains(
            &"etc/default/ufw: DEFAULT_INPUT_POLICY is `\"ACCEPT\"`, expected `\"DROP\"`".into()
        ),
        "{text:#?}"
    );
    for path in [RULES, RULES6] {
        assert!(
            text.contains(&format!(
                "{path}: rule `allow 8080/tcp`: is not in the baseline"
            )),
            "{text:#?}"
        );
    }
}

#[test]
fn loopback_must_stay_open_in_the_stock_rules() {
    let (dir, host) = scratch();
    let before = dir.path().join(BEFORE_RULES);
    std::fs::create_dir_all(before.parent().unwrap()).unwrap();
    std::fs::write(
        &before,
        "*filter\n-A ufw-before-input -i lo -j ACCEPT\nCOMMIT\n",
    )
    .unwrap();
    assert!(Ufw.observe(&host, &Baseline::default()).unwrap().is_empty());
    std::fs::write(&before, "*filter\nCOMMIT\n").unwrap();
    let drift = Ufw.observe(&host, &Baseline::default()).unwrap();
    assert_eq!(drift[0].key.as_deref(), Some("loopback"));
}

#[test]
fn the_running_firewall_is_compared_rule_by_rule() {
    let rules = rules(&Baseline::default()).unwrap();
    let rows = |extra: &str| {
        format!(
            "Status: active\nLogging: on (low)\n\
             Default: deny (incoming), allow (outgoing), disabled (routed)\n\n\
             To                         Action      From\n\
             --                         ------      ----\n\
             22/tcp                     ALLOW IN    Anywhere\n\
             80/tcp                     ALLOW IN    Anywhere\n\
             443/tcp                    ALLOW IN    Anywhere\n{extra}\
             22/tcp (v6)                ALLOW IN    Anywhere (v6)\n\
             80/tcp (v6)                ALLOW IN    Anywhere (v6)\n\
             443/tcp (v6)               ALLOW IN    Anywhere (v6)\n"
        )
    };
    assert!(status_drift(&rows(""), &rules).is_empty());
    let drift = status_drift(
        &rows("8080/tcp                   ALLOW IN    Anywhere\n"),
        &rules,
    );
    assert_eq!(drift.len(), 1);
    assert_eq!(
        drift[0].to_string(),
        "rule `8080/tcp ALLOW IN Anywhere`: is not in the baseline"
    );
    let off = status_drift("Status: inactive\n", &rules);
    assert_eq!(off[0].actual.as_deref(), Some("inactive"));
    let open = rows("").replace("deny (incoming)", "allow (incoming)");
    assert_eq!(
        status_drift(&open, &rules)[0].key.as_deref(),
        Some("ufw default policy")
    );
}

#[test]
fn public_listeners_and_published_ports_the_firewall_does_not_open_are_named() {
    let rules = rules(&Baseline {
        firewall_allow: vec!["51820/udp".into()],
        ..Baseline::default()
    })
    .unwrap();
    let listener = |address: &str, port: u16, proto: Proto, inode: u64| Listener {
        proto,
        address: address.parse().unwrap(),
        port,
        inode,
    };
    let found = [
        listener("0.0.0.0", 22, Proto::Tcp, 1),
        listener("::", 443, Proto::Tcp, 2),
        listener("0.0.0.0", 8080, Proto::Tcp, 3),
        listener("::", 8080, Proto::Tcp, 4),
        listener("127.0.0.1", 5432, Proto::Tcp, 5),
        listener("0.0.0.0", 68, Proto::Udp, 6),
        listener("0.0.0.0", 51820, Proto::Udp, 7),
        listener("0.0.0.0", 5353, Proto::Udp, 8),
    ];
    let owners = HashMap::from([(3, "python3".to_owned()), (4, "python3".to_owned())]);
    let drift: Vec<String> = listener_drift(&found, &owners, &rules)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(drift.len(), 2, "{drift:#?}");
    assert!(drift[0].starts_with("listener 8080/tcp: python3 listens on 0.0.0.0 and ::,"));
    assert!(drift[1].starts_with("listener 5353/udp: a process listens on 0.0.0.0,"));

    let ps = "proxy\t0.0.0.0:443->443/tcp, :::443->443/tcp\n\
              admin\t0.0.0.0:9000->9000/tcp\n\
              db\t127.0.0.1:5432->5432/tcp\n";
    let drift = docker_drift(ps, &rules);
    assert_eq!(drift.len(), 1);
    assert_eq!(drift[0].key.as_deref(), Some("container admin"));
    assert!(drift[0].to_string().contains("0.0.0.0:9000->9000/tcp"));
}
