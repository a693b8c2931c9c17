//! What sshd will actually use (`sshd -T`) against what the drop-in says: a difference
//! means something read before the drop-in overrides it.

use std::collections::BTreeMap;

use crate::host::{Drift, Host};

/// Keywords that may be given many times and add up; compared as sets.
const ADDITIVE: [&str; 3] = ["allowusers", "allowgroups", "port"];
/// Host keys are checked as files instead (and on a tree without keys sshd was given
/// a stand-in).
const SKIPPED: [&str; 1] = ["hostkey"];

/// Every setting of `dropin` that `sshd -T` (its `dump`) shows with another value.
pub fn differences(host: &Host, dropin: &str, dump: &str) -> Vec<Drift> {
    let root = std::path::absolute(host.root()).unwrap_or_else(|_| host.root().into());
    let root = root.to_string_lossy().into_owned();
    let mut effective: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in dump.lines() {
        if let Some((key, value)) = line.trim().split_once(' ') {
            // On a scratch root sshd saw re-rooted paths: compare them as written.
            let value = if host.is_live() {
                value.to_owned()
            } else {
                value.replace(&root, "")
            };
            effective.entry(key.to_owned()).or_default().push(value);
        }
    }
    let mut wanted: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in dropin.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = super::config::split_keyword(line);
        let key = key.to_ascii_lowercase();
        if SKIPPED.contains(&key.as_str()) {
            continue;
        }
        let values = wanted.entry(key.clone()).or_default();
        if ADDITIVE.contains(&key.as_str()) {
            values.extend(value.split_whitespace().map(str::to_owned));
        } else if values.is_empty() {
            values.push(value.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    let mut found = Vec::new();
    for (key, want) in wanted {
        let have = effective.get(&key).cloned().unwrap_or_default();
        let same = if ADDITIVE.contains(&key.as_str()) {
            sorted(&want) == sorted(&have)
        } else {
            have.first().is_some_and(|h| same_value(&key, &want[0], h))
        };
        if !same {
            found.push(Drift::live(
                &key,
                Some(&want.join(" ")),
                (!have.is_empty()).then(|| have.join(" ")).as_deref(),
                "sshd's effective setting (sshd -T) is not the drop-in's: a value read before it \
                 wins (in /etc/ssh/sshd_config above its Include, or in an earlier file of \
                 sshd_config.d)",
            ));
        }
    }
    found
}

/// Settings of the drop-in that a Match block changes for some connections (by
/// address, user or group): `sshd -T` without a connection does not apply them, so
/// they are looked for in the text.
pub fn in_match_blocks(flattened: &str, dropin: &str) -> Vec<Drift> {
    let managed: Vec<String> = dropin
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| super::config::split_keyword(l).0.to_ascii_lowercase())
        .collect();
    let mut block = None;
    let mut found = Vec::new();
    for line in flattened.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = super::config::split_keyword(line);
        let key = key.to_ascii_lowercase();
        if key == "match" {
            block = Some(line.to_owned());
        } else if let Some(block) = &block
            && managed.contains(&key)
        {
            found.push(Drift::live(
                &key,
                None,
                Some(value),
                &format!("set inside `{block}`, overriding the drop-in for those connections"),
            ));
        }
    }
    found
}

fn same_value(key: &str, want: &str, have: &str) -> bool {
    let alias = |v: &str| match (key, v.to_ascii_lowercase().as_str()) {
        // sshd prints prohibit-password by its old name.
        ("permitrootlogin", "without-password") => "prohibit-password".to_owned(),
        (_, v) => v.to_owned(),
    };
    alias(want) == alias(have)
}

fn sorted(values: &[String]) -> Vec<String> {
    let mut values = values.to_vec();
    values.sort();
    values.dedup();
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::SystemRunner;

    #[test]
    fn overrides_are_named_and_aliases_and_repeats_are_understood() {
        let host = Host::new("/scratch", Box::new(SystemRunner));
        let dropin = "PasswordAuthentication no\nPermitRootLogin prohibit-password\n\
                      AllowUsers root ops\nHostKey /etc/ssh/k\nAuthorizedKeysFile .ssh/a /etc/ssh/ak/%u\n";
        let dump = "passwordauthentication yes\npermitrootlogin without-password\n\
                    allowusers ops\nallowusers root\nhostkey /other\n\
                    authorizedkeysfile .ssh/a /scratch/etc/ssh/ak/%u\n";
        let found = differences(&host, dropin, dump);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].key.as_deref(), Some("passwordauthentication"));
        assert_eq!(found[0].actual.as_deref(), Some("yes"));

        let flattened = "PasswordAuthentication no\nMatch Address 10.0.0.0/8\n  PasswordAuthentication yes\n  Banner /etc/issue\n";
        let found = in_match_blocks(flattened, dropin);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0]
                .to_string()
                .contains("inside `Match Address 10.0.0.0/8`")
        );
    }
}
