//! Public keys: the authorised keys the baseline lists (checked with `ssh-keygen -l`
//! and written to /etc/ssh/authorized_keys/<account>), keys found elsewhere that the
//! baseline does not list, and the host's own keys.

use std::io::Write;
use std::path::Path;

use super::KEYS_DIR;
use crate::host::accounts::Accounts;
use crate::host::{Baseline, Drift, Format, Host, HostError, ManagedFile};

/// The weakest RSA key accepted, for host keys and for login keys alike.
pub const MIN_RSA_BITS: u32 = 3072;

/// One public key, as `ssh-keygen -l` read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// `type base64 [comment]`, whitespace normalised.
    pub line: String,
    /// The base64 blob: what identifies the key whatever its comment.
    pub blob: String,
    /// `ED25519`, `RSA`, `ECDSA`, …
    pub kind: String,
    pub bits: u32,
    pub fingerprint: String,
}

/// Reads one key line with `ssh-keygen -l`; the error says what is wrong with it.
pub fn inspect(host: &Host, line: &str) -> Result<PublicKey, HostError> {
    let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut fields = line.split(' ');
    let (Some(kind), Some(blob)) = (fields.next(), fields.next()) else {
        return Err(HostError::Io("is not `type base64 [comment]`".into()));
    };
    // Options (`from=…,command=…`) are not taken: a key line is the key and a comment.
    if !(kind.starts_with("ssh-") || kind.starts_with("ecdsa-") || kind.starts_with("sk-")) {
        return Err(HostError::Io(format!(
            "starts with `{kind}`, not a key type (options are not supported)"
        )));
    }
    let mut file =
        tempfile::NamedTempFile::new().map_err(|e| HostError::io("a temporary file", e))?;
    writeln!(file, "{line}").map_err(|e| HostError::io("a temporary file", e))?;
    let listed = fingerprint(host, file.path())?;
    Ok(PublicKey {
        line: line.clone(),
        blob: blob.to_owned(),
        ..listed
    })
}

/// `ssh-keygen -l -f FILE`: `3072 SHA256:… comment (RSA)`.
fn fingerprint(host: &Host, file: &Path) -> Result<PublicKey, HostError> {
    let out = host.run("ssh-keygen", &["-l", "-f", &file.to_string_lossy()])?;
    let text = out.stdout.trim();
    let parsed = (|| {
        let bits = text.split_whitespace().next()?.parse().ok()?;
        let fingerprint = text.split_whitespace().nth(1)?.to_owned();
        let kind = text.rsplit_once('(')?.1.strip_suffix(')')?.to_owned();
        Some(PublicKey {
            line: String::new(),
            blob: String::new(),
            kind,
            bits,
            fingerprint,
        })
    })();
    match parsed {
        Some(key) if out.success && text.lines().count() == 1 => Ok(key),
        _ => Err(HostError::Io(format!(
            "is not a valid public key (ssh-keygen: {})",
            out.detail()
        ))),
    }
}

