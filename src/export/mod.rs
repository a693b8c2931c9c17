//! "Export at cancellation": everything a client takes with them when they leave, in
//! one tarball: the database (plain SQL and pg_dump's custom format), a Markdown
//! account of the team, log, credentials, settings and API keys, their files, and a
//! manifest with every member's SHA-256, written last.
//!
//! Stored values stay sealed unless the caller asks for them; either way the export
//! itself is audited as `data.exported`.

pub(crate) mod dump;
pub mod markdown;
pub mod store;
pub mod tarball;

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use diesel::dsl::{count_star, max, min};
use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::audit::{self, Actor, Event, Outcome, query};
use crate::config::Config;
use crate::credentials;
use crate::db::schema::audit_events;
use crate::identity::{ClientInfo, api_keys, team};
use crate::vault::Vault;
use markdown::AuditSummary;
use tarball::Tarball;

pub const ACTION: &str = "data.exported";

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write {path}: {source}")]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing the archive failed: {0}")]
    Archive(#[from] std::io::Error),
    #[error("no pg_dump found (give its directory with --pg-bin)")]
    NoPgDump,
    #[error("{0}")]
    Dump(String),
    #[error("database query failed: {0}")]
    Db(#[from] diesel::result::Error),
    #[error("a stored value could not be opened: {0}")]
    Credential(#[from] credentials::CredentialError),
}

#[derive(Debug)]
pub struct Options<'a> {
    pub out: &'a Path,
    pub include_secrets: bool,
    /// The directory of `pg_dump`; found by [`dump::locate`] when not given.
    pub pg_bin: Option<&'a Path>,
    /// Who the `data.exported` entry names: the operator, an Owner, or the system at
    /// cancellation.
    pub actor: Actor,
    pub client: ClientInfo,
    /// What the entry is about (`export:<id>` for exports kept on the server).
    pub target: Option<String>,
}

/// What was written, for the caller to report.
#[derive(Debug)]
pub struct Summary {
    pub members: Vec<tarball::Member>,
    pub bytes: u64,
    pub pg_dump_version: String,
}

/// Writes the export to `options.out` (atomically: a partial archive never carries
/// the final name) and records the audit entry. `step` hears about each stage.
pub fn run(
    conn: &mut PgConnection,
    config: &Config,
    vault: &Vault,
    options: &Options<'_>,
    step: &mut dyn FnMut(&str),
) -> Result<Summary, ExportError> {
    let out_err = |source| ExportError::Output {
        path: options.out.to_owned(),
        source,
    };
    let parent = match options.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(out_err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no directory {}", parent.display()),
        )));
    }
    let partial = tempfile::Builder::new()
        .prefix(".outpost-export-")
        .tempfile_in(parent)
        .map_err(out_err)?;
    // Owner-only: the dumps hold every row, sealed values included.
    let scratch = tempfile::tempdir().map_err(ExportError::Archive)?;
    let tool = dump::locate(options.pg_bin)?;
    let pg_dump_version = dump::version(&tool)?;
    let now = OffsetDateTime::now_utc();

    let mut tar = Tarball::new(BufWriter::new(partial.reopen().map_err(out_err)?));
    let url = config.database_url.expose();
    step("dumping the database (plain SQL)");
    let sql = scratch.path().join("outpost.sql");
    dump::run(&tool, url, &["--format=plain"], &sql)?;
    tar.add_file("database/outpost.sql", &sql)?;
    std::fs::remove_file(&sql)?;
    step("dumping the database (custom format)");
    let custom = scratch.path().join("outpost.dump");
    dump::run(&tool, url, &["--format=custom"], &custom)?;
    tar.add_file("database/outpost.dump", &custom)?;
    std::fs::remove_file(&custom)?;

    step("writing the Markdown summary");
    let documents = documents(conn, config, now, options.include_secrets)?;
    let mut index: Vec<(&str, &str)> = vec![
        ("database/outpost.sql", "the database as plain SQL"),
        ("database/outpost.dump", "the database for pg_restore"),
    ];
    for (path, what, text) in &documents {
        tar.add_bytes(path, text.as_bytes())?;
        index.push((path, what));
    }

    step("adding files");
    if config.audit_checkpoint_file.is_file() {
        tar.add_file("files/audit-checkpoints.log", &config.audit_checkpoint_file)?;
        index.push((
            "files/audit-checkpoints.log",
            "the signed audit checkpoints, as appended on the server",
        ));
    }

    let mut revealed = 0;
    if options.include_secrets {
        step("opening the stored values");
        let (count, json) = secrets(conn, vault)?;
        revealed = count;
        tar.add_bytes("secrets/credentials.json", &json)?;
        index.push((
            "secrets/credentials.json",
            "every stored credential WITH ITS VALUE: keep this file safe",
        ));
    }
    tar.add_bytes("index.md", markdown::index(now, &index).as_bytes())?;

    step("writing the manifest");
    let manifest = json!({
        "exported_at": now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "outpost_version": env!("CARGO_PKG_VERSION"),
        "pg_dump_version": pg_dump_version,
        "include_secrets": options.include_secrets,
        "files": tar.members(),
    });
    let members = tar.members().to_vec();
    tar.add_bytes(
        "manifest.json",
        &serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
    )?;
    let mut sink = tar.finish()?;
    sink.flush()?;
    sink.into_inner()
        .map_err(|e| ExportError::Archive(e.into_error()))?
        .sync_all()?;
    let bytes = partial.as_file().metadata()?.len();

    // Audited before the archive takes its name: an export that exists was recorded.
    let mut event = Event::new(options.actor.clone(), ACTION, Outcome::Success)
        .client(&options.client)
        .details(json!({
            "include_secrets": options.include_secrets,
            "values": revealed,
            "files": members.len() + 1,
            "bytes": bytes,
        }));
    if let Some(target) = &options.target {
        event = event.target(target.clone());
    }
    audit::record(conn, &event)?;
    partial.persist(options.out).map_err(|e| out_err(e.error))?;
    Ok(Summary {
        members,
        bytes,
        pg_dump_version,
    })
}

