//! The step between a correct password and a correct second factor. A challenge is a
//! cookie-held random token that is good for one sign-in, a few minutes and a few
//! wrong codes; it is not a session and opens nothing else.

use std::time::Duration;

use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use super::token;
use crate::db::schema::mfa_challenges;
use crate::secret::SecretString;

/// Wrong codes allowed before the password must be entered again (which is throttled).
pub const MAX_ATTEMPTS: i32 = 5;

pub fn create(conn: &mut PgConnection, user_id: Uuid, ttl: Duration) -> QueryResult<SecretString> {
    let (challenge, hash) = token::generate();
    let now = OffsetDateTime::now_utc();
    diesel::insert_into(mfa_challenges::table)
        .values((
            mfa_challenges::token_hash.eq(&hash[..]),
            mfa_challenges::user_id.eq(user_id),
            mfa_challenges::created_at.eq(now),
            mfa_challenges::expires_at.eq(now + ttl),
        ))
        .execute(conn)?;
    Ok(challenge)
}

/// The user a live challenge belongs to.
pub fn user_of(conn: &mut PgConnection, challenge: &str) -> QueryResult<Option<Uuid>> {
    if !token::is_well_formed(challenge) {
        return Ok(None);
    }
    mfa_challenges::table
        .filter(mfa_challenges::token_hash.eq(&token::hash(challenge)[..]))
        .filter(mfa_challenges::expires_at.gt(OffsetDateTime::now_utc()))
        .filter(mfa_challenges::attempts.lt(MAX_ATTEMPTS))
        .select(mfa_challenges::user_id)
        .first(conn)
        .optional()
}

/// Counts a wrong code; the challenge dies at the limit.
pub fn record_failure(conn: &mut PgConnection, challenge: &str) -> QueryResult<()> {
    diesel::update(
        mfa_challenges::table.filter(mfa_challenges::token_hash.eq(&token::hash(challenge)[..])),
    )
    .set(mfa_challenges::attempts.eq(mfa_challenges::attempts + 1))
    .execute(conn)
    .map(drop)
}

/// Spends the challenge; true if it was still there (so it is used exactly once).
pub fn consume(conn: &mut PgConnection, challenge: &str) -> QueryResult<bool> {
    diesel::delete(
        mfa_challenges::table.filter(mfa_challenges::token_hash.eq(&token::hash(challenge)[..])),
    )
    .execute(conn)
    .map(|n| n > 0)
}
