//! A person's own account: changing the password, and resetting a forgotten one.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{ClientInfo, IdentityError, Passwords, User, password, session, setup_link, user};
use crate::audit::{self, Actor, Event, Outcome};
use crate::db::Db;
use crate::db::schema::setup_links;
use crate::secret::SecretString;

/// How soon a second reset email may follow the first (keeps inboxes from being flooded).
const RESET_RESEND_GAP: Duration = Duration::from_secs(60);

/// Changes the password after checking the current one; every other session of the
/// person ends, the one they are using stays.
pub async fn change_password(
    db: &Db,
    passwords: &Arc<Passwords>,
    who: &User,
    keep_session: Uuid,
    current: SecretString,
    new: SecretString,
    client: ClientInfo,
) -> Result<(), IdentityError> {
    password::check_policy(new.expose())?;
    let email = who.email.clone();
    let stored = db
        .run(move |conn| user::credentials_by_email(conn, &email).map_err(IdentityError::from))
        .await?
        .and_then(|(_, hash)| hash);
    if !passwords.verify(current, stored).await? {
        return Err(IdentityError::InvalidCredentials);
    }
    let hash = passwords.hash(new).await?;
    let user_id = who.id;
    db.run(move |conn| {
        conn.transaction(|conn| {
            user::set_password_hash(conn, user_id, &hash)?;
            let ended = session::revoke_others(conn, user_id, keep_session)?;
            audit::record(
                conn,
                &Event::new(
                    Actor::User(user_id),
                    "account.password_changed",
                    Outcome::Success,
                )
                .target(format!("user:{user_id}"))
                .client(&client)
                .details(serde_json::json!({ "other_sessions_ended": ended })),
            )?;
            Ok(())
        })
    })
    .await
}

/// Issues a reset link for an active account with this email, unless one was issued
/// in the last minute. Returns nothing for unknown emails: the caller answers the
/// same either way, so the form cannot be used to find accounts.
pub fn request_reset(
    conn: &mut PgConnection,
    raw_email: &str,
    ttl: Duration,
    client: &ClientInfo,
) -> Result<Option<(User, SecretString)>, IdentityError> {
    let email = raw_email.trim().to_lowercase();
    let Some(account) = user::find_by_email(conn, &email)?.filter(|u| u.active) else {
        return Ok(None);
    };
    let recent: bool = diesel::select(diesel::dsl::exists(
        setup_links::table
            .filter(setup_links::user_id.eq(account.id))
            .filter(setup_links::used_at.is_null())
            .filter(setup_links::created_at.gt(OffsetDateTime::now_utc() - RESET_RESEND_GAP)),
    ))
    .get_result(conn)?;
    if recent {
        return Ok(None);
    }
    conn.transaction(|conn| {
        let link = setup_link::issue(conn, account.id, ttl)?;
        audit::record(
            conn,
            &Event::new(
                Actor::Anonymous,
                "account.password_reset_requested",
                Outcome::Success,
            )
            .target(format!("user:{}", account.id))
            .client(client),
        )?;
        Ok(Some((account, link)))
    })
}