/// Every account in the baseline with its keys, each checked; the error names the
/// account and the key.
pub fn authorised(
    host: &Host,
    baseline: &Baseline,
) -> Result<Vec<(String, Vec<PublicKey>)>, HostError> {
    baseline
        .ssh_users
        .iter()
        .map(|user| {
            let keys = user
                .keys
                .iter()
                .enumerate()
                .map(|(i, line)| {
                    let refuse = |why: String| {
                        HostError::Refused(format!(
                            "[harden].ssh_users `{}`, key {}: {why}",
                            user.name,
                            i + 1
                        ))
                    };
                    let key = inspect(host, line).map_err(|e| refuse(e.to_string()))?;
                    match key.kind.as_str() {
                        "DSA" => Err(refuse("DSA keys are not accepted; use ssh-ed25519".into())),
                        "RSA" if key.bits < MIN_RSA_BITS => Err(refuse(format!(
                            "an RSA key of {} bits; at least {MIN_RSA_BITS} are needed (or use ssh-ed25519)",
                            key.bits
                        ))),
                        _ => Ok(key),
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((user.name.clone(), keys))
        })
        .collect()
}

/// /etc/ssh/authorized_keys/<account>: readable by all (sshd reads it as the account
/// logging in, and it holds only public keys), writable by root alone.
pub fn files(users: &[(String, Vec<PublicKey>)]) -> Vec<ManagedFile> {
    users
        .iter()
        .map(|(name, keys)| {
            let mut contents = String::from(
                "# Written by `outpost harden` from [harden].ssh_users; edits are undone by --apply.\n",
            );
            for key in keys {
                contents.push_str(&key.line);
                contents.push('\n');
            }
            ManagedFile {
                path: Path::new(KEYS_DIR).join(name),
                contents,
                mode: 0o644,
                format: Format::Whole,
            }
        })
        .collect()
}

/// Keys that let someone in without being in the baseline: files in
/// /etc/ssh/authorized_keys for accounts it does not list, and keys in a listed
/// account's own ~/.ssh/authorized_keys (which sshd also reads) that it does not list.
pub fn unlisted(
    host: &Host,
    baseline: &Baseline,
    accounts: &Accounts,
) -> Result<Vec<Drift>, HostError> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(host.path(KEYS_DIR)) {
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.') && !n.ends_with(crate::host::files::BACKUP_SUFFIX))
            .filter(|n| !baseline.ssh_users.iter().any(|u| &u.name == n))
            .collect();
        names.sort();
        for name in names {
            found.push(Drift::file(
                &format!("{KEYS_DIR}/{name}"),
                "keys for an account not in [harden].ssh_users: remove the file",
            ));
        }
    }
    for user in &baseline.ssh_users {
        let Some(account) = accounts.user(&user.name) else {
            continue;
        };
        let relative = Path::new(&account.home).join(".ssh/authorized_keys");
        let Ok(text) = std::fs::read_to_string(host.path(&relative)) else {
            continue;
        };
        let listed: Vec<&str> = user
            .keys
            .iter()
            .filter_map(|k| k.split_whitespace().nth(1))
            .collect();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let tokens: Vec<&str> = line.split_whitespace().collect();
            // The key type comes after any options; the blob follows it.
            let Some(at) = tokens.iter().position(|t| {
                t.starts_with("ssh-") || t.starts_with("ecdsa-") || t.starts_with("sk-")
            }) else {
                continue;
            };
            let Some(blob) = tokens.get(at + 1) else {
                continue;
            };
            if !listed.contains(blob) {
                let comment = tokens
                    .get(at + 2..)
                    .map(|c| c.join(" "))
                    .unwrap_or_default();
                let tail = &blob[blob.len().saturating_sub(12)..];
                found.push(Drift::file(
                    relative.to_string_lossy().trim_start_matches('/'),
                    &format!(
                        "a key [harden].ssh_users does not list ({} …{tail} {comment}): add it there or remove it",
                        tokens[at]
                    ),
                ));
            }
        }
    }
    Ok(found)
}

/// The host's own keys: ECDSA and DSA keys should not exist, RSA keys should have at
/// least 3072 bits, and there should be an Ed25519 key. Reported, never changed:
/// replacing a host key changes what every client has pinned, so a person does it.
pub fn host_keys(host: &Host) -> Result<Vec<Drift>, HostError> {
    let dir = host.path("etc/ssh");
    let mut names: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("ssh_host_") && n.ends_with("_key"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(HostError::io(dir.display(), e)),
    };
    names.sort();
    let mut found = Vec::new();
    let mut ed25519 = false;
    for name in names {
        let shown = format!("etc/ssh/{name}");
        let remove = format!("rm /etc/ssh/{name} /etc/ssh/{name}.pub");
        match fingerprint(host, &dir.join(&name)) {
            Err(e) => found.push(Drift::file(&shown, &format!("host key unreadable: {e}"))),
            Ok(key) => match key.kind.as_str() {
                "ED25519" => ed25519 = true,
                "RSA" if key.bits >= MIN_RSA_BITS => {}
                "RSA" => found.push(Drift::file(
                    &shown,
                    &format!(
                        "RSA host key of {} bits (at least {MIN_RSA_BITS}): replace it with `{remove} && \
                         ssh-keygen -q -t rsa -b 4096 -N '' -f /etc/ssh/{name}`, reload sshd, and tell \
                         clients the new fingerprint",
                        key.bits
                    ),
                )),
                kind => found.push(Drift::file(
                    &shown,
                    &format!(
                        "{kind} host key: sshd no longer offers it (HostKey names Ed25519 and RSA only); \
                         remove it with `{remove}`"
                    ),
                )),
            },
        }
    }
    if !ed25519 {
        found.push(Drift::file(
            "etc/ssh/ssh_host_ed25519_key",
            "no Ed25519 host key: create it with \
             `ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key`",
        ));
    }
    Ok(found)
}
