//! Taking one backup: the database (`pg_dump -Fc` in an exported snapshot), the
//! client's files (a tar stream) and the vault keyring, each compressed, encrypted
//! and uploaded as it is produced, each read back and checked, then the signed
//! manifest, written last, which is what makes the backup complete.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use diesel::prelude::*;
use diesel::sql_types::Text;
use time::OffsetDateTime;
use uuid::Uuid;

use super::error::BackupError;
use super::key::BackupKey;
use super::manifest::{ContentKey, MANIFEST_VERSION, Manifest, Part};
use super::producer::{ChildOutput, Encrypted, ThreadOutput};
use super::recipient::Recipient;
use super::tables;
use crate::backup_target::{MANIFEST, Stored, Target};
use crate::export::dump;

pub const DATABASE_PART: &str = "database.dump.zst.enc";
pub const FILES_PART: &str = "files.tar.zst.enc";
pub const KEYRING_PART: &str = "keyring.zst.enc";

/// What goes into a backup and how.
#[derive(Debug)]
pub struct Source<'a> {
    pub database_url: &'a str,
    pub pg_bin: Option<&'a Path>,
    pub data_directories: &'a [PathBuf],
    /// The vault keyring's file form: values sealed under a KEK retired after the
    /// backup still open after a restore.
    pub keyring: &'a str,
    pub zstd_level: i32,
    /// Seal the parts to this recipient instead of the server's key.
    pub recipient: Option<&'a Recipient>,
}

/// A finished backup: its manifest and, when sealed to a recipient, the content key,
/// held only until the caller's drill is done.
#[derive(Debug)]
pub struct Created {
    pub manifest: Manifest,
    pub content_key: Option<BackupKey>,
}

/// Stages and bytes, for progress bars and logs.
pub trait Observer {
    fn stage(&mut self, what: &str);
    fn bytes(&mut self, n: u64);
}

/// For runs nobody watches.
#[derive(Debug)]
pub struct Quiet;

impl Observer for Quiet {
    fn stage(&mut self, _: &str) {}
    fn bytes(&mut self, _: u64) {}
}

/// Takes a backup with id `id` into `target`; `server_key` signs the manifest (and
/// encrypts the parts, unless they are sealed to a recipient). `conn` is held for the
/// dump's whole snapshot. On error, whatever was uploaded is left without a manifest:
/// never listed as complete, removed by the next run's cleanup.
pub fn create(
    conn: &mut PgConnection,
    id: Uuid,
    source: &Source<'_>,
    target: &dyn Target,
    server_key: &BackupKey,
    observer: &mut dyn Observer,
) -> Result<Created, BackupError> {
    let (content_key, wrapped) = match source.recipient {
        Some(recipient) => {
            let (key, wrapped) = recipient.new_content_key();
            let sealed = ContentKey {
                key_id: key.id().to_owned(),
                wrapped,
            };
            (Some(key), Some(sealed))
        }
        None => (None, None),
    };
    let key = content_key.as_ref().unwrap_or(server_key);
    let pg_dump = dump::locate_tool("pg_dump", source.pg_bin)
        .filter(|t| t.is_file())
        .ok_or(BackupError::NoTool("pg_dump"))?;
    let pg_dump_version =
        dump::version(&pg_dump).map_err(|e| BackupError::Failed(e.to_string()))?;
    let created_at = OffsetDateTime::now_utc();
    let mut parts = Vec::new();

    observer.stage("dumping the database");
    let snapshot = tables::begin_snapshot(conn)?;
    let dumped = (|| {
        let stats = tables::collect(conn, key)?;
        let server_version = server_version(conn)?;
        let child = dump_command(&pg_dump, source.database_url, &snapshot).spawn()?;
        let output = ChildOutput::new(child, "pg_dump")?;
        let part = upload(target, id, DATABASE_PART, output, key, source, observer)?;
        Ok::<_, BackupError>((stats, server_version, part))
    })();
    // Ends the read-only transaction whatever happened; pg_dump is done with it.
    let _ = diesel::sql_query("ROLLBACK").execute(conn);
    let (stats, server_version, part) = dumped?;
    parts.push(part);

    if !source.data_directories.is_empty() {
        observer.stage("archiving files");
        let dirs = source.data_directories.to_vec();
        let output = ThreadOutput::spawn(move |pipe| write_tar(pipe, &dirs))?;
        parts.push(upload(
            target, id, FILES_PART, output, key, source, observer,
        )?);
    }

    observer.stage("storing the keyring");
    let keyring = Cursor::new(source.keyring.as_bytes());
    parts.push(upload(
        target,
        id,
        KEYRING_PART,
        keyring,
        key,
        source,
        observer,
    )?);

    let manifest = Manifest {
        version: MANIFEST_VERSION,
        backup_id: id,
        created_at,
        key_id: server_key.id().to_owned(),
        outpost_version: env!("CARGO_PKG_VERSION").to_owned(),
        pg_dump_version,
        server_version,
        parts,
        tables: stats,
        content_key: wrapped,
    };
    observer.stage("writing the manifest");
    let signed = manifest.sign(server_key)?;
    let name = format!("{id}/{MANIFEST}");
    let stored = target.put(&name, &mut Cursor::new(signed.as_bytes()))?;
    target.verify(&name, &stored)?;
    Ok(Created {
        manifest,
        content_key,
    })
}

