//! Getting a backup back: every part checked against its manifest (size and SHA-256
//! as stored, then decrypted to the end), the database restored with the stock
//! `pg_restore` into a new database and its tables compared with what the backup's
//! snapshot held. A drill does all of it into a scratch database and drops it.

use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use diesel::prelude::*;
use serde::Serialize;

use super::catalog;
use super::create::{DATABASE_PART, FILES_PART, KEYRING_PART, Observer, stored_of};
use super::error::BackupError;
use super::key::BackupKey;
use super::manifest::{Manifest, Part};
use super::pipeline::BackupReader;
use super::producer::ChildOutput;
use super::recipient::Identity;
use super::tables::{self, Mismatch};
use crate::backup_target::Target;
use crate::db::with_database;
use crate::export::dump;

/// The keys a reader holds: the server's (manifests, and parts unless sealed to a
/// recipient), and what opens a recipient-sealed backup: the content key still in
/// memory right after the backup, or the recipient's identity.
#[derive(Debug)]
pub struct Keys<'a> {
    pub server: BackupKey,
    pub identity: Option<&'a Identity>,
    pub content: Option<BackupKey>,
}

impl Keys<'_> {
    /// The key the parts of `manifest` are encrypted under.
    pub fn for_parts(&self, manifest: &Manifest) -> Result<BackupKey, BackupError> {
        let Some(sealed) = &manifest.content_key else {
            return Ok(self.server.clone());
        };
        if let Some(content) = self.content.as_ref().filter(|k| k.id() == sealed.key_id) {
            return Ok(content.clone());
        }
        match self.identity {
            Some(identity) => Ok(identity.unwrap_key(&sealed.key_id, &sealed.wrapped)?),
            None => Err(BackupError::Sealed {
                backup: manifest.backup_id.to_string(),
                key_id: sealed.key_id.clone(),
            }),
        }
    }
}

/// What a restore (or a drill) found.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub backup_id: String,
    pub database: String,
    pub tables: usize,
    pub rows: u64,
    /// Plaintext bytes of every part, decrypted.
    pub bytes: u64,
    pub mismatches: Vec<Mismatch>,
}

impl RestoreReport {
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Reads every part of backup `id` back: stored size and SHA-256 first (this catches
/// a corrupted, truncated or missing object without the key), then the whole
/// decrypted stream (this catches a wrong key or a tampered chunk). The database
/// part is left for the restore itself to decrypt.
pub fn verify_parts(
    target: &dyn Target,
    manifest: &Manifest,
    key: &BackupKey,
    observer: &mut dyn Observer,
) -> Result<u64, BackupError> {
    let id = manifest.backup_id;
    let mut bytes = 0;
    for part in &manifest.parts {
        observer.stage(&format!("checking {}", part.name));
        let name = format!("{id}/{}", part.name);
        let stored = stored_of(part).ok_or_else(|| {
            BackupError::Failed(format!("{name}: the manifest's digest is malformed"))
        })?;
        target.verify(&name, &stored)?;
        if part.name != DATABASE_PART {
            bytes += decrypt_to(target, &name, part, key, &mut io::sink(), observer)?;
        }
    }
    Ok(bytes)
}

/// Decrypts part `name` into `sink`; its length must be the manifest's.
fn decrypt_to(
    target: &dyn Target,
    name: &str,
    part: &Part,
    key: &BackupKey,
    sink: &mut dyn Write,
    observer: &mut dyn Observer,
) -> Result<u64, BackupError> {
    let mut reader = BackupReader::new(target.get(name)?, key)
        .map_err(|e| BackupError::Failed(format!("{name}: {e}")))?;
    let n = copy_observed(&mut reader, sink, observer)
        .map_err(|e| BackupError::Failed(format!("{name}: {e}")))?;
    if n != part.plaintext_size {
        return Err(BackupError::Failed(format!(
            "{name}: decrypted to {n} bytes, the manifest says {}",
            part.plaintext_size
        )));
    }
    Ok(n)
}

fn copy_observed(
    reader: &mut dyn Read,
    writer: &mut dyn Write,
    observer: &mut dyn Observer,
) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        writer.write_all(&buf[..n])?;
        observer.bytes(n as u64);
        total += n as u64;
    }
}

/// Where a restore goes.
#[derive(Debug, Clone, Copy)]
pub struct Destination<'a> {
    /// Any database on the server to restore to: the new one is created beside it.
    pub url: &'a str,
    /// The new database's name; it must not exist.
    pub database: &'a str,
    /// Where the client's files are unpacked, if wanted.
    pub files_into: Option<&'a Path>,
    pub pg_bin: Option<&'a Path>,
}

