//! UFW's rules as the firewall control reads and writes them: the baseline's ports,
//! the rule files `ufw allow` writes (rendered byte for byte as ufw 0.36 writes them,
//! so a later `ufw allow` of the same rule changes nothing), and what `ufw status`
//! and `ufw show added` print.

use std::fmt;

use askama::Template;

use super::HostError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One incoming port (or range) the firewall opens to everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Allow {
    pub low: u16,
    pub high: u16,
    pub proto: Proto,
}

impl Allow {
    pub fn port(port: u16, proto: Proto) -> Self {
        Self {
            low: port,
            high: port,
            proto,
        }
    }

    /// `22/tcp`, `51820/udp`, `6000:6007/tcp`, as ufw takes them.
    pub fn parse(text: &str) -> Result<Self, HostError> {
        let invalid = || {
            HostError::Refused(format!(
                "harden.firewall_allow: `{text}` is not PORT/tcp, PORT/udp or LOW:HIGH/tcp"
            ))
        };
        let (ports, proto) = text.trim().split_once('/').ok_or_else(invalid)?;
        let proto = match proto {
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            _ => return Err(invalid()),
        };
        let port = |p: &str| p.parse::<u16>().ok().filter(|&p| p > 0).ok_or_else(invalid);
        let (low, high) = match ports.split_once(':') {
            Some((low, high)) => (port(low)?, port(high)?),
            None => (port(ports)?, port(ports)?),
        };
        if low > high {
            return Err(invalid());
        }
        Ok(Self { low, high, proto })
    }

    pub fn covers(&self, port: u16, proto: Proto) -> bool {
        self.proto == proto && (self.low..=self.high).contains(&port)
    }

    fn is_range(&self) -> bool {
        self.low != self.high
    }

    /// `22` or `6000:6007`, as ufw writes ports.
    fn ports(&self) -> String {
        if self.is_range() {
            format!("{}:{}", self.low, self.high)
        } else {
            self.low.to_string()
        }
    }
}

impl fmt::Display for Allow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.ports(), self.proto.as_str())
    }
}

/// What the firewall opens: SSH always (whatever else the baseline says: the operator
/// must never be locked out), HTTP, HTTPS, then the baseline's extra ports, in that
/// order and each once.
pub fn allowed(ssh_port: u16, extra: &[String]) -> Result<Vec<Allow>, HostError> {
    if ssh_port == 0 {
        return Err(HostError::Refused("harden.ssh_port cannot be 0".into()));
    }
    let mut rules = Vec::new();
    let fixed = [ssh_port, 80, 443].map(|p| Ok(Allow::port(p, Proto::Tcp)));
    for rule in fixed
        .into_iter()
        .chain(extra.iter().map(|e| Allow::parse(e)))
    {
        let rule = rule?;
        if !rules.contains(&rule) {
            rules.push(rule);
        }
    }
    Ok(rules)
}

struct RuleLine {
    proto: &'static str,
    ports: String,
    multiport: bool,
}

#[derive(Template)]
#[template(path = "host/ufw-user.rules", escape = "none")]
struct UserRules {
    /// `ufw` or `ufw6`.
    chain: &'static str,
    /// `0.0.0.0/0` or `::/0`.
    any: &'static str,
    rules: Vec<RuleLine>,
}

/// `/etc/ufw/user.rules` (or `user6.rules`) opening exactly `rules`.
pub fn render(rules: &[Allow], v6: bool) -> String {
    let file = UserRules {
        chain: if v6 { "ufw6" } else { "ufw" },
        any: if v6 { "::/0" } else { "0.0.0.0/0" },
        rules: rules
            .iter()
            .map(|r| RuleLine {
                proto: r.proto.as_str(),
                ports: r.ports(),
                multiport: r.is_range(),
            })
            .collect(),
    };
    super::files::render(&file, "ufw user rules")
        .expect("the rules template only inserts numbers and fixed words")
}

/// The rules a rule file holds, from the `### tuple ###` comments ufw reads back, in
/// words: `allow 22/tcp` for a port open to everyone, the tuple itself otherwise.
pub fn rules_in_file(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("### tuple ### "))
        .map(describe_tuple)
        .collect()
}

/// `allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in` → `allow 22/tcp`.
fn describe_tuple(tuple: &str) -> String {
    let fields: Vec<&str> = tuple.split_whitespace().collect();
    let anywhere = |a: &str| a == "0.0.0.0/0" || a == "::/0";
    match fields.as_slice() {
        [action, proto, port, dst, "any", src, "in"] if anywhere(dst) && anywhere(src) => {
            if *proto == "any" {
                format!("{action} {port}")
            } else {
                format!("{action} {port}/{proto}")
            }
        }
        _ => tuple.trim().to_owned(),
    }
}

/// The rules `ufw show added` prints, as `allow 22/tcp` (without the `ufw `).
pub fn rules_shown(show_added: &str) -> Vec<String> {
    show_added
        .lines()
        .filter_map(|line| line.trim().strip_prefix("ufw "))
        .map(str::to_owned)
        .collect()
}

