//! pg_hba.conf: which lines the baseline forbids (trust over TCP, any address beyond
//! this machine), and the file with those lines commented out.

use std::net::IpAddr;

/// A line the baseline forbids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offence {
    /// 1-based, as PostgreSQL numbers them in its logs and in `pg_hba_file_rules`.
    pub line: usize,
    pub text: String,
    pub reason: String,
}

/// What `apply` puts before a line it turns off, so a person can see why and undo it.
pub const DISABLED: &str = "# disabled by outpost harden";

pub fn offences(text: &str) -> Vec<Offence> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let reasons = judge(&fields(line));
            (!reasons.is_empty()).then(|| Offence {
                line: i + 1,
                text: line.trim().to_owned(),
                reason: reasons.join(", "),
            })
        })
        .collect()
}

/// The file with every offending line commented out (its reason alongside); other
/// lines, comments and spacing are kept as they are.
pub fn disable(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 128);
    for line in text.split_inclusive('\n') {
        let reasons = judge(&fields(line));
        if reasons.is_empty() {
            out.push_str(line);
        } else {
            out.push_str(&format!("{DISABLED} ({}): {line}", reasons.join(", ")));
        }
    }
    out
}

/// A record's fields: whitespace-separated, `"…"` quoting kept whole, `#` to the end
/// of the line a comment.
fn fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            '#' if !quoted => break,
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    fields.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        fields.push(current);
    }
    fields
}

/// Why a record breaks the baseline (nothing for `local` lines, which are the unix
/// socket, and for include directives).
fn judge(fields: &[String]) -> Vec<String> {
    let Some(kind) = fields.first() else {
        return Vec::new();
    };
    if !kind.starts_with("host") || fields.len() < 5 {
        return Vec::new();
    }
    let address = fields[3].as_str();
    // An IP address without a /prefix has its netmask in the next field.
    let (mask, method) = if !address.contains('/') && address.parse::<IpAddr>().is_ok() {
        (fields.get(4).map(String::as_str), fields.get(5))
    } else {
        (None, fields.get(4))
    };
    let mut reasons = Vec::new();
    if method.is_some_and(|m| m == "trust") {
        reasons.push("trust over TCP".to_owned());
    }
    if !on_this_machine(address, mask) {
        reasons.push(format!("allows connections from `{address}`"));
    }
    reasons
}

/// True when the address only matches connections from this machine.
fn on_this_machine(address: &str, mask: Option<&str>) -> bool {
    match address {
        "localhost" | "samehost" => return true,
        _ => {}
    }
    let (ip, prefix) = match address.split_once('/') {
        Some((ip, prefix)) => (ip, prefix.parse::<u32>().ok()),
        None => (address, mask.and_then(mask_prefix)),
    };
    let Ok(ip) = ip.parse::<IpAddr>() else {
        // A host name, `all`, `samenet`: anything may resolve or belong to it.
        return false;
    };
    match (ip, prefix) {
        (IpAddr::V4(v4), Some(p)) => v4.is_loopback() && (8..=32).contains(&p),
        (IpAddr::V6(v6), Some(p)) => v6.is_loopback() && p == 128,
        (_, None) => false,
    }
}

/// `255.255.255.0` → 24; not a contiguous mask → none.
fn mask_prefix(mask: &str) -> Option<u32> {
    let bits = match mask.parse::<IpAddr>().ok()? {
        IpAddr::V4(m) => u128::from(u32::from(m)) << 96,
        IpAddr::V6(m) => u128::from(m),
    };
    let prefix = bits.leading_ones();
    // Contiguous: nothing set after the leading ones.
    (bits.checked_shl(prefix).unwrap_or(0) == 0).then_some(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_over_tcp_and_remote_addresses_are_offences_and_only_they_are_disabled() {
        let text = "# comment\n\
                    local   all   postgres   peer\n\
                    local   all   all        trust\n\
                    host    all   all   127.0.0.1/32   scram-sha-256\n\
                    host    all   all   ::1/128        scram-sha-256\n\
                    host    all   all   127.0.0.1/32   trust\n\
                    hostssl all   all   0.0.0.0/0      scram-sha-256\n\
                    host    all   all   10.0.0.0 255.0.0.0 md5\n\
                    host    all   all   127.0.0.1 255.255.255.255 md5\n\
                    host    all   all   samenet        md5\n\
                    host    all   all   db.example.com md5 # remote by name\n\
                    host    all   all   ::/0           trust\n\
                    host    all   all   localhost      scram-sha-256\n";
        let found = offences(text);
        let lines: Vec<usize> = found.iter().map(|o| o.line).collect();
        assert_eq!(lines, vec![6, 7, 8, 10, 11, 12], "{found:?}");
        assert_eq!(found[0].reason, "trust over TCP");
        assert!(found[1].reason.contains("0.0.0.0/0"));
        assert_eq!(
            found[5].reason,
            "trust over TCP, allows connections from `::/0`"
        );

        let fixed = disable(text);
        assert!(offences(&fixed).is_empty());
        assert_eq!(fixed.lines().count(), text.lines().count());
        assert!(fixed.contains(
            "# disabled by outpost harden (trust over TCP): host    all   all   127.0.0.1/32   trust\n"
        ));
        assert!(
            fixed.contains("local   all   all        trust\n"),
            "the socket is left alone"
        );
        assert_eq!(disable(&fixed), fixed, "disabling twice changes nothing");
    }

    #[test]
    fn masks_and_prefixes() {
        assert_eq!(mask_prefix("255.255.255.255"), Some(32));
        assert_eq!(mask_prefix("255.0.0.0"), Some(8));
        assert_eq!(mask_prefix("255.0.255.0"), None);
        assert!(on_this_machine("127.0.0.1", Some("255.255.255.255")));
        assert!(!on_this_machine("127.0.0.1/0", None));
        assert!(!on_this_machine("::1/64", None));
        assert!(!on_this_machine("all", None));
    }
}
