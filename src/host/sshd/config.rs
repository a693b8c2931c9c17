//! Running sshd on the configuration under a root: `sshd -t` (validate) and `sshd -T`
//! (the effective settings).
//!
//! On the machine itself sshd reads its real files. On a scratch root the paths inside
//! the files are absolute (`Include /etc/ssh/sshd_config.d/*.conf`, `HostKey
//! /etc/ssh/…`) and would reach this machine's own sshd files instead, so sshd is given
//! one flattened copy in which every Include is expanded from under the root and the
//! paths sshd opens are re-rooted. Nothing else in the text changes: what is validated
//! is the settings as written.

use std::path::{Path, PathBuf};

use super::{DROPIN, MAIN};
use crate::host::{CommandOutput, Host, HostError};

/// Relative Include paths are relative to /etc/ssh, as sshd resolves them.
const SSH_DIR: &str = "/etc/ssh";
/// sshd refuses to run, even `-t`, without its privilege separation directory, which
/// the service normally creates when it starts.
const PRIVSEP_DIR: &str = "/run/sshd";
/// Keywords whose values are paths sshd opens.
const PATH_KEYWORDS: [&str; 3] = ["hostkey", "hostcertificate", "authorizedkeysfile"];

/// The configuration as sshd would read it, starting from the main file.
#[derive(Debug, Default)]
pub struct Flattened {
    pub text: String,
    /// Files read through `Include` outside any Match block, as on the real machine.
    pub included: Vec<PathBuf>,
    /// `HostKey` files, under the root.
    pub host_keys: Vec<PathBuf>,
    /// False when the main file does not exist under the root.
    pub main_found: bool,
    in_match: bool,
}

/// Expands the main file's Includes (recursively, sorted as glob(3) sorts) and
/// re-roots the paths sshd opens when the root is not `/`. Without a main file the
/// text is the drop-in alone, so the drop-in can still be validated.
pub fn flatten(host: &Host) -> Result<Flattened, HostError> {
    let mut out = Flattened {
        main_found: host.path(MAIN).exists(),
        ..Flattened::default()
    };
    let start = if out.main_found { MAIN } else { DROPIN };
    expand(host, &Path::new("/").join(start), 0, &mut out)?;
    Ok(out)
}

fn expand(host: &Host, file: &Path, depth: usize, out: &mut Flattened) -> Result<(), HostError> {
    // sshd stops at 16 levels too; a loop of Includes must not loop here.
    if depth > 16 {
        return Err(HostError::Io(format!(
            "{}: Include nested too deeply",
            file.display()
        )));
    }
    let path = host.path(file);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        // A pattern matching nothing, or a file gone meanwhile: sshd skips it too.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(HostError::io(path.display(), e)),
    };
    for line in text.lines() {
        let trimmed = line.trim();
        let (keyword, rest) = split_keyword(trimmed);
        match keyword.to_ascii_lowercase().as_str() {
            "include" => {
                out.text.push_str(&format!("# {line}\n"));
                for pattern in rest.split_whitespace() {
                    let pattern = Path::new(SSH_DIR).join(pattern.trim_matches('"'));
                    for found in glob(host, &pattern)? {
                        if !out.in_match {
                            out.included.push(found.clone());
                        }
                        expand(host, &found, depth + 1, out)?;
                    }
                }
            }
            "match" => {
                out.in_match = true;
                out.text.push_str(line);
                out.text.push('\n');
            }
            k if PATH_KEYWORDS.contains(&k) => {
                let values: Vec<String> = rest
                    .split_whitespace()
                    .map(|v| reroot(host, v.trim_matches('"')))
                    .collect();
                if k == "hostkey" {
                    out.host_keys.extend(values.iter().map(PathBuf::from));
                }
                out.text
                    .push_str(&format!("{keyword} {}\n", values.join(" ")));
            }
            _ => {
                out.text.push_str(line);
                out.text.push('\n');
            }
        }
    }
    Ok(())
}

/// `Keyword value` or `Keyword=value`, as sshd splits them.
pub fn split_keyword(line: &str) -> (&str, &str) {
    match line.find(|c: char| c.is_whitespace() || c == '=') {
        Some(at) => (
            &line[..at],
            line[at..].trim_start_matches(|c: char| c.is_whitespace() || c == '='),
        ),
        None => (line, ""),
    }
}

/// An absolute path as seen from this machine: under the root. `%u`-style tokens and
/// relative paths (home-relative AuthorizedKeysFile) are left alone.
fn reroot(host: &Host, value: &str) -> String {
    if value.starts_with('/') && !host.is_live() {
        // Absolute, as sshd resolves a relative AuthorizedKeysFile from the home.
        let path = host.path(value);
        std::path::absolute(&path)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    } else {
        value.to_owned()
    }
}