/// What `ufw status verbose` says about the running firewall.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub active: bool,
    /// `deny (incoming), allow (outgoing), disabled (routed)`.
    pub default: String,
    /// `22/tcp ALLOW IN Anywhere`, `22/tcp (v6) ALLOW IN Anywhere (v6)`.
    pub rules: Vec<String>,
}

pub fn parse_status(text: &str) -> Status {
    let mut status = Status::default();
    let mut in_table = false;
    for line in text.lines() {
        if let Some(state) = line.strip_prefix("Status:") {
            status.active = state.trim() == "active";
        } else if let Some(default) = line.strip_prefix("Default:") {
            status.default = default.trim().to_owned();
        } else if line.starts_with("--") {
            in_table = true;
        } else if in_table && !line.trim().is_empty() {
            // Columns are padded with runs of spaces; a column never holds two.
            let columns: Vec<&str> = line
                .split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            status.rules.push(columns.join(" "));
        }
    }
    status
}

/// The rows `ufw status` shows for `rules`, IPv4 first, then IPv6.
pub fn status_rows(rules: &[Allow]) -> Vec<String> {
    let v4 = rules.iter().map(|r| format!("{r} ALLOW IN Anywhere"));
    let v6 = rules
        .iter()
        .map(|r| format!("{r} (v6) ALLOW IN Anywhere (v6)"));
    v4.chain(v6).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn baseline_rules() -> Vec<Allow> {
        allowed(22, &["51820/udp".into(), "6000:6007/tcp".into()]).unwrap()
    }

    /// The files ufw 0.36.2 itself wrote for `ufw allow 22/tcp`, `80/tcp`, `443/tcp`,
    /// `51820/udp`, `6000:6007/tcp` then `ufw enable` (the namespace test writes them
    /// again with the ufw installed and compares).
    #[test]
    fn rendered_rule_files_are_what_ufw_writes() {
        let rules = baseline_rules();
        assert_eq!(
            render(&rules, false),
            include_str!("../../tests/data/ufw/user.rules")
        );
        assert_eq!(
            render(&rules, true),
            include_str!("../../tests/data/ufw/user6.rules")
        );
    }

    #[test]
    fn ssh_is_always_open_and_rules_are_unique() {
        let rules = allowed(2222, &["2222/tcp".into(), "80/tcp".into()]).unwrap();
        let words: Vec<String> = rules.iter().map(ToString::to_string).collect();
        assert_eq!(words, ["2222/tcp", "80/tcp", "443/tcp"]);
        assert!(allowed(0, &[]).is_err());
        for bad in [
            "8080",
            "8080/icmp",
            "0/tcp",
            "70000/tcp",
            "9:8/tcp",
            "x/tcp",
            "",
        ] {
            assert!(
                allowed(22, &[bad.into()]).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert!(rules[0].covers(2222, Proto::Tcp));
        assert!(!rules[0].covers(2222, Proto::Udp));
        assert!(
            Allow::parse("6000:6007/tcp")
                .unwrap()
                .covers(6003, Proto::Tcp)
        );
    }

    #[test]
    fn rule_files_are_read_back_as_rules() {
        let text = include_str!("../../tests/data/ufw/user6.rules");
        assert_eq!(
            rules_in_file(text),
            [
                "allow 22/tcp",
                "allow 80/tcp",
                "allow 443/tcp",
                "allow 51820/udp",
                "allow 6000:6007/tcp"
            ]
        );
        assert_eq!(
            describe_tuple("deny tcp 22 0.0.0.0/0 any 203.0.113.7 in"),
            "deny tcp 22 0.0.0.0/0 any 203.0.113.7 in"
        );
        assert_eq!(
            describe_tuple("allow any 53 0.0.0.0/0 any 0.0.0.0/0 in"),
            "allow 53"
        );
    }

    #[test]
    fn status_output_is_parsed() {
        let text = "Status: active\nLogging: on (low)\n\
            Default: deny (incoming), allow (outgoing), disabled (routed)\n\
            New profiles: skip\n\n\
            To                         Action      From\n\
            --                         ------      ----\n\
            22/tcp                     ALLOW IN    Anywhere                  \n\
            8080/tcp                   ALLOW IN    Anywhere                  \n\
            22/tcp (v6)                ALLOW IN    Anywhere (v6)             \n\n";
        let status = parse_status(text);
        assert!(status.active);
        assert_eq!(
            status.default,
            "deny (incoming), allow (outgoing), disabled (routed)"
        );
        assert_eq!(
            status.rules,
            [
                "22/tcp ALLOW IN Anywhere",
                "8080/tcp ALLOW IN Anywhere",
                "22/tcp (v6) ALLOW IN Anywhere (v6)"
            ]
        );
        assert!(!parse_status("Status: inactive\n").active);
        let rows = status_rows(&allowed(22, &[]).unwrap());
        assert_eq!(rows[0], "22/tcp ALLOW IN Anywhere");
        assert_eq!(rows[3], "22/tcp (v6) ALLOW IN Anywhere (v6)");
        assert_eq!(
            rules_shown(
                "Added user rules (see 'ufw status' for running firewall):\nufw allow 22/tcp\n"
            ),
            ["allow 22/tcp"]
        );
    }
}
