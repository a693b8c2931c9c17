//! Credentials clients keep in Outpost: OAuth tokens, provider API keys, SMTP and
//! storage passwords, webhook secrets.
//!
//! The value is stored only sealed by the vault, bound to its row, and leaves this
//! module only through [`reveal`], which is audited with the reason given. Everything
//! else here (listing, metadata, status) never reads the sealed column at all.

pub mod input;
mod reveal;
pub mod status;

use std::time::Duration;

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit;
use crate::db::schema::stored_credentials as creds;
use crate::identity::{ClientInfo, User};
use crate::secret::SecretString;
use crate::vault::{Location, Vault, VaultError, location};

pub use input::Kind;
pub use reveal::{for_outpost, named_in_config, refusal, reveal};
pub use status::Status;

/// Revealing a value needs the person to have re-entered their password or a code
/// this recently.
pub const REVEAL_REAUTH_WINDOW: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error(
        "a name must be 1 to {} characters, without control characters",
        input::MAX_NAME_CHARS
    )]
    InvalidName,
    #[error("a credential named `{0}` already exists (names are compared ignoring case)")]
    DuplicateName(String),
    #[error("`{0}` is not a kind of credential; use one of {kinds}", kinds = input::kind_names())]
    InvalidKind(String),
    #[error("the value is empty")]
    EmptyValue,
    #[error("the value is longer than {} KiB", input::MAX_VALUE_BYTES / 1024)]
    ValueTooLong,
    #[error(
        "a description can be at most {} characters",
        input::MAX_DESCRIPTION_CHARS
    )]
    DescriptionTooLong,
    #[error("a rotation reminder must be between 1 and 3650 days")]
    InvalidRotation,
    #[error("the expiry must be in the future")]
    ExpiryInPast,
    #[error(
        "give a reason of 1 to {} characters for revealing the value",
        input::MAX_REASON_CHARS
    )]
    InvalidReason,
    #[error("no such credential")]
    NotFound,
    #[error("the stored value could not be opened: {0}")]
    Vault(#[from] VaultError),
    #[error("database query failed: {0}")]
    Db(#[from] DieselError),
}

/// Everything about a credential except its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credential {
    pub id: Uuid,
    pub name: String,
    pub kind: Kind,
    pub description: String,
    pub created_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the value last changed: the credential's age runs from here.
    #[serde(with = "time::serde::rfc3339")]
    pub replaced_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    pub rotate_every_days: Option<i32>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_revealed_at: Option<OffsetDateTime>,
    pub last_revealed_by: Option<Uuid>,
}

impl Credential {
    pub fn status(&self, now: OffsetDateTime) -> Status {
        Status::at(
            self.replaced_at,
            self.rotate_every_days,
            self.expires_at,
            now,
        )
    }

    pub fn rotation_due_at(&self) -> Option<OffsetDateTime> {
        status::rotation_due_at(self.replaced_at, self.rotate_every_days)
    }
}

/// The columns of [`Credential`]: `value_sealed` is deliberately not one of them.
#[derive(Queryable, Selectable)]
#[diesel(table_name = creds)]
struct Row {
    id: Uuid,
    name: String,
    kind: String,
    description: String,
    created_by: Option<Uuid>,
    created_at: OffsetDateTime,
    replaced_at: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
    rotate_every_days: Option<i32>,
    last_revealed_at: Option<OffsetDateTime>,
    last_revealed_by: Option<Uuid>,
}

impl From<Row> for Credential {
    fn from(row: Row) -> Self {
        Self {
            id: row.id,
            name: row.name,
            // The CHECK constraint admits only the known kinds.
            kind: row.kind.parse().unwrap_or(Kind::Other),
            description: row.description,
            created_by: row.created_by,
            created_at: row.created_at,
            replaced_at: row.replaced_at,
            expires_at: row.expires_at,
            rotate_every_days: row.rotate_every_days,
            last_revealed_at: row.last_revealed_at,
            last_revealed_by: row.last_revealed_by,
        }
    }
}

#[derive(Debug)]
pub struct NewCredential {
    pub name: String,
    pub kind: Kind,
    pub value: SecretString,
    pub description: Option<String>,
    pub expires_at: Option<OffsetDateTime>,
    pub rotate_every_days: Option<i32>,
}

/// A new value for a credential. The expiry belongs to the value, so a replacement
/// states its own (none if `None`).
#[derive(Debug)]
pub struct Replacement {
    pub value: SecretString,
    pub expires_at: Option<OffsetDateTime>,
}

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// The sealing location of a credential's value: sealed for one row, it opens for no
/// other.
fn location(id: Uuid) -> Location {
    location::CREDENTIAL_VALUE.at(id)
}

fn target(id: Uuid) -> String {
    format!("credential:{id}")
}

/// Audits a change to credential `id`, in the caller's transaction.
fn record(
    conn: &mut PgConnection,
    (actor, client): (&User, &ClientInfo),
    action: &'static str,
    id: Uuid,
    details: serde_json::Value,
) -> QueryResult<()> {
    audit::record_change(conn, (actor.id, client), action, target(id), details)
}

fn rfc3339(t: Option<OffsetDateTime>) -> Option<String> {
    t.and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
}

