//! Exports kept on the server for an Owner to download: one row in `exports` and one
//! tarball at `<data_dir>/exports/<id>.tar` each. The dashboard, the API and the
//! cancellation lifecycle all go through here, so a file and its row never disagree
//! about who asked, what it holds or how long it is kept.

use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{ExportError, Options};
use crate::audit::{self, Actor, Event, Outcome};
use crate::config::Config;
use crate::db::schema::exports;
use crate::identity::ClientInfo;
use crate::vault::Vault;

/// How long an export asked for on the dashboard or the API stays downloadable: long
/// enough to fetch it, short enough that full copies of the database do not pile up.
pub const KEPT_FOR: Duration = Duration::days(7);

pub const DOWNLOADED: &str = "data.export_downloaded";
pub const EXPIRED: &str = "data.exports_expired";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Preparing,
    Ready,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Preparing => "preparing",
            Status::Ready => "ready",
            Status::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "ready" => Status::Ready,
            "failed" => Status::Failed,
            _ => Status::Preparing,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = exports)]
pub struct ExportRecord {
    pub id: Uuid,
    pub requested_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(skip)]
    status: String,
    pub bytes: Option<i64>,
    pub error: Option<String>,
    pub include_secrets: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl ExportRecord {
    pub fn status(&self) -> Status {
        Status::parse(&self.status)
    }

    /// Ready and not yet expired.
    pub fn downloadable(&self, now: OffsetDateTime) -> bool {
        self.status() == Status::Ready && now < self.expires_at
    }

    /// The audit target naming this export.
    pub fn target(&self) -> String {
        format!("export:{}", self.id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such export")]
    NotFound,
    #[error("the export is not ready (it is {0})")]
    NotReady(&'static str),
    #[error("the export expired and its file was removed")]
    Expired,
    #[error("the export's file is missing: {0}")]
    Missing(std::io::Error),
    #[error("database query failed: {0}")]
    Db(#[from] diesel::result::Error),
}

/// `<data_dir>/exports`.
pub fn directory(data_dir: &Path) -> PathBuf {
    data_dir.join("exports")
}

pub fn file_of(data_dir: &Path, id: Uuid) -> PathBuf {
    directory(data_dir).join(format!("{id}.tar"))
}

/// Creates the exports directory owner-only (0700), and tightens one that exists: the
/// tarballs hold the whole database.
fn ensure_directory(data_dir: &Path) -> std::io::Result<PathBuf> {
    let dir = directory(data_dir);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(dir)
}

/// Records an export about to be prepared (`preparing`).
pub fn begin(
    conn: &mut PgConnection,
    requested_by: Option<Uuid>,
    include_secrets: bool,
    expires_at: OffsetDateTime,
) -> QueryResult<ExportRecord> {
    diesel::insert_into(exports::table)
        .values((
            exports::id.eq(Uuid::new_v4()),
            exports::requested_by.eq(requested_by),
            exports::include_secrets.eq(include_secrets),
            exports::expires_at.eq(expires_at),
        ))
        .returning(ExportRecord::as_returning())
        .get_result(conn)
}

/// Writes the tarball of a `preparing` export and records the outcome: `ready` with its
/// size, or `failed` with the reason. Only a database failure while recording is an
/// error; the export's own failure is in the returned record.
pub fn prepare(
    conn: &mut PgConnection,
    config: &Config,
    vault: &Vault,
    record: &ExportRecord,
    actor: Actor,
    client: ClientInfo,
) -> QueryResult<ExportRecord> {
    let outcome = ensure_directory(&config.data_dir)
        .map_err(|source| ExportError::Output {
            path: directory(&config.data_dir),
            source,
        })
        .and_then(|_| {
            let out = file_of(&config.data_dir, record.id);
            let options = Options {
                out: &out,
                include_secrets: record.include_secrets,
                pg_bin: None,
                actor,
                client,
                target: Some(record.target()),
            };
            super::run(conn, config, vault, &options, &mut |step| {
                tracing::debug!(export = %record.id, step, "export");
            })
        });
    let update = diesel::update(exports::table.find(record.id));
    match outcome {
        Ok(summary) => update
            .set((
                exports::status.eq(Status::Ready.as_str()),
                exports::bytes.eq(i64::try_from(summary.bytes).unwrap_or(i64::MAX)),
            ))
            .returning(ExportRecord::as_returning())
            .get_result(conn),
        Err(error) => {
            tracing::error!(export = %record.id, %error, "export failed");
            update
                .set((
                    exports::status.eq(Status::Failed.as_str()),
                    exports::error.eq(error.to_string()),
                ))
                .returning(ExportRecord::as_returning())
                .get_result(conn)
        }
    }
}

/// Every export, newest first.
pub fn list(conn: &mut PgConnection) -> QueryResult<Vec<ExportRecord>> {
    exports::table
        .order(exports::created_at.desc())
        .select(ExportRecord::as_select())
        .load(conn)
}

pub fn find(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<ExportRecord>> {
    exports::table
        .find(id)
        .select(ExportRecord::as_select())
        .first(conn)
        .optional()
}

/// Opens a ready export's file for `actor` to download, and audits the download
/// (before a byte is sent: a download that happened was recorded).
pub fn open_for_download(
    conn: &mut PgConnection,
    data_dir: &Path,
    id: Uuid,
    actor: Actor,
    client: &ClientInfo,
    now: OffsetDateTime,
) -> Result<(ExportRecord, File, u64), StoreError> {
    let record = find(conn, id)?.ok_or(StoreError::NotFound)?;
    match record.status() {
        Status::Ready if now >= record.expires_at => return Err(StoreError::Expired),
        Status::Ready => {}
        other => return Err(StoreError::NotReady(other.as_str())),
    }
    let file = File::open(file_of(data_dir, id)).map_err(StoreError::Missing)?;
    let size = file.metadata().map_err(StoreError::Missing)?.len();
    audit::record(
        conn,
        &Event::new(actor, DOWNLOADED, Outcome::Success)
            .target(record.target())
            .client(client)
            .details(json!({ "bytes": size, "include_secrets": record.include_secrets })),
    )?;
    Ok((record, file, size))
}

/// Marks exports left `preparing` by a process that ended (a restart) as failed. Run
/// at start, before anything could be preparing in this process.
pub fn fail_interrupted(conn: &mut PgConnection) -> QueryResult<usize> {
    diesel::update(exports::table.filter(exports::status.eq(Status::Preparing.as_str())))
        .set((
            exports::status.eq(Status::Failed.as_str()),
            exports::error.eq("interrupted: the server stopped while preparing it"),
        ))
        .execute(conn)
}

/// Removes expired exports, rows and then files, and audits which ones went.
pub fn remove_expired(
    conn: &mut PgConnection,
    data_dir: &Path,
    now: OffsetDateTime,
) -> QueryResult<usize> {
    let gone: Vec<Uuid> = conn.transaction(|conn| {
        let gone: Vec<Uuid> = diesel::delete(exports::table.filter(exports::expires_at.le(now)))
            .returning(exports::id)
            .get_results(conn)?;
        if !gone.is_empty() {
            audit::record(
                conn,
                &Event::new(Actor::System, EXPIRED, Outcome::Success)
                    .details(json!({ "exports": gone })),
            )?;
        }
        Ok::<_, diesel::result::Error>(gone)
    })?;
    // Only once the rows are gone: a file never outlives its record the other way round.
    for id in &gone {
        remove_file(&file_of(data_dir, *id));
    }
    Ok(gone.len())
}

/// Removes a file that may already be gone; any other failure is logged, since the
/// caller's record of the removal stands either way and the next sweep tries again.
fn remove_file(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => tracing::error!(path = %path.display(), %error, "cannot remove a file"),
    }
}
