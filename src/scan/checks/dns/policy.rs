//! Reading the mail policies a domain publishes: its SPF record (RFC 7208), which
//! says who may send its mail, and its DMARC record (RFC 7489), which says what a
//! receiver does with mail that fails.

/// What a domain's SPF records say about mail from anywhere.
#[derive(Debug, PartialEq, Eq)]
pub enum Spf {
    Missing,
    /// More than one `v=spf1` record: a receiver treats that as an error (permerror)
    /// and checks nothing.
    Several(usize),
    /// Mail from anywhere passes, or is neutral: the term that says so.
    Permissive(String),
    /// Fails or soft-fails mail from elsewhere, or hands over to another domain's
    /// record (`redirect=`).
    Restrictive,
}

pub fn spf(records: &[String]) -> Spf {
    let spf: Vec<&String> = records
        .iter()
        .filter(|r| {
            let first = r.split_whitespace().next().unwrap_or_default();
            first.eq_ignore_ascii_case("v=spf1")
        })
        .collect();
    let record = match spf.as_slice() {
        [] => return Spf::Missing,
        [one] => one,
        several => return Spf::Several(several.len()),
    };
    let terms: Vec<&str> = record.split_whitespace().skip(1).collect();
    let all = terms.iter().find(|t| {
        let bare = t.trim_start_matches(['+', '-', '~', '?']);
        bare.eq_ignore_ascii_case("all")
    });
    match all {
        Some(term) if term.starts_with(['-', '~']) => Spf::Restrictive,
        Some(term) => Spf::Permissive((*term).to_owned()),
        None if terms
            .iter()
            .any(|t| t.to_ascii_lowercase().starts_with("redirect=")) =>
        {
            Spf::Restrictive
        }
        // Mail matching no term is "neutral": as `?all`.
        None => Spf::Permissive("no `all` term".to_owned()),
    }
}

/// What a domain's DMARC record says.
#[derive(Debug, PartialEq, Eq)]
pub enum Dmarc {
    Missing,
    /// A receiver ignores the records when there are several.
    Several(usize),
    /// `p=none` (or no valid `p=`): failures are reported, never acted on.
    Monitoring(String),
    /// `quarantine` or `reject`.
    Enforcing(String),
}

/// The policy of the DMARC records at `_dmarc.<name>`; `subdomain` reads the `sp=`
/// an organisational domain sets for its subdomains (falling back to `p=`).
pub fn dmarc(records: &[String], subdomain: bool) -> Dmarc {
    let dmarc: Vec<&String> = records
        .iter()
        .filter(|r| r.trim_start().starts_with("v=DMARC1"))
        .collect();
    let record = match dmarc.as_slice() {
        [] => return Dmarc::Missing,
        [one] => one,
        several => return Dmarc::Several(several.len()),
    };
    let tag = |name: &str| {
        record.split(';').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_ascii_lowercase())
        })
    };
    let policy = subdomain.then(|| tag("sp")).flatten().or_else(|| tag("p"));
    match policy.as_deref() {
        Some(p @ ("quarantine" | "reject")) => Dmarc::Enforcing(p.to_owned()),
        Some(p) => Dmarc::Monitoring(p.to_owned()),
        None => Dmarc::Monitoring("no policy".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn spf_all_terms() {
        let spf_of = |text: &str| spf(&records(&["google-site-verification=abc", text]));
        assert_eq!(
            spf_of("v=spf1 include:_spf.example.net -all"),
            Spf::Restrictive
        );
        assert_eq!(spf_of("v=spf1 mx ~all"), Spf::Restrictive);
        assert_eq!(spf_of("v=spf1 redirect=_spf.example.net"), Spf::Restrictive);
        assert_eq!(spf_of("v=spf1 +all"), Spf::Permissive("+all".into()));
        assert_eq!(spf_of("v=spf1 a mx all"), Spf::Permissive("all".into()));
        assert_eq!(spf_of("V=SPF1 ?ALL"), Spf::Permissive("?ALL".into()));
        assert_eq!(spf_of("v=spf1 mx"), Spf::Permissive("no `all` term".into()));
        assert_eq!(spf(&records(&["v=spf10 -all", "hello"])), Spf::Missing);
        assert_eq!(
            spf(&records(&["v=spf1 -all", "v=spf1 mx -all"])),
            Spf::Several(2)
        );
    }

    #[test]
    fn dmarc_policies() {
        let of = |text: &str| dmarc(&records(&[text]), false);
        assert_eq!(
            of("v=DMARC1; p=reject; rua=mailto:d@example.com"),
            Dmarc::Enforcing("reject".into())
        );
        assert_eq!(
            of("v=DMARC1;p=Quarantine"),
            Dmarc::Enforcing("quarantine".into())
        );
        assert_eq!(of("v=DMARC1; p=none"), Dmarc::Monitoring("none".into()));
        assert_eq!(
            of("v=DMARC1; rua=mailto:d@example.com"),
            Dmarc::Monitoring("no policy".into())
        );
        assert_eq!(of("v=spf1 -all"), Dmarc::Missing);
        let parent = records(&["v=DMARC1; p=reject; sp=none"]);
        assert_eq!(dmarc(&parent, true), Dmarc::Monitoring("none".into()));
        assert_eq!(
            dmarc(&records(&["v=DMARC1; p=reject"]), true),
            Dmarc::Enforcing("reject".into())
        );
    }
}