/// Restores backup `id` into a new database and compares its tables with the
/// backup's snapshot. The database is left in place, mismatches or not.
pub fn restore_into(
    target: &dyn Target,
    id: &str,
    keys: &Keys<'_>,
    to: Destination<'_>,
    observer: &mut dyn Observer,
) -> Result<RestoreReport, BackupError> {
    let Destination {
        url,
        database,
        files_into,
        pg_bin,
    } = to;
    check_database_name(database)?;
    let pg_restore = dump::locate_tool("pg_restore", pg_bin)
        .filter(|t| t.is_file())
        .ok_or(BackupError::NoTool("pg_restore"))?;
    let manifest = catalog::read_manifest(target, id, &keys.server)?;
    let key = &keys.for_parts(&manifest)?;
    let mut bytes = verify_parts(target, &manifest, key, observer)?;
    let mut admin = PgConnection::establish(url)
        .map_err(|e| BackupError::Failed(format!("cannot connect to the database server: {e}")))?;
    diesel::sql_query(format!("CREATE DATABASE {}", tables::quote_ident(database)))
        .execute(&mut admin)?;
    let new_url = with_database(url, database);
    observer.stage("restoring the database");
    bytes += pg_restore_part(&pg_restore, target, &manifest, key, &new_url, observer)?;
    if let Some(dir) = files_into
        && let Some(part) = manifest.parts.iter().find(|p| p.name == FILES_PART)
    {
        observer.stage("restoring files");
        unpack_files(target, &manifest, part, key, dir)?;
    }
    observer.stage("comparing tables");
    let found = table_stats(&new_url, key)?;
    Ok(RestoreReport {
        backup_id: id.to_owned(),
        database: database.to_owned(),
        tables: found.len(),
        rows: found.iter().map(|t| t.rows).sum(),
        bytes,
        mismatches: tables::compare(&manifest.tables, &found),
    })
}

/// The restore drill: everything [`restore_into`] does, into a scratch database that
/// is dropped afterwards whatever happened.
pub fn drill(
    url: &str,
    target: &dyn Target,
    id: &str,
    keys: &Keys<'_>,
    pg_bin: Option<&Path>,
    observer: &mut dyn Observer,
) -> Result<RestoreReport, BackupError> {
    let scratch = format!(
        "outpost_drill_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let to = Destination {
        url,
        database: &scratch,
        files_into: None,
        pg_bin,
    };
    let result = restore_into(target, id, keys, to, observer);
    observer.stage("dropping the scratch database");
    let dropped = PgConnection::establish(url)
        .map_err(|e| BackupError::Failed(e.to_string()))
        .and_then(|mut c| {
            diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                tables::quote_ident(&scratch)
            ))
            .execute(&mut c)
            .map_err(BackupError::from)
        });
    if let Err(error) = dropped {
        tracing::error!(database = %scratch, %error, "the drill's scratch database was not dropped");
    }
    result
}

/// Swaps database `restored` in for `live` on the same server: the live one is kept
/// under `kept` (for a way back), its sessions are ended first, and both renames
/// happen in a maintenance database.
pub fn swap_in(url: &str, restored: &str, live: &str, kept: &str) -> Result<(), BackupError> {
    for name in [restored, live, kept] {
        check_database_name(name)?;
    }
    let mut admin = PgConnection::establish(&with_database(url, "postgres"))
        .or_else(|_| PgConnection::establish(&with_database(url, "template1")))
        .map_err(|e| {
            BackupError::Failed(format!("cannot connect to a maintenance database: {e}"))
        })?;
    diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{live}' AND pid <> pg_backend_pid()"
    ))
    .execute(&mut admin)?;
    diesel::sql_query(format!(
        "ALTER DATABASE {} RENAME TO {}",
        tables::quote_ident(live),
        tables::quote_ident(kept)
    ))
    .execute(&mut admin)?;
    if let Err(e) = diesel::sql_query(format!(
        "ALTER DATABASE {} RENAME TO {}",
        tables::quote_ident(restored),
        tables::quote_ident(live)
    ))
    .execute(&mut admin)
    {
        // Put the live database back under its name rather than leave none.
        let _ = diesel::sql_query(format!(
            "ALTER DATABASE {} RENAME TO {}",
            tables::quote_ident(kept),
            tables::quote_ident(live)
        ))
        .execute(&mut admin);
        return Err(e.into());
    }
    Ok(())
}