/// The files matching `pattern` (wildcards in its last component only, which is all
/// the stock configurations use), as on the machine, sorted.
fn glob(host: &Host, pattern: &Path) -> Result<Vec<PathBuf>, HostError> {
    let (Some(dir), Some(name)) = (pattern.parent(), pattern.file_name()) else {
        return Ok(Vec::new());
    };
    let name = name.to_string_lossy();
    if !name.contains(['*', '?']) {
        return Ok(vec![pattern.to_path_buf()]);
    }
    let entries = match std::fs::read_dir(host.path(dir)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(HostError::io(host.path(dir).display(), e)),
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        // As in glob(3), a wildcard does not match a leading dot.
        .filter(|n| !n.starts_with('.') && wildcard(name.as_bytes(), n.as_bytes()))
        .map(|n| dir.join(n))
        .collect();
    found.sort();
    Ok(found)
}

fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            wildcard(&pattern[1..], name) || (!name.is_empty() && wildcard(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => wildcard(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => wildcard(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// Runs `sshd <flag>` (`-t` or `-T`) on the configuration under the root.
pub fn sshd(host: &Host, flag: &str) -> Result<CommandOutput, HostError> {
    ensure_privsep_dir()?;
    if host.is_live() {
        let main = host.path(MAIN);
        return host.run("sshd", &[flag, "-f", &main.to_string_lossy()]);
    }
    let flat = flatten(host)?;
    let scratch = scratch_dir()?;
    let config = scratch.path().join("sshd_config");
    std::fs::write(&config, &flat.text).map_err(|e| HostError::io(config.display(), e))?;
    let config = config.to_string_lossy().into_owned();
    let mut args = vec![flag, "-f", &config];
    // A tree without host keys yet (an image before first boot): the settings are
    // still checked, with a key made for the purpose.
    let stand_in;
    if !flat.host_keys.iter().any(|k| k.exists()) {
        stand_in = throwaway_host_key(host, scratch.path())?;
        args.extend(["-h", stand_in.as_str()]);
    }
    host.run("sshd", &args)
}

/// Whether this machine's sshd knows `keyword` (lowercase): `sshd -T` prints every
/// keyword it has. Asked of a configuration of its own, so the answer does not
/// depend on the files under the root.
pub fn knows(host: &Host, keyword: &str) -> bool {
    let asked = (|| {
        ensure_privsep_dir()?;
        let scratch = scratch_dir()?;
        let key = throwaway_host_key(host, scratch.path())?;
        host.run_ok("sshd", &["-T", "-f", "/dev/null", "-h", &key])
    })();
    asked.is_ok_and(|out| {
        out.stdout
            .lines()
            .any(|l| l.split_whitespace().next() == Some(keyword))
    })
}

fn throwaway_host_key(host: &Host, dir: &Path) -> Result<String, HostError> {
    let key = dir.join("stand-in-host-key").to_string_lossy().into_owned();
    host.run_ok(
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "outpost-check",
            "-f",
            &key,
        ],
    )?;
    Ok(key)
}

pub fn scratch_dir() -> Result<tempfile::TempDir, HostError> {
    tempfile::Builder::new()
        .prefix("outpost-sshd")
        .tempdir()
        .map_err(|e| HostError::io("a temporary directory", e))
}

fn ensure_privsep_dir() -> Result<(), HostError> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o755).create(PRIVSEP_DIR) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            Err(HostError::io(PRIVSEP_DIR, e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::SystemRunner;

    #[test]
    fn includes_expand_in_order_and_paths_move_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path(), Box::new(SystemRunner));
        let d = dir.path().join("etc/ssh/sshd_config.d");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            dir.path().join(MAIN),
            "Include /etc/ssh/sshd_config.d/*.conf\nHostKey /etc/ssh/k\nMatch User x\nInclude extra.conf\n",
        )
        .unwrap();
        std::fs::write(d.join("20-b.conf"), "PasswordAuthentication yes\n").unwrap();
        std::fs::write(
            d.join("10-a.conf"),
            "AuthorizedKeysFile .ssh/a /etc/ssh/ak/%u\n",
        )
        .unwrap();
        std::fs::write(d.join(".10-a.conf.outpost-new"), "Junk\n").unwrap();
        std::fs::write(d.join("10-a.conf.outpost-bak"), "Junk\n").unwrap();
        std::fs::write(dir.path().join("etc/ssh/extra.conf"), "X11Forwarding no\n").unwrap();

        let flat = flatten(&host).unwrap();
        let root = dir.path().display();
        let lines: Vec<&str> = flat.text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                format!("AuthorizedKeysFile .ssh/a {root}/etc/ssh/ak/%u").as_str(),
                "PasswordAuthentication yes",
                &format!("HostKey {root}/etc/ssh/k"),
                "Match User x",
                "X11Forwarding no",
            ]
        );
        assert_eq!(
            flat.included,
            [
                PathBuf::from("/etc/ssh/sshd_config.d/10-a.conf"),
                PathBuf::from("/etc/ssh/sshd_config.d/20-b.conf"),
            ],
            "extra.conf is read only inside a Match block"
        );
        assert!(flat.main_found);
        assert_eq!(split_keyword("Port=22"), ("Port", "22"));
    }
}
