//! Files a control owns: how they should read, how they differ from what is on disk
//! (by key, so drift names the setting that changed), and how they are replaced:
//! atomically, keeping the original as `<file>.outpost-bak`, restorable on rollback.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::report::Drift;
use super::{Host, HostError};

/// How a file's settings are read, for telling which one drifted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `Keyword value` lines (sshd_config): keywords compared ignoring case, and the
    /// first occurrence wins, as sshd reads them.
    Keyword,
    /// `key = value` lines (sysctl.d, postgresql.conf).
    Equals,
    /// `[section]` headers and `key = value` lines (fail2ban jails, apt configs).
    Ini,
    /// Compared as whole text (rule files, JSON).
    Whole,
}

/// A file as the baseline wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedFile {
    /// As on the real machine, without the leading `/` (`etc/sysctl.d/90-outpost.conf`).
    pub path: PathBuf,
    pub contents: String,
    pub mode: u32,
    pub format: Format,
}

/// What a file is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub contents: String,
    pub mode: u32,
}

pub const BACKUP_SUFFIX: &str = ".outpost-bak";

/// A file's text from its template in `templates/host/`. askama drops a template's
/// final newline; configuration files end with one.
pub fn render(template: &impl askama::Template, what: &str) -> Result<String, HostError> {
    let mut text = template
        .render()
        .map_err(|e| HostError::Io(format!("rendering {what}: {e}")))?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

pub fn read(host: &Host, relative: &Path) -> Result<Option<Current>, HostError> {
    let path = host.path(relative);
    match fs::read(&path) {
        Ok(bytes) => {
            let mode = fs::metadata(&path)
                .map_err(|e| HostError::io(path.display(), e))?
                .permissions()
                .mode()
                & 0o7777;
            Ok(Some(Current {
                contents: String::from_utf8_lossy(&bytes).into_owned(),
                mode,
            }))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(HostError::io(path.display(), e)),
    }
}

/// Every way `current` differs from `wanted`, setting by setting.
pub fn drift(wanted: &ManagedFile, current: Option<&Current>) -> Vec<Drift> {
    let path = wanted.path.display().to_string();
    let Some(current) = current else {
        return vec![Drift::file(&path, "file is missing")];
    };
    let mut found = Vec::new();
    if wanted.format == Format::Whole {
        if current.contents != wanted.contents {
            found.push(Drift::file(&path, "contents differ from the baseline"));
        }
    } else {
        let expected = settings(wanted.format, &wanted.contents);
        let actual = settings(wanted.format, &current.contents);
        for (key, value) in &expected {
            match actual.get(key) {
                Some(have) if have == value => {}
                have => found.push(Drift::setting(
                    &path,
                    key,
                    Some(value),
                    have.map(String::as_str),
                )),
            }
        }
        for (key, have) in &actual {
            if !expected.contains_key(key) {
                found.push(Drift::setting(&path, key, None, Some(have)));
            }
        }
    }
    if current.mode != wanted.mode {
        found.push(Drift::setting(
            &path,
            "mode",
            Some(&format!("{:04o}", wanted.mode)),
            Some(&format!("{:04o}", current.mode)),
        ));
    }
    found
}

/// The settings a file makes, keyed as its program reads them.
pub fn settings(format: Format, text: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let (key, value) = match format {
            Format::Keyword => match line.split_once(char::is_whitespace) {
                Some((k, v)) => (k.to_ascii_lowercase(), normalise(v)),
                None => (line.to_ascii_lowercase(), String::new()),
            },
            Format::Equals | Format::Ini => {
                if format == Format::Ini && line.starts_with('[') && line.ends_with(']') {
                    section = line[1..line.len() - 1].trim().to_owned();
                    continue;
                }
                match line.split_once('=') {
                    Some((k, v)) if section.is_empty() => (k.trim().to_owned(), normalise(v)),
                    Some((k, v)) => (format!("{section}.{}", k.trim()), normalise(v)),
                    None => (line.to_owned(), String::new()),
                }
            }
            Format::Whole => continue,
        };
        // The first occurrence is the one that counts (sshd); later ones are ignored.
        map.entry(key).or_insert(value);
    }
    map
}

fn normalise(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What a file was before an apply replaced it: enough to put it back.
#[derive(Debug, Clone)]
pub struct Previous {
    pub path: PathBuf,
    pub before: Option<Current>,
}

/// Replaces the file atomically (temp file in the same directory, fsync, rename),
/// first copying an original Outpost did not write to `<file>.outpost-bak`.
pub fn write(host: &Host, wanted: &ManagedFile) -> Result<Previous, HostError> {
    let before = read(host, &wanted.path)?;
    let path = host.path(&wanted.path);
    let backup = backup_path(&path);
    if before.is_some() && !backup.exists() {
        fs::copy(&path, &backup).map_err(|e| HostError::io(backup.display(), e))?;
    }
    put(&path, wanted.contents.as_bytes(), wanted.mode)?;
    Ok(Previous {
        path: wanted.path.clone(),
        before,
    })
}

/// Puts a file back as it was before [`write`] (removing it if it did not exist).
pub fn restore(host: &Host, previous: &Previous) -> Result<(), HostError> {
    let path = host.path(&previous.path);
    match &previous.before {
        Some(before) => put(&path, before.contents.as_bytes(), before.mode),
        None => match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(HostError::io(path.display(), e))
            }
            _ => Ok(()),
        },
    }
}

pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(BACKUP_SUFFIX);
    PathBuf::from(name)
}

fn put(path: &Path, contents: &[u8], mode: u32) -> Result<(), HostError> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(dir).map_err(|e| HostError::io(dir.display(), e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.outpost-new"));
    let written = (|| {
        let _ = fs::remove_file(&temp);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(contents)?;
        // The umask may have narrowed the mode asked for at creation: set it exactly.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        // A replaced file keeps its owner and group: a service reading its own config
        // (PostgreSQL's pg_hba.conf, owned by postgres, mode 0640) must still be able to.
        let new = file.metadata()?;
        if let Ok(old) = fs::metadata(path)
            && (old.uid(), old.gid()) != (new.uid(), new.gid())
        {
            std::os::unix::fs::fchown(&file, Some(old.uid()), Some(old.gid()))?;
        }
        file.sync_all()?;
        fs::rename(&temp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written.map_err(|e| HostError::io(path.display(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(format: Format, contents: &str) -> ManagedFile {
        ManagedFile {
            path: "etc/x.conf".into(),
            contents: contents.into(),
            mode: 0o644,
            format,
        }
    }

    fn current(contents: &str) -> Current {
        Current {
            contents: contents.into(),
            mode: 0o644,
        }
    }

    #[test]
    fn drift_names_the_setting_that_changed() {
        let wanted = file(
            Format::Keyword,
            "PasswordAuthentication no\nMaxAuthTries 3\n",
        );
        let have =
            current("# edited\npasswordauthentication yes\nMaxAuthTries   3\nX11Forwarding yes\n");
        let drift = drift(&wanted, Some(&have));
        let text: Vec<String> = drift.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(
            text[0].contains("passwordauthentication is `yes`, expected `no`"),
            "{text:?}"
        );
        assert!(text[1].contains("x11forwarding"), "{text:?}");
    }

    #[test]
    fn ini_keys_carry_their_section_and_missing_files_and_modes_are_drift() {
        let wanted = file(
            Format::Ini,
            "[sshd]\nmaxretry = 5\n[recidive]\nmaxretry = 5\n",
        );
        let have = current("[sshd]\nmaxretry = 5\n[recidive]\nmaxretry = 9\n");
        let drift = drift(&wanted, Some(&have));
        assert_eq!(drift.len(), 1);
        assert_eq!(drift[0].key.as_deref(), Some("recidive.maxretry"));
        assert_eq!(super::drift(&wanted, None).len(), 1);
        let loose = Current {
            mode: 0o666,
            ..current(&wanted.contents)
        };
        assert_eq!(
            super::drift(&wanted, Some(&loose))[0].key.as_deref(),
            Some("mode")
        );
    }

    #[test]
    fn writes_are_atomic_keep_the_original_and_roll_back() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path(), Box::new(super::super::SystemRunner));
        let wanted = file(Format::Equals, "a = 1\n");
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        fs::write(dir.path().join("etc/x.conf"), "a = 0\n").unwrap();

        let previous = write(&host, &wanted).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/x.conf")).unwrap(),
            "a = 1\n"
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/x.conf.outpost-bak")).unwrap(),
            "a = 0\n"
        );
        let again = write(&host, &file(Format::Equals, "a = 2\n")).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/x.conf.outpost-bak")).unwrap(),
            "a = 0\n",
            "the backup is the original, not the previous apply"
        );
        restore(&host, &again).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/x.conf")).unwrap(),
            "a = 1\n"
        );
        restore(&host, &previous).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/x.conf")).unwrap(),
            "a = 0\n"
        );

        let fresh = ManagedFile {
            path: "etc/new.d/y.conf".into(),
            ..wanted
        };
        let created = write(&host, &fresh).unwrap();
        restore(&host, &created).unwrap();
        assert!(!dir.path().join("etc/new.d/y.conf").exists());
    }
}