/// The name of the database `url` connects to.
pub fn current_database(url: &str) -> Result<String, BackupError> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    let mut conn = PgConnection::establish(url)
        .map_err(|e| BackupError::Failed(format!("cannot connect to the database: {e}")))?;
    let row: Name = diesel::sql_query("SELECT current_database() AS name").get_result(&mut conn)?;
    Ok(row.name)
}

/// Decrypts the database part straight into `pg_restore`'s standard input, in one
/// transaction: a failure anywhere leaves the new database empty, not half full.
fn pg_restore_part(
    pg_restore: &Path,
    target: &dyn Target,
    manifest: &Manifest,
    key: &BackupKey,
    url: &str,
    observer: &mut dyn Observer,
) -> Result<u64, BackupError> {
    let part = manifest
        .parts
        .iter()
        .find(|p| p.name == DATABASE_PART)
        .ok_or_else(|| BackupError::Failed("the backup holds no database".into()))?;
    let name = format!("{}/{}", manifest.backup_id, part.name);
    let (url, password) = dump::split_password(url);
    let mut command = Command::new(pg_restore);
    command
        .args([
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
        ])
        .arg("--dbname")
        .arg(url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let mut child = command.spawn()?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let mut output = ChildOutput::new(child, "pg_restore")?;
    let mut reader = BackupReader::new(target.get(&name)?, key)
        .map_err(|e| BackupError::Failed(format!("{name}: {e}")))?;
    let fed = copy_observed(&mut reader, &mut stdin, observer);
    // Closing stdin lets pg_restore finish (or notice the stream ended early).
    drop(stdin);
    let finished = io::copy(&mut output, &mut io::sink());
    match (fed, finished) {
        // pg_restore stopped reading: its own message says why.
        (Err(e), Err(restore)) if e.kind() == io::ErrorKind::BrokenPipe => {
            Err(BackupError::Failed(restore.to_string()))
        }
        // A decryption error explains the failure better than the cut-short input.
        (Err(e), _) => Err(BackupError::Failed(format!("{name}: {e}"))),
        (Ok(_), Err(restore)) => Err(BackupError::Failed(restore.to_string())),
        (Ok(n), Ok(_)) if n != part.plaintext_size => Err(BackupError::Failed(format!(
            "{name}: decrypted to {n} bytes, the manifest says {}",
            part.plaintext_size
        ))),
        (Ok(n), Ok(_)) => Ok(n),
    }
}

/// The vault keyring a backup carries, decrypted.
pub fn read_keyring(
    target: &dyn Target,
    manifest: &Manifest,
    key: &BackupKey,
) -> Result<zeroize::Zeroizing<String>, BackupError> {
    let part = manifest
        .parts
        .iter()
        .find(|p| p.name == KEYRING_PART)
        .ok_or_else(|| BackupError::Failed("the backup holds no keyring".into()))?;
    let name = format!("{}/{}", manifest.backup_id, part.name);
    let mut bytes = zeroize::Zeroizing::new(Vec::new());
    decrypt_to(
        target,
        &name,
        part,
        key,
        &mut *bytes,
        &mut super::create::Quiet,
    )?;
    String::from_utf8(std::mem::take(&mut *bytes))
        .map(zeroize::Zeroizing::new)
        .map_err(|_| BackupError::Failed(format!("{name}: not a keyring")))
}

fn unpack_files(
    target: &dyn Target,
    manifest: &Manifest,
    part: &Part,
    key: &BackupKey,
    dir: &Path,
) -> Result<(), BackupError> {
    let name = format!("{}/{}", manifest.backup_id, part.name);
    std::fs::create_dir_all(dir)?;
    let reader = BackupReader::new(target.get(&name)?, key)
        .map_err(|e| BackupError::Failed(format!("{name}: {e}")))?;
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    // `unpack` refuses entries that would land outside `dir`.
    archive
        .unpack(dir)
        .map_err(|e| BackupError::Failed(format!("{name}: {e}")))
}

fn table_stats(url: &str, key: &BackupKey) -> Result<Vec<tables::TableStat>, BackupError> {
    let mut conn = PgConnection::establish(url).map_err(|e| {
        BackupError::Failed(format!("cannot connect to the restored database: {e}"))
    })?;
    let stats = conn.transaction(|conn| {
        tables::set_stable_text_form(conn)?;
        tables::collect(conn, key)
    })?;
    Ok(stats)
}

/// Database names Outpost creates or replaces: plain identifiers, so they need no
/// quoting surprises in a shell or a connection string.
fn check_database_name(name: &str) -> Result<(), BackupError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(BackupError::Failed(format!(
            "{name:?} is not a database name Outpost restores into: use lowercase letters, digits and _ (at most 63)"
        )))
    }
}
