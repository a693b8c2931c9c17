//! The domain's DNS, asked through the configured resolver: a CAA record limiting
//! which authorities may issue its certificates, and SPF and DMARC records that stop
//! others sending mail in its name.
//!
//! | finding | severity |
//! | --- | --- |
//! | no CAA record at the domain or any parent below the top level | medium |
//! | no SPF record, or several | medium |
//! | SPF passing mail from anywhere (`+all`, `?all`, or no `all` term) | high |
//! | no DMARC record (nor one of a parent domain), or several | high |
//! | DMARC `p=none` (only monitoring) | medium |
//!
//! A missing DMARC record is the worse: with none, every receiver decides alone what
//! to do with forged mail, while `p=none` at least has failures reported to the
//! domain's owner.

mod lookup;
mod policy;

use lookup::Dns;
use policy::{Dmarc, Spf};

use crate::config::Config;
use crate::scan::settings::is_domain_name;
use crate::scan::{Check, CheckError, Context, Found, Severity};

#[derive(Debug)]
pub struct MailAndCertificates;

impl Check for MailAndCertificates {
    fn id(&self) -> &'static str {
        "offensive.dns"
    }

    fn title(&self) -> &'static str {
        "The domain limits certificate issuers and mail senders"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        // An address or `localhost` has no zone to check: nothing to say.
        let Some(domain) = domain(cx.config) else {
            return Ok(Vec::new());
        };
        let server = cx.config.scan.resolver().map_err(CheckError)?;
        let dns = Dns::new(server)?;
        let mut found = Vec::new();
        found.extend(caa(&dns, &domain)?);
        found.extend(spf(&dns, &domain)?);
        found.extend(dmarc(&dns, &domain)?);
        Ok(found)
    }
}

/// The domain to check: `scan.domain`, else the host of `public_url` when it is a
/// name; none for an address or a single-label name.
pub fn domain(config: &Config) -> Option<String> {
    let configured = config.scan.domain.trim();
    let name = if configured.is_empty() {
        reqwest::Url::parse(&config.public_url)
            .ok()?
            .host_str()?
            .to_owned()
    } else {
        configured.to_owned()
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    is_domain_name(&name).then_some(name)
}

/// `a.b.example` → `a.b.example`, `b.example`: the names below the top level, from
/// the most specific.
fn and_parents(domain: &str) -> Vec<&str> {
    let labels = domain.split('.').count();
    std::iter::once(domain)
        .chain(domain.match_indices('.').map(|(i, _)| &domain[i + 1..]))
        .take(labels.saturating_sub(1))
        .collect()
}

/// CAA applies from the closest name that has one (RFC 8659), so a parent's counts.
fn caa(dns: &Dns, domain: &str) -> Result<Option<Found>, CheckError> {
    for name in and_parents(domain) {
        if !dns.caa(name)?.is_empty() {
            return Ok(None);
        }
    }
    Ok(Some(Found::new(
        format!("dns:{domain}:caa"),
        Severity::Medium,
        "No CAA record: any certificate authority may issue for the domain",
        format!("no CAA record at {domain} or a parent domain"),
    )))
}

fn spf(dns: &Dns, domain: &str) -> Result<Option<Found>, CheckError> {
    let subject = format!("dns:{domain}:spf");
    Ok(match policy::spf(&dns.txt(domain)?) {
        Spf::Restrictive => None,
        Spf::Missing => Some(Found::new(
            subject,
            Severity::Medium,
            "No SPF record: receivers cannot tell forged mail from the domain's own",
            format!("no `v=spf1` TXT record at {domain}"),
        )),
        Spf::Several(count) => Some(Found::new(
            subject,
            Severity::Medium,
            "Several SPF records: receivers treat that as an error and check nothing",
            format!("{count} `v=spf1` TXT records at {domain}"),
        )),
        Spf::Permissive(term) => Some(Found::new(
            subject,
            Severity::High,
            "SPF lets anyone send mail as the domain",
            format!("the SPF record at {domain} ends with {term}: use ~all or -all"),
        )),
    })
}

/// `_dmarc.<domain>`, else the nearest parent's (a receiver falls back to the
/// organisational domain, whose `sp=` covers its subdomains).
fn dmarc(dns: &Dns, domain: &str) -> Result<Option<Found>, CheckError> {
    let subject = format!("dns:{domain}:dmarc");
    for name in and_parents(domain) {
        let at = format!("_dmarc.{name}");
        let verdict = policy::dmarc(&dns.txt(&at)?, name != domain);
        let found = match verdict {
            Dmarc::Missing => continue,
            Dmarc::Enforcing(_) => None,
            Dmarc::Several(count) => Some(Found::new(
                subject,
                Severity::High,
                "Several DMARC records: receivers ignore them all",
                format!("{count} `v=DMARC1` TXT records at {at}"),
            )),
            Dmarc::Monitoring(policy) => Some(Found::new(
                subject,
                Severity::Medium,
                "DMARC only monitors: forged mail is still delivered",
                format!("the DMARC record at {at} has policy {policy}: use quarantine or reject"),
            )),
        };
        return Ok(found);
    }
    Ok(Some(Found::new(
        subject,
        Severity::High,
        "No DMARC record: nothing tells receivers to refuse forged mail",
        format!("no `v=DMARC1` TXT record at _dmarc.{domain} or a parent domain"),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_stop_above_the_top_level() {
        let names = and_parents("outpost.mail.acme.example");
        assert_eq!(
            names,
            [
                "outpost.mail.acme.example",
                "mail.acme.example",
                "acme.example"
            ]
        );
        assert_eq!(and_parents("acme.example"), ["acme.example"]);
    }

    #[test]
    fn the_domain_comes_from_the_setting_or_public_url() {
        let mut config = Config {
            public_url: "https://Outpost.Acme.example:8443/app".into(),
            ..Config::default()
        };
        assert_eq!(domain(&config).as_deref(), Some("outpost.acme.example"));
        config.scan.domain = "acme.example.".into();
        assert_eq!(domain(&config).as_deref(), Some("acme.example"));
        config.scan.domain.clear();
        for quiet in [
            "http://127.0.0.1:8080",
            "http://localhost:8080",
            "http://[::1]/",
        ] {
            config.public_url = quiet.into();
            assert_eq!(domain(&config), None, "{quiet}");
        }
    }
}
