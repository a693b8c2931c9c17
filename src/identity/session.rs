//! Server-side sessions. The cookie carries a random token; the database keeps its
//! SHA-256, the idle clock (`last_seen_at`) and the absolute end (`expires_at`).

use std::time::Duration;

use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{ClientInfo, User, token, user};
use crate::db::schema::sessions;
use crate::secret::SecretString;

#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub idle_timeout: Duration,
    pub absolute_timeout: Duration,
}

/// A session just created: the token goes into the cookie and nowhere else.
#[derive(Debug)]
pub struct NewSession {
    pub token: SecretString,
    pub expires_at: OffsetDateTime,
}

/// A session that passed both timeouts on this request.
#[derive(Debug, Clone)]
pub struct ActiveSession {
    /// Public id, safe to show and to name in a revocation request.
    pub id: Uuid,
    pub user: User,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = sessions)]
struct Row {
    id: Uuid,
    user_id: Uuid,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
}

pub fn create(
    conn: &mut PgConnection,
    user_id: Uuid,
    policy: &SessionPolicy,
    client: &ClientInfo,
) -> QueryResult<NewSession> {
    let (token, hash) = token::generate();
    let now = OffsetDateTime::now_utc();
    let expires_at = now + policy.absolute_timeout;
    diesel::insert_into(sessions::table)
        .values((
            sessions::token_hash.eq(&hash[..]),
            sessions::user_id.eq(user_id),
            sessions::created_at.eq(now),
            sessions::last_seen_at.eq(now),
            sessions::expires_at.eq(expires_at),
            sessions::client_ip.eq(client.ip.as_deref()),
            sessions::user_agent.eq(client.user_agent.as_deref().map(truncate_agent)),
        ))
        .execute(conn)?;
    Ok(NewSession { token, expires_at })
}

/// Checks both timeouts and, if the session lives, restarts its idle clock — in one
/// statement, so two concurrent requests cannot revive an idle session.
pub fn authenticate(
    conn: &mut PgConnection,
    cookie_token: &str,
    policy: &SessionPolicy,
) -> QueryResult<Option<ActiveSession>> {
    if !token::is_well_formed(cookie_token) {
        return Ok(None);
    }
    let hash = token::hash(cookie_token);
    let now = OffsetDateTime::now_utc();
    let live = diesel::update(
        sessions::table
            .filter(sessions::token_hash.eq(&hash[..]))
            .filter(sessions::last_seen_at.gt(now - policy.idle_timeout))
            .filter(sessions::expires_at.gt(now)),
    )
    .set(sessions::last_seen_at.eq(now))
    .returning(Row::as_returning())
    .get_result(conn)
    .optional()?;
    let Some(row) = live else {
        // Dead or unknown: make sure nothing with this token lingers.
        delete_by_hash(conn, &hash)?;
        return Ok(None);
    };
    Ok(user::find(conn, row.user_id)?.map(|user| ActiveSession {
        id: row.id,
        user,
        created_at: row.created_at,
        expires_at: row.expires_at,
    }))
}

/// Ends the session the token names; true if one existed.
pub fn revoke(conn: &mut PgConnection, cookie_token: &str) -> QueryResult<bool> {
    if !token::is_well_formed(cookie_token) {
        return Ok(false);
    }
    delete_by_hash(conn, &token::hash(cookie_token)).map(|n| n > 0)
}

/// One of a person's sessions, as listed on their account page.
#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = sessions)]
pub struct SessionInfo {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The user's live sessions, most recently used first.
pub fn list_for_user(
    conn: &mut PgConnection,
    user_id: Uuid,
    policy: &SessionPolicy,
) -> QueryResult<Vec<SessionInfo>> {
    let now = OffsetDateTime::now_utc();
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::last_seen_at.gt(now - policy.idle_timeout))
        .filter(sessions::expires_at.gt(now))
        .order(sessions::last_seen_at.desc())
        .select(SessionInfo::as_select())
        .load(conn)
}

/// Ends one of the user's sessions by its public id; true if it existed.
pub fn revoke_by_id(conn: &mut PgConnection, user_id: Uuid, id: Uuid) -> QueryResult<bool> {
    diesel::delete(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::id.eq(id)),
    )
    .execute(conn)
    .map(|n| n > 0)
}

/// Ends every session of the user except `keep`.
pub fn revoke_others(conn: &mut PgConnection, user_id: Uuid, keep: Uuid) -> QueryResult<usize> {
    diesel::delete(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::id.ne(keep)),
    )
    .execute(conn)
}

/// Ends every session of a user (password change, removal).
pub fn revoke_all(conn: &mut PgConnection, user_id: Uuid) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)
}

/// Deletes sessions past either timeout; returns how many.
pub fn purge_expired(conn: &mut PgConnection, policy: &SessionPolicy) -> QueryResult<usize> {
    let now = OffsetDateTime::now_utc();
    diesel::delete(
        sessions::table.filter(
            sessions::expires_at
                .le(now)
                .or(sessions::last_seen_at.le(now - policy.idle_timeout)),
        ),
    )
    .execute(conn)
}

/// A session still accepted at `now` (within both its stored expiry and the idle
/// timeout) although it was opened longer ago than `policy.absolute_timeout`: only a
/// bug, a lowered timeout the stored expiries predate, or a tampered row gets here.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct Overlong {
    pub id: Uuid,
    pub user_id: Uuid,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// Every [`Overlong`] session at `now`, oldest first.
pub fn outliving_policy(
    conn: &mut PgConnection,
    policy: &SessionPolicy,
    now: OffsetDateTime,
) -> QueryResult<Vec<Overlong>> {
    sessions::table
        .filter(sessions::expires_at.gt(now))
        .filter(sessions::last_seen_at.gt(now - policy.idle_timeout))
        .filter(sessions::created_at.lt(now - policy.absolute_timeout))
        .order(sessions::created_at.asc())
        .select(Overlong::as_select())
        .load(conn)
}

/// How a person proved, moments ago, that they are still at the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reauthentication {
    Password,
    TotpCode,
    /// An earlier re-authentication in this session, still within its window.
    Recent,
}

impl Reauthentication {
    pub fn as_str(self) -> &'static str {
        match self {
            Reauthentication::Password => "password",
            Reauthentication::TotpCode => "totp_code",
            Reauthentication::Recent => "recent",
        }
    }
}

/// Records that the session's person has just re-entered their password or a code.
pub fn mark_reauthenticated(
    conn: &mut PgConnection,
    session_id: Uuid,
    now: OffsetDateTime,
) -> QueryResult<bool> {
    diesel::update(sessions::table.filter(sessions::id.eq(session_id)))
        .set(sessions::reauthenticated_at.eq(now))
        .execute(conn)
        .map(|n| n > 0)
}

/// Whether the session's person re-authenticated within `window` before `now`.
pub fn reauthenticated_within(
    conn: &mut PgConnection,
    session_id: Uuid,
    window: Duration,
    now: OffsetDateTime,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        sessions::table
            .filter(sessions::id.eq(session_id))
            .filter(sessions::reauthenticated_at.gt(now - window))
            // A clock set back must not stretch the window.
            .filter(sessions::reauthenticated_at.le(now)),
    ))
    .get_result(conn)
}

fn delete_by_hash(conn: &mut PgConnection, hash: &token::TokenHash) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::token_hash.eq(&hash[..]))).execute(conn)
}

fn truncate_agent(agent: &str) -> String {
    agent.chars().take(256).collect()
}
