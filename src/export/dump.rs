//! Running the stock `pg_dump`: which one, and how to hand it the database without
//! putting a password on a command line other users can read.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::ExportError;

/// `pg_dump` in the directory given, else the newest `/usr/lib/postgresql/N/bin` (a
/// dump needs a `pg_dump` at least as new as the server), else whatever `PATH` finds.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, ExportError> {
    locate_tool("pg_dump", explicit).ok_or(ExportError::NoPgDump)
}

/// A PostgreSQL client tool (`pg_dump`, `pg_restore`, `psql`), found as [`locate`] says.
pub fn locate_tool(name: &str, explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(dir) = explicit {
        return Some(dir.join(name));
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            let tool = e.path().join("bin").join(name);
            tool.is_file().then_some((version, tool))
        })
        .max_by_key(|(version, _)| *version);
    if let Some((_, tool)) = newest {
        return Some(tool);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|tool| tool.is_file())
}

/// `pg_dump --version`, as recorded in the manifest.
pub fn version(tool: &Path) -> Result<String, ExportError> {
    let out = Command::new(tool)
        .arg("--version")
        .output()
        .map_err(|e| ExportError::Dump(format!("cannot run {}: {e}", tool.display())))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Dumps the database into `file` with the extra `args` (the format). The password, if
/// the URL has one, travels in the child's environment rather than its arguments.
pub fn run(tool: &Path, url: &str, args: &[&str], file: &Path) -> Result<(), ExportError> {
    let (url, password) = split_password(url);
    let mut command = Command::new(tool);
    command
        .args(["--no-owner", "--no-privileges"])
        .args(args)
        .arg("--file")
        .arg(file)
        .arg("--dbname")
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(password) = &password {
        command.env("PGPASSWORD", password);
    }
    let out = command
        .output()
        .map_err(|e| ExportError::Dump(format!("cannot run {}: {e}", tool.display())))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first = stderr.lines().next().unwrap_or("no message").trim();
    Err(ExportError::Dump(format!("pg_dump failed: {first}")))
}

/// `postgres://user:secret@host/db` → (`postgres://user@host/db`, `secret` decoded).
pub(crate) fn split_password(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return (url.to_owned(), None);
    };
    let Some((user, password)) = rest[..at].split_once(':') else {
        return (url.to_owned(), None);
    };
    (
        format!("{scheme}://{user}{}", &rest[at..]),
        Some(percent_decode(password)),
    )
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::split_password;

    #[test]
    fn the_password_leaves_the_url() {
        assert_eq!(
            split_password("postgres://app:p%40ss:w@db.local:5432/outpost?sslmode=disable"),
            (
                "postgres://app@db.local:5432/outpost?sslmode=disable".to_owned(),
                Some("p@ss:w".to_owned())
            )
        );
        assert_eq!(
            split_password("postgres://app@/outpost?host=/run/postgresql"),
            (
                "postgres://app@/outpost?host=/run/postgresql".to_owned(),
                None
            )
        );
        assert_eq!(
            split_password("postgresql:///outpost"),
            ("postgresql:///outpost".to_owned(), None)
        );
    }
}