/// Streams one part into the target, then reads it back: the size and SHA-256 the
/// target stored must be those the encryption produced.
fn upload(
    target: &dyn Target,
    id: Uuid,
    part_name: &str,
    source: impl Read,
    key: &BackupKey,
    settings: &Source<'_>,
    observer: &mut dyn Observer,
) -> Result<Part, BackupError> {
    let name = format!("{id}/{part_name}");
    let mut progress = |n| observer.bytes(n);
    let mut encrypted = Encrypted::new(source, part_name, key, settings.zstd_level, &mut progress)?;
    let stored = target.put(&name, &mut encrypted)?;
    let part = encrypted.part().cloned().ok_or_else(|| {
        BackupError::Failed(format!("{name}: the upload ended before its source"))
    })?;
    drop(encrypted);
    if stored.size != part.stored_size || stored.sha256_hex() != part.sha256 {
        return Err(BackupError::Failed(format!(
            "{name}: the target stored {} bytes, {} were produced",
            stored.size, part.stored_size
        )));
    }
    observer.stage(&format!("verifying {part_name}"));
    target.verify(&name, &stored)?;
    Ok(part)
}

/// `pg_dump -Fc` of the snapshot the caller's transaction exported. The password,
/// if any, goes through the environment, never the command line.
fn dump_command(pg_dump: &Path, url: &str, snapshot: &str) -> Command {
    let (url, password) = dump::split_password(url);
    let mut command = Command::new(pg_dump);
    command
        .args([
            "--format=custom",
            "--compress=0",
            "--no-owner",
            "--no-privileges",
        ])
        .arg(format!("--snapshot={snapshot}"))
        .arg("--dbname")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    command
}

/// The tar stream of the client's directories, each under its absolute path without
/// the leading `/`, symlinks stored as links.
fn write_tar(sink: &mut dyn std::io::Write, dirs: &[PathBuf]) -> std::io::Result<()> {
    let mut tar = tar::Builder::new(sink);
    tar.follow_symlinks(false);
    for dir in dirs {
        let name = dir.strip_prefix("/").unwrap_or(dir);
        tar.append_dir_all(name, dir).map_err(|e| {
            std::io::Error::new(e.kind(), format!("archiving {}: {e}", dir.display()))
        })?;
    }
    tar.finish()
}

fn server_version(conn: &mut PgConnection) -> QueryResult<String> {
    #[derive(QueryableByName)]
    struct Version {
        #[diesel(sql_type = Text)]
        v: String,
    }
    let row: Version =
        diesel::sql_query("SELECT current_setting('server_version') AS v").get_result(conn)?;
    Ok(row.v)
}

/// What a finished `put` reported, for callers that keep it.
pub fn stored_of(part: &Part) -> Option<Stored> {
    let sha256: [u8; 32] = super::manifest::decode_hex(&part.sha256)?.try_into().ok()?;
    Some(Stored {
        size: part.stored_size,
        sha256,
    })
}