type Document = (&'static str, &'static str, String);

fn documents(
    conn: &mut PgConnection,
    config: &Config,
    now: OffsetDateTime,
    values_included: bool,
) -> Result<Vec<Document>, ExportError> {
    let overview = team::overview(conn)?;
    let stored = credentials::list(conn)?;
    let mut keys = Vec::new();
    for member in &overview.members {
        let list = api_keys::list_for_user(conn, member.user.id)?;
        if !list.is_empty() {
            keys.push((member.user.email.clone(), list));
        }
    }
    Ok(vec![
        (
            "team.md",
            "members, roles, MFA and open invitations",
            markdown::team(&overview.members, &overview.invitations),
        ),
        (
            "audit.md",
            "the audit log in summary",
            markdown::audit(&audit_summary(conn)?),
        ),
        (
            "credentials.md",
            "stored credentials: names, kinds, ages, status",
            markdown::credentials(&stored, now, values_included),
        ),
        (
            "settings.md",
            "the configuration, secrets masked",
            markdown::settings(&config.to_masked_toml()),
        ),
        (
            "api_keys.md",
            "API keys: names, capabilities, last use",
            markdown::api_keys(&keys, now),
        ),
    ])
}

fn audit_summary(conn: &mut PgConnection) -> QueryResult<AuditSummary> {
    let per_action = audit_events::table
        .group_by(audit_events::action)
        .select((audit_events::action, count_star()))
        .order(audit_events::action.asc())
        .load(conn)?;
    let (first, last) = audit_events::table
        .select((
            min(audit_events::occurred_at),
            max(audit_events::occurred_at),
        ))
        .first(conn)?;
    Ok(AuditSummary {
        per_action,
        first,
        last,
        checkpoint: query::latest_checkpoint(conn)?,
        verification: query::latest_verification(conn)?,
    })
}

/// Every stored value, opened, as JSON in memory that is wiped when dropped.
fn secrets(
    conn: &mut PgConnection,
    vault: &Vault,
) -> Result<(usize, Zeroizing<Vec<u8>>), ExportError> {
    let stored = credentials::list(conn)?;
    // Reserved for the worst case (every byte escaped as \uXXXX) so the buffer never
    // reallocates and leaves an unwiped copy behind.
    let names: usize = stored.iter().map(|c| c.name.len() * 6 + 64).sum();
    let mut out = Zeroizing::new(Vec::with_capacity(
        names + stored.len() * credentials::input::MAX_VALUE_BYTES * 6 + 8,
    ));
    out.extend_from_slice(b"[\n");
    for (i, credential) in stored.iter().enumerate() {
        let value = credentials::for_outpost(conn, vault, &credential.name)?;
        if i > 0 {
            out.extend_from_slice(b",\n");
        }
        // Written straight into the wiped buffer: no JSON tree holds a copy of the value.
        let field = |out: &mut Vec<u8>, text: &str| serde_json::to_writer(out, text);
        out.extend_from_slice(b"{\"name\":");
        field(&mut out, &credential.name).map_err(std::io::Error::from)?;
        out.extend_from_slice(b",\"kind\":");
        field(&mut out, credential.kind.as_str()).map_err(std::io::Error::from)?;
        out.extend_from_slice(b",\"value\":");
        field(&mut out, value.expose()).map_err(std::io::Error::from)?;
        out.push(b'}');
    }
    out.extend_from_slice(b"\n]\n");
    Ok((stored.len(), out))
}