/// Stores a credential, sealed, and audits it in the same transaction.
pub fn create(
    conn: &mut PgConnection,
    vault: &Vault,
    actor: &User,
    new: NewCredential,
    client: &ClientInfo,
) -> Result<Credential, CredentialError> {
    let now = OffsetDateTime::now_utc();
    let name = input::name(&new.name)?;
    let description = input::description(new.description.as_deref())?;
    input::value(&new.value)?;
    let rotate_every_days = input::rotation(new.rotate_every_days)?;
    let expires_at = input::expiry(new.expires_at, now)?;
    crate::leak_guard::remember(new.value.expose());
    // The id is chosen here, not by the database: the value is sealed to it first.
    let id = Uuid::new_v4();
    conn.transaction(|conn| {
        let sealed = vault.seal(conn, &location(id), new.value.expose().as_bytes())?;
        let row = diesel::insert_into(creds::table)
            .values((
                creds::id.eq(id),
                creds::name.eq(name),
                creds::kind.eq(new.kind.as_str()),
                creds::description.eq(description),
                creds::value_sealed.eq(&sealed),
                creds::created_by.eq(actor.id),
                creds::created_at.eq(now),
                creds::replaced_at.eq(now),
                creds::expires_at.eq(expires_at),
                creds::rotate_every_days.eq(rotate_every_days),
            ))
            .returning(Row::as_returning())
            .get_result(conn)
            .map_err(|e| duplicate_or(e, name))?;
        record(
            conn,
            (actor, client),
            "credential.created",
            id,
            json!({
                "name": name,
                "kind": new.kind,
                "expires_at": rfc3339(expires_at),
                "rotate_every_days": rotate_every_days,
            }),
        )?;
        Ok(Credential::from(row))
    })
}

/// The one unique index is on the lower-cased name.
fn duplicate_or(e: DieselError, name: &str) -> CredentialError {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            CredentialError::DuplicateName(name.to_owned())
        }
        other => other.into(),
    }
}

/// Every credential's metadata, by name.
pub fn list(conn: &mut PgConnection) -> QueryResult<Vec<Credential>> {
    creds::table
        .order((lower(creds::name).asc(), creds::id.asc()))
        .select(Row::as_select())
        .load(conn)
        .map(|rows| rows.into_iter().map(Credential::from).collect())
}

/// Whether a credential called `name` (ignoring case) is stored.
pub fn exists(conn: &mut PgConnection, name: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        creds::table.filter(lower(creds::name).eq(name.trim().to_lowercase())),
    ))
    .get_result(conn)
}

pub fn find(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<Credential>> {
    creds::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .optional()
        .map(|row| row.map(Credential::from))
}

/// Credentials that need attention at `now` (expired, due for rotation, or expiring
/// soon), each with its status, worst first.
pub fn stale(
    conn: &mut PgConnection,
    now: OffsetDateTime,
) -> QueryResult<Vec<(Credential, Status)>> {
    // A handful of rows per installation: computing the status in one place, in Rust,
    // beats restating the rule in SQL.
    let mut stale: Vec<_> = list(conn)?
        .into_iter()
        .map(|c| {
            let status = c.status(now);
            (c, status)
        })
        .filter(|(_, status)| status.is_stale())
        .collect();
    stale.sort_by_key(|(_, status)| std::cmp::Reverse(*status));
    Ok(stale)
}

/// Seals a new value in place of the old one; the credential's age starts again.
pub fn replace(
    conn: &mut PgConnection,
    vault: &Vault,
    actor: &User,
    id: Uuid,
    replacement: Replacement,
    client: &ClientInfo,
) -> Result<Credential, CredentialError> {
    let now = OffsetDateTime::now_utc();
    input::value(&replacement.value)?;
    let expires_at = input::expiry(replacement.expires_at, now)?;
    crate::leak_guard::remember(replacement.value.expose());
    conn.transaction(|conn| {
        let sealed = vault.seal(conn, &location(id), replacement.value.expose().as_bytes())?;
        let row = diesel::update(creds::table.find(id))
            .set((
                creds::value_sealed.eq(&sealed),
                creds::replaced_at.eq(now),
                creds::expires_at.eq(expires_at),
            ))
            .returning(Row::as_returning())
            .get_result(conn)
            .optional()?
            .ok_or(CredentialError::NotFound)?;
        record(
            conn,
            (actor, client),
            "credential.replaced",
            id,
            json!({ "name": row.name, "expires_at": rfc3339(expires_at) }),
        )?;
        Ok(Credential::from(row))
    })
}

pub fn delete(
    conn: &mut PgConnection,
    actor: &User,
    id: Uuid,
    client: &ClientInfo,
) -> Result<(), CredentialError> {
    conn.transaction(|conn| {
        let (name, kind): (String, String) = diesel::delete(creds::table.find(id))
            .returning((creds::name, creds::kind))
            .get_result(conn)
            .optional()?
            .ok_or(CredentialError::NotFound)?;
        record(
            conn,
            (actor, client),
            "credential.deleted",
            id,
            json!({ "name": name, "kind": kind }),
        )?;
        Ok(())
    })
}
