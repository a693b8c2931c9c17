//! Enrolment: an operator creates a one-time token for a new satellite (only its
//! SHA-256 is stored); the satellite redeems it once, before it expires, for its id
//! and its own signing secret, which the controller keeps sealed by the vault.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::prelude::*;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::audit::{self, Actor, Event, Outcome};
use crate::db::schema::{fleet_enrolment_tokens as tokens, fleet_satellites};
use crate::fleet::protocol::EnrollRequest;
use crate::notify::signature::WebhookSecret;
use crate::vault::{Vault, VaultError, location};

const TOKEN_PREFIX: &str = "fet_";

/// Who the token is for.
#[derive(Debug, Clone)]
pub struct TokenFor {
    pub name: String,
    pub client: String,
    pub region: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    #[error("the token is unknown, already used or expired")]
    TokenRefused,
    #[error("a satellite named `{0}` is already enrolled")]
    NameTaken(String),
    #[error("vault: {0}")]
    Vault(#[from] VaultError),
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.trim().as_bytes()).to_vec()
}

/// Stores a new token valid for `ttl` from `now`, audited; returns it, shown this once.
pub fn create_token(
    conn: &mut PgConnection,
    who: &TokenFor,
    ttl: Duration,
    now: OffsetDateTime,
) -> Result<Zeroizing<String>, EnrolError> {
    let mut random = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut *random).expect("the system's random source");
    let token = Zeroizing::new(format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(*random)));
    let id = Uuid::new_v4();
    conn.transaction(|conn| {
        diesel::insert_into(tokens::table)
            .values((
                tokens::id.eq(id),
                tokens::token_sha256.eq(digest(&token)),
                tokens::name.eq(&who.name),
                tokens::client.eq(&who.client),
                tokens::region.eq(&who.region),
                tokens::created_at.eq(now),
                tokens::expires_at.eq(now + ttl),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            &Event::new(Actor::Cli, "fleet.token_created", Outcome::Success)
                .target(format!("enrolment_token:{id}"))
                .details(serde_json::json!({
                    "name": who.name, "client": who.client, "region": who.region,
                    "expires_in_secs": ttl.as_secs(),
                })),
        )?;
        Ok::<_, EnrolError>(())
    })?;
    Ok(token)
}

/// A satellite just enrolled.
#[derive(Debug)]
pub struct Enrolled {
    pub satellite_id: Uuid,
    pub secret: WebhookSecret,
}

/// Redeems `request.token` at `now`: marks it used and creates the satellite with a
/// fresh secret, all in one transaction, so a token enrols exactly one satellite.
pub fn redeem(
    conn: &mut PgConnection,
    vault: &Vault,
    request: &EnrollRequest,
    now: OffsetDateTime,
) -> Result<Enrolled, EnrolError> {
    conn.transaction(|conn| {
        let satellite_id = Uuid::new_v4();
        let claimed: Option<(String, String, Option<String>)> = diesel::update(
            tokens::table
                .filter(tokens::token_sha256.eq(digest(&request.token)))
                .filter(tokens::used_at.is_null())
                .filter(tokens::expires_at.gt(now)),
        )
        .set((
            tokens::used_at.eq(now),
            tokens::satellite_id.eq(satellite_id),
        ))
        .returning((tokens::name, tokens::client, tokens::region))
        .get_result(conn)
        .optional()?;
        let (name, client, region) = claimed.ok_or(EnrolError::TokenRefused)?;
        let taken = fleet_satellites::table
            .filter(fleet_satellites::name.eq(&name))
            .count()
            .get_result::<i64>(conn)?;
        if taken > 0 {
            return Err(EnrolError::NameTaken(name));
        }
        let secret = WebhookSecret::generate();
        let at = location::SATELLITE_SECRET.at(satellite_id);
        let sealed = vault.seal(conn, &at, secret.expose().as_bytes())?;
        diesel::insert_into(fleet_satellites::table)
            .values((
                fleet_satellites::id.eq(satellite_id),
                fleet_satellites::name.eq(&name),
                fleet_satellites::client.eq(&client),
                fleet_satellites::region.eq(region.or_else(|| request.region.clone())),
                fleet_satellites::provisioned_at.eq(now),
                fleet_satellites::version.eq(&request.version),
                fleet_satellites::secret_sealed.eq(&sealed),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            &Event::new(Actor::System, "fleet.satellite_enrolled", Outcome::Success)
                .target(format!("satellite:{satellite_id}"))
                .details(serde_json::json!({
                    "name": name, "client": client,
                    "reported_name": request.name, "version": request.version,
                })),
        )?;
        Ok(Enrolled {
            satellite_id,
            secret,
        })
    })
}
