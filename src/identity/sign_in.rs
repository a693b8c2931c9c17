//! Signing in and completing account setup: the flows that combine a password check
//! (slow, bounded) with database work (sessions, audit entries).

use std::sync::Arc;
use std::time::Duration;

use diesel::{Connection, PgConnection};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::session::{self, NewSession, SessionPolicy};
use super::throttle::{self, Subject, ThrottlePolicy};
use super::totp::{self, TotpError};
use super::{
    ClientInfo, IdentityError, Passwords, User, mfa_challenge, password, recovery_codes,
    setup_link, sign_in_probe, team,
};
use crate::audit::{self, Actor, Event, Outcome};
use crate::db::Db;
use crate::secret::SecretString;
use crate::vault::Vault;

/// Everything that shapes a sign-in, taken from the configuration.
#[derive(Debug, Clone)]
pub struct SignInPolicy {
    pub session: SessionPolicy,
    pub throttle: ThrottlePolicy,
    pub mfa_challenge_ttl: Duration,
}

#[derive(Debug)]
pub enum SignInOutcome {
    SignedIn {
        user: User,
        session: NewSession,
    },
    /// The password was right; a second factor must follow within the challenge's life.
    SecondFactorRequired {
        challenge: SecretString,
    },
}

/// Checks the credentials. An unknown email and a wrong password cost the same time
/// and produce the same error; repeated failures from one address or against one
/// account are slowed down (not locked out) before any password is hashed.
pub async fn sign_in(
    db: &Db,
    passwords: &Arc<Passwords>,
    policy: &SignInPolicy,
    raw_email: &str,
    password: SecretString,
    client: ClientInfo,
) -> Result<SignInOutcome, IdentityError> {
    let email = raw_email.trim().to_lowercase();
    let address = client.ip.clone().unwrap_or_else(|| "unknown".into());
    let (lookup, addr) = (email.clone(), address.clone());
    let found = db
        .run(move |conn| {
            let subjects = [Subject::Address(&addr), Subject::Account(&lookup)];
            if let Some(wait) = throttle::retry_after(conn, &subjects, OffsetDateTime::now_utc())? {
                return Err(IdentityError::Throttled { retry_after: wait });
            }
            Ok(super::user::credentials_by_email(conn, &lookup)?)
        })
        .await?;
    let (user, stored) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    let verified = passwords.verify(password, stored).await?;
    let throttle_policy = policy.throttle;
    let Some(user) = user.filter(|_| verified) else {
        let event = Event::new(Actor::Anonymous, "session.sign_in", Outcome::Failure)
            .target(sign_in_probe::target(&email))
            .client(&client);
        // One transaction, one flush: both back-off counters and the audit entry.
        let (addr, account) = (address.clone(), email.clone());
        let probe = db
            .run(move |conn| {
                conn.transaction(|conn| {
                    let now = OffsetDateTime::now_utc();
                    throttle::record_failure(conn, Subject::Address(&addr), &throttle_policy, now)?;
                    throttle::record_failure(
                        conn,
                        Subject::Account(&account),
                        &throttle_policy,
                        now,
                    )?;
                    audit::record(conn, &event)?;
                    sign_in_probe::is_announced(conn, &account, now)
                })
                .map_err(IdentityError::from)
            })
            .await;
        // Logged even when the database failed: fail2ban must still see the attempt.
        if matches!(probe, Ok(true)) {
            tracing::info!(account = %email, "the security loop's sign-in probe was refused");
        } else {
            log_failure(&address, &email);
        }
        probe?;
        return Err(IdentityError::InvalidCredentials);
    };
    let session_policy = policy.session;
    let challenge_ttl = policy.mfa_challenge_ttl;
    db.run(move |conn| {
        conn.transaction(|conn| {
            // Only the account is vouched for: clearing the address too would let someone
            // with an account of their own reset their address's back-off between guesses.
            throttle::record_success(conn, &[Subject::Account(&email)])?;
            if totp::is_enrolled(conn, user.id)? {
                let challenge = mfa_challenge::create(conn, user.id, challenge_ttl)?;
                return Ok(SignInOutcome::SecondFactorRequired { challenge });
            }
            let session = open_session(conn, user.id, &session_policy, &client, json!({}))?;
            Ok(SignInOutcome::SignedIn { user, session })
        })
    })
    .await
}

/// The one line each failed sign-in logs, in the fixed shape fail2ban's `outpost`
/// filter matches (`templates/host/fail2ban-filter.conf`). The account is escaped: the
/// client typed it, and a newline in it must not start a forged line naming another
/// address.
pub fn log_failure(client_ip: &str, account: &str) {
    tracing::warn!(client_ip = %client_ip, account = %account.escape_debug(), "authentication failure");
}

