//! Signing in and completing account setup: the flows that combine a password check
//! (slow, bounded) with database work (sessions, audit entries).

use std::sync::Arc;

use diesel::Connection;
use serde_json::json;

use super::session::{self, NewSession, SessionPolicy};
use super::{ClientInfo, IdentityError, Passwords, User, password, setup_link};
use crate::audit::{self, Actor, Event, Outcome};
use crate::db::Db;
use crate::secret::SecretString;

/// Checks the credentials and opens a new session. An unknown email and a wrong
/// password cost the same time and produce the same error.
pub async fn sign_in(
    db: &Db,
    passwords: &Arc<Passwords>,
    policy: SessionPolicy,
    raw_email: &str,
    password: SecretString,
    client: ClientInfo,
) -> Result<(User, NewSession), IdentityError> {
    let email = raw_email.trim().to_lowercase();
    let lookup = email.clone();
    let found = db
        .run(move |conn| {
            super::user::credentials_by_email(conn, &lookup).map_err(IdentityError::from)
        })
        .await?;
    let (user, stored) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    let verified = passwords.verify(password, stored).await?;
    let Some(user) = user.filter(|_| verified) else {
        // One line per failure, in a fixed shape that fail2ban can match.
        tracing::warn!(
            client_ip = client.ip.as_deref().unwrap_or("-"),
            account = %email,
            "authentication failure"
        );
        let event = Event::new(Actor::Anonymous, "session.sign_in", Outcome::Failure)
            .target(format!("email:{email}"))
            .client(&client);
        db.run(move |conn| audit::record(conn, &event).map_err(IdentityError::from))
            .await?;
        return Err(IdentityError::InvalidCredentials);
    };
    db.run(move |conn| {
        conn.transaction(|conn| {
            let new = session::create(conn, user.id, &policy, &client)?;
            audit::record(
                conn,
                &Event::new(Actor::User(user.id), "session.sign_in", Outcome::Success)
                    .target(format!("user:{}", user.id))
                    .client(&client),
            )?;
            Ok((user, new))
        })
    })
    .await
}

/// Ends the session behind `token`, recording who signed out.
pub async fn sign_out(
    db: &Db,
    user: &User,
    token: SecretString,
    client: ClientInfo,
) -> Result<(), IdentityError> {
    let user_id = user.id;
    db.run(move |conn| {
        conn.transaction(|conn| {
            session::revoke(conn, token.expose())?;
            audit::record(
                conn,
                &Event::new(Actor::User(user_id), "session.sign_out", Outcome::Success)
                    .client(&client),
            )?;
            Ok(())
        })
    })
    .await
}

/// Sets the first password through a setup link. The link is checked before the
/// (expensive) hash and spent atomically after it.
pub async fn complete_setup(
    db: &Db,
    passwords: &Arc<Passwords>,
    link_token: SecretString,
    new_password: SecretString,
    client: ClientInfo,
) -> Result<User, IdentityError> {
    password::check_policy(new_password.expose())?;
    let probe = link_token.clone();
    db.run(move |conn| setup_link::inspect(conn, probe.expose()))
        .await?;
    let hash = passwords.hash(new_password).await?;
    db.run(move |conn| {
        conn.transaction(|conn| {
            let user = setup_link::redeem(conn, link_token.expose(), &hash)?;
            audit::record(
                conn,
                &Event::new(
                    Actor::User(user.id),
                    "account.setup_completed",
                    Outcome::Success,
                )
                .target(format!("user:{}", user.id))
                .client(&client)
                .details(json!({ "email": user.email })),
            )?;
            Ok(user)
        })
    })
    .await
}
