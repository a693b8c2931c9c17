//! The DNS check against a tiny DNS server on loopback: a zone with CAA, a strict SPF
//! and an enforcing DMARC policy is quiet; a zone without DMARC, one whose SPF passes
//! everyone, and one without CAA each raise their finding; a server that fails is a
//! check that could not run; an address for `public_url` is nothing to check.

use outpost::config::Config;
use outpost::scan::{self, CheckRun, Context};

use crate::support::backup::Server;
use crate::support::dns::{DnsServer, Zone};

const CHECK: &str = "offensive.dns";
const DOMAIN: &str = "acme.example";

fn good_zone() -> Zone {
    Zone::default()
        .caa(DOMAIN, "letsencrypt.org")
        .txt(DOMAIN, "google-site-verification=abc123")
        .txt(DOMAIN, "v=spf1 mx include:_spf.mail.example -all")
        .txt(
            &format!("_dmarc.{DOMAIN}"),
            "v=DMARC1; p=reject; rua=mailto:dmarc@acme.example",
        )
}

fn scan(server: &Server, config: &Config) -> CheckRun {
    let cx = Context {
        config,
        db: &server.pool,
        vault: &server.vault,
        now: time::OffsetDateTime::now_utc(),
    };
    let checks: Vec<_> = scan::checks::all()
        .into_iter()
        .filter(|c| c.id() == CHECK)
        .collect();
    assert_eq!(checks.len(), 1, "the check is registered");
    scan::run(&cx, &checks).remove(0)
}

/// The findings of a scan of `domain` served by `zone`, as `subject:severity`.
fn findings(server: &Server, zone: Zone, domain: &str) -> Vec<String> {
    let dns = DnsServer::start(zone);
    let mut config = server.config.clone();
    config.public_url = format!("https://outpost.{domain}");
    config.scan.domain = domain.into();
    config.scan.dns_resolver = dns.addr.to_string();
    let run = scan(server, &config);
    assert_ne!(run.status, "error", "{:?}", run.error);
    let mut got: Vec<String> = run
        .found
        .iter()
        .map(|f| format!("{}:{:?}", f.subject, f.severity))
        .collect();
    got.sort();
    got
}

#[test]
fn a_good_zone_is_quiet_and_each_gap_is_found() {
    let server = Server::new(1);
    assert_eq!(findings(&server, good_zone(), DOMAIN), Vec::<String>::new());

    let mut no_dmarc = Zone::default()
        .caa(DOMAIN, "letsencrypt.org")
        .txt(DOMAIN, "v=spf1 mx -all");
    assert_eq!(
        findings(&server, no_dmarc.clone(), DOMAIN),
        ["dns:acme.example:dmarc:High"]
    );

    no_dmarc = no_dmarc.txt(&format!("_dmarc.{DOMAIN}"), "v=DMARC1; p=none");
    assert_eq!(
        findings(&server, no_dmarc, DOMAIN),
        ["dns:acme.example:dmarc:Medium"]
    );

    let open_spf = Zone::default()
        .caa(DOMAIN, "letsencrypt.org")
        .txt(DOMAIN, "v=spf1 a mx +all")
        .txt(&format!("_dmarc.{DOMAIN}"), "v=DMARC1; p=quarantine");
    assert_eq!(
        findings(&server, open_spf, DOMAIN),
        ["dns:acme.example:spf:High"]
    );

    let bare = Zone::default().txt("unrelated.example", "v=spf1 -all");
    assert_eq!(
        findings(&server, bare, DOMAIN),
        [
            "dns:acme.example:caa:Medium",
            "dns:acme.example:dmarc:High",
            "dns:acme.example:spf:Medium"
        ]
    );
}

#[test]
fn a_subdomain_inherits_its_parents_caa_and_dmarc() {
    let server = Server::new(1);
    let zone = good_zone().txt("mail.acme.example", "v=spf1 ip4:192.0.2.10 -all");
    assert_eq!(
        findings(&server, zone, "mail.acme.example"),
        Vec::<String>::new()
    );
    let lax_subdomains = Zone::default()
        .caa(DOMAIN, "letsencrypt.org")
        .txt("mail.acme.example", "v=spf1 -all")
        .txt(&format!("_dmarc.{DOMAIN}"), "v=DMARC1; p=reject; sp=none");
    assert_eq!(
        findings(&server, lax_subdomains, "mail.acme.example"),
        ["dns:mail.acme.example:dmarc:Medium"]
    );
}

#[test]
fn a_failing_resolver_is_an_error_and_an_address_is_skipped() {
    let server = Server::new(1);
    let dns = DnsServer::start(Zone::failing());
    let mut config = server.config.clone();
    config.scan.domain = DOMAIN.into();
    config.scan.dns_resolver = dns.addr.to_string();
    let run = scan(&server, &config);
    assert_eq!(run.status, "error");
    let error = run.error.unwrap();
    assert!(error.contains(&dns.addr.to_string()), "{error}");

    // No domain configured and public_url an address: nothing to ask about.
    config.scan.domain.clear();
    config.public_url = "http://127.0.0.1:8080".into();
    let run = scan(&server, &config);
    assert_eq!(run.status, "ok", "{:?}", run.error);
    assert!(run.found.is_empty());
}

#[test]
fn bad_scan_settings_are_one_line_naming_the_key() {
    let file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    for (text, key) in [
        (
            "[scan]\ndns_resolver = \"dns.example\"\n",
            "scan.dns_resolver",
        ),
        ("[scan]\ndomain = \"acme..example\"\n", "scan.domain"),
        (
            "[scan]\nskill_directories = [\"skills\"]\n",
            "scan.skill_directories",
        ),
    ] {
        std::fs::write(file.path(), text).unwrap();
        let out = crate::cli::outpost(
            &[],
            &["config", "check", "--config", file.path().to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = crate::cli::stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains(&format!("invalid `{key}`")), "{err}");
    }
}