/// Finishes a sign-in with a TOTP code (six digits) or a recovery code.
pub async fn complete_second_factor(
    db: &Db,
    vault: &Arc<Vault>,
    policy: SessionPolicy,
    challenge: SecretString,
    code: String,
    client: ClientInfo,
) -> Result<(User, NewSession), IdentityError> {
    let vault = Arc::clone(vault);
    db.run(move |conn| {
        let user_id = mfa_challenge::user_of(conn, challenge.expose())?
            .ok_or(IdentityError::ChallengeExpired)?;
        let user = super::user::find(conn, user_id)?.ok_or(IdentityError::ChallengeExpired)?;
        let code = code.trim().to_owned();
        let is_totp = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
        let checked = if is_totp {
            totp::verify(conn, &vault, user_id, &code, totp::unix_now()).map(|()| "totp")
        } else if recovery_codes::redeem(conn, user_id, &code)? {
            Ok("recovery_code")
        } else {
            Err(TotpError::InvalidCode)
        };
        let method = match checked {
            Ok(method) => method,
            Err(error) => {
                mfa_challenge::record_failure(conn, challenge.expose())?;
                let reused = matches!(error, TotpError::Reused);
                audit::record(
                    conn,
                    &Event::new(
                        Actor::User(user_id),
                        "session.second_factor",
                        Outcome::Failure,
                    )
                    .client(&client)
                    .details(
                        json!({ "reason": if reused { "code_reused" } else { "invalid_code" } }),
                    ),
                )?;
                return Err(if reused {
                    IdentityError::CodeReused(Box::new(user))
                } else {
                    IdentityError::from(error)
                });
            }
        };
        conn.transaction(|conn| {
            if !mfa_challenge::consume(conn, challenge.expose())? {
                return Err(IdentityError::ChallengeExpired);
            }
            let details = json!({ "second_factor": method });
            let session = open_session(conn, user_id, &policy, &client, details)?;
            Ok((user, session))
        })
    })
    .await
}

/// A new session and its `session.sign_in` audit entry: the one way a sign-in ends.
fn open_session(
    conn: &mut PgConnection,
    user_id: Uuid,
    policy: &SessionPolicy,
    client: &ClientInfo,
    details: serde_json::Value,
) -> Result<NewSession, IdentityError> {
    let session = session::create(conn, user_id, policy, client)?;
    audit::record(
        conn,
        &Event::new(Actor::User(user_id), "session.sign_in", Outcome::Success)
            .target(format!("user:{user_id}"))
            .client(client)
            .details(details),
    )?;
    Ok(session)
}

/// When each account last signed in, from the `session.sign_in` audit entries (which
/// outlive the sessions they opened). Accounts that never signed in are absent.
pub fn last_sign_ins(
    conn: &mut PgConnection,
) -> diesel::QueryResult<std::collections::HashMap<Uuid, OffsetDateTime>> {
    use crate::db::schema::audit_events as events;
    use diesel::prelude::*;
    let rows: Vec<(String, Option<OffsetDateTime>)> = events::table
        .filter(events::action.eq("session.sign_in"))
        .filter(events::outcome.eq("success"))
        .group_by(events::actor)
        .select((events::actor, diesel::dsl::max(events::occurred_at)))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(actor, at)| {
            let id = actor.strip_prefix("user:")?.parse().ok()?;
            Some((id, at?))
        })
        .collect())
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

/// Sets the first password through a setup link, spending it.
pub async fn complete_setup(
    db: &Db,
    passwords: &Arc<Passwords>,
    link_token: SecretString,
    new_password: SecretString,
    client: ClientInfo,
) -> Result<User, IdentityError> {
    let probe = link_token.clone();
    set_password_by_link(
        db,
        passwords,
        new_password,
        move |conn| setup_link::inspect(conn, probe.expose()).map(drop),
        move |conn, hash| {
            conn.transaction(|conn| {
                let user = setup_link::redeem(conn, link_token.expose(), hash)?;
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
        },
    )
    .await
}

/// Joins through an invitation: the new account is created as the link is spent.
pub async fn join(
    db: &Db,
    passwords: &Arc<Passwords>,
    link_token: SecretString,
    new_password: SecretString,
    client: ClientInfo,
) -> Result<User, IdentityError> {
    let probe = link_token.clone();
    set_password_by_link(
        db,
        passwords,
        new_password,
        move |conn| {
            team::inspect_invitation(conn, probe.expose())
                .map(drop)
                .map_err(IdentityError::from)
        },
        move |conn, hash| {
            team::accept_invitation(conn, link_token.expose(), hash, &client)
                .map_err(IdentityError::from)
        },
    )
    .await
}

/// Chooses a password through a one-time link: the policy and the link are checked
/// before the (expensive) hash, and `spend` uses the link up (atomically) after it.
async fn set_password_by_link(
    db: &Db,
    passwords: &Arc<Passwords>,
    new_password: SecretString,
    check: impl FnOnce(&mut PgConnection) -> Result<(), IdentityError> + Send + 'static,
    spend: impl FnOnce(&mut PgConnection, &str) -> Result<User, IdentityError> + Send + 'static,
) -> Result<User, IdentityError> {
    password::check_policy(new_password.expose())?;
    db.run(check).await?;
    let hash = passwords.hash(new_password).await?;
    db.run(move |conn| spend(conn, &hash)).await
}
