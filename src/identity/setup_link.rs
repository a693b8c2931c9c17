//! One-time links at which a new account sets its first password.

use std::time::Duration;

use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{IdentityError, User, token, user};
use crate::db::schema::setup_links;
use crate::secret::SecretString;

/// Issues a link token valid for `ttl`; earlier unused links of the user stop working.
pub fn issue(conn: &mut PgConnection, user_id: Uuid, ttl: Duration) -> QueryResult<SecretString> {
    let (token, hash) = token::generate();
    let now = OffsetDateTime::now_utc();
    conn.transaction(|conn| {
        diesel::update(
            setup_links::table
                .filter(setup_links::user_id.eq(user_id))
                .filter(setup_links::used_at.is_null()),
        )
        .set(setup_links::expires_at.eq(now))
        .execute(conn)?;
        diesel::insert_into(setup_links::table)
            .values((
                setup_links::token_hash.eq(&hash[..]),
                setup_links::user_id.eq(user_id),
                setup_links::created_at.eq(now),
                setup_links::expires_at.eq(now + ttl),
            ))
            .execute(conn)
    })?;
    Ok(token)
}

/// The account a still-valid link belongs to.
pub fn inspect(conn: &mut PgConnection, link_token: &str) -> Result<User, IdentityError> {
    if !token::is_well_formed(link_token) {
        return Err(IdentityError::SetupLinkInvalid);
    }
    let user_id: Option<Uuid> = setup_links::table
        .filter(setup_links::token_hash.eq(&token::hash(link_token)[..]))
        .filter(setup_links::used_at.is_null())
        .filter(setup_links::expires_at.gt(OffsetDateTime::now_utc()))
        .select(setup_links::user_id)
        .first(conn)
        .optional()?;
    let id = user_id.ok_or(IdentityError::SetupLinkInvalid)?;
    user::find(conn, id)?.ok_or(IdentityError::SetupLinkInvalid)
}

/// Spends the link and sets the password, atomically: of two concurrent redemptions
/// exactly one succeeds.
pub fn redeem(
    conn: &mut PgConnection,
    link_token: &str,
    password_hash: &str,
) -> Result<User, IdentityError> {
    if !token::is_well_formed(link_token) {
        return Err(IdentityError::SetupLinkInvalid);
    }
    let hash = token::hash(link_token);
    conn.transaction(|conn| {
        let now = OffsetDateTime::now_utc();
        let user_id: Uuid = diesel::update(
            setup_links::table
                .filter(setup_links::token_hash.eq(&hash[..]))
                .filter(setup_links::used_at.is_null())
                .filter(setup_links::expires_at.gt(now)),
        )
        .set(setup_links::used_at.eq(now))
        .returning(setup_links::user_id)
        .get_result(conn)
        .optional()?
        .ok_or(IdentityError::SetupLinkInvalid)?;
        user::set_password_hash(conn, user_id, password_hash)?;
        super::session::revoke_all(conn, user_id)?;
        user::find(conn, user_id)?.ok_or(IdentityError::SetupLinkInvalid)
    })
}
