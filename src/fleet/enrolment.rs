//! This server's enrolment with the fleet controller: asking for it (one POST with the
//! operator's one-time token) and keeping the answer, the satellite id and the signing
//! secret, sealed by the vault. Enrolling again replaces the previous enrolment.

use std::time::Duration;

use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::protocol::{ENROLL_PATH, EnrollRequest, EnrollResponse};
use crate::audit::{self, Actor, Event, Outcome};
use crate::db::schema::fleet_enrolment;
use crate::notify::signature::WebhookSecret;
use crate::vault::location::FLEET_SECRET;
use crate::vault::{Vault, VaultError};

pub const ENROLLED: &str = "fleet.enrolled";

/// An enrolment without a controller's answer within this long has failed.
const ENROLL_TIMEOUT: Duration = Duration::from_secs(30);

/// What the reporter signs with and whom it names.
#[derive(Debug, Clone)]
pub struct Enrolment {
    pub satellite_id: Uuid,
    pub controller_url: String,
    pub secret: WebhookSecret,
    pub interval_secs: u64,
    pub enrolled_at: OffsetDateTime,
}

#[derive(Debug, thiserror::Error)]
pub enum EnrolmentError {
    #[error("cannot reach the fleet controller at {url}: {cause}")]
    Unreachable { url: String, cause: String },
    #[error("the fleet controller refused the enrolment ({status}): {detail}")]
    Refused { status: u16, detail: String },
    #[error("the fleet controller's answer is not an enrolment: {0}")]
    BadAnswer(String),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("database: {0}")]
    Database(#[from] diesel::result::Error),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

/// Asks the controller at `controller_url` (no trailing slash) to enrol this server.
pub async fn request(
    client: &reqwest::Client,
    controller_url: &str,
    enroll: &EnrollRequest,
) -> Result<EnrollResponse, EnrolmentError> {
    let url = format!("{controller_url}{ENROLL_PATH}");
    let body = serde_json::to_vec(enroll).map_err(|e| EnrolmentError::BadAnswer(e.to_string()))?;
    let response = client
        .post(&url)
        .timeout(ENROLL_TIMEOUT)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| EnrolmentError::Unreachable {
            url: controller_url.to_owned(),
            cause: innermost(&e),
        })?;
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    if !status.is_success() {
        return Err(EnrolmentError::Refused {
            status: status.as_u16(),
            detail: problem_detail(&body)
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("no reason").to_owned()),
        });
    }
    let answer: EnrollResponse =
        serde_json::from_slice(&body).map_err(|e| EnrolmentError::BadAnswer(e.to_string()))?;
    WebhookSecret::parse(&answer.secret)
        .map_err(|e| EnrolmentError::BadAnswer(format!("secret: {e}")))?;
    crate::leak_guard::remember(&answer.secret);
    Ok(answer)
}

/// The `detail` (or else `title`) of a problem document.
pub fn problem_detail(body: &[u8]) -> Option<String> {
    let problem: serde_json::Value = serde_json::from_slice(body).ok()?;
    ["detail", "title"]
        .into_iter()
        .find_map(|key| problem.get(key)?.as_str().map(str::to_owned))
}

/// reqwest wraps the cause (connection refused, DNS, TLS) several levels deep.
pub fn innermost(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

/// Stores the controller's answer, replacing any earlier enrolment, and audits it in
/// the same transaction. Returns whether an earlier enrolment was replaced.
pub fn store(
    conn: &mut PgConnection,
    vault: &Vault,
    controller_url: &str,
    answer: &EnrollResponse,
) -> Result<bool, EnrolmentError> {
    let now = OffsetDateTime::now_utc();
    conn.transaction(|conn| {
        let replaced: Vec<Uuid> = diesel::delete(fleet_enrolment::table)
            .returning(fleet_enrolment::satellite_id)
            .get_results(conn)?;
        let sealed = vault.seal(
            conn,
            &FLEET_SECRET.at(answer.satellite_id),
            answer.secret.as_bytes(),
        )?;
        diesel::insert_into(fleet_enrolment::table)
            .values((
                fleet_enrolment::satellite_id.eq(answer.satellite_id),
                fleet_enrolment::controller_url.eq(controller_url),
                fleet_enrolment::secret_sealed.eq(&sealed),
                fleet_enrolment::interval_secs
                    .eq(i64::try_from(answer.interval_secs).unwrap_or(i64::MAX)),
                fleet_enrolment::enrolled_at.eq(now),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            &Event::new(Actor::Cli, ENROLLED, Outcome::Success)
                .target(answer.satellite_id.to_string())
                .details(json!({
                    "controller_url": controller_url,
                    "replaced": replaced,
                })),
        )?;
        Ok(!replaced.is_empty())
    })
}

/// The enrolment in force, its secret opened; none before `outpost fleet enroll`.
pub fn load(conn: &mut PgConnection, vault: &Vault) -> Result<Option<Enrolment>, EnrolmentError> {
    let row: Option<(Uuid, String, String, i64, OffsetDateTime)> = fleet_enrolment::table
        .select((
            fleet_enrolment::satellite_id,
            fleet_enrolment::controller_url,
            fleet_enrolment::secret_sealed,
            fleet_enrolment::interval_secs,
            fleet_enrolment::enrolled_at,
        ))
        .first(conn)
        .optional()?;
    let Some((satellite_id, controller_url, sealed, interval_secs, enrolled_at)) = row else {
        return Ok(None);
    };
    let plain = vault.open(&FLEET_SECRET.at(satellite_id), &sealed)?;
    let text = std::str::from_utf8(&plain).map_err(|_| VaultError::Malformed)?;
    let secret = WebhookSecret::parse(text).map_err(|_| VaultError::Malformed)?;
    Ok(Some(Enrolment {
        satellite_id,
        controller_url,
        secret,
        interval_secs: u64::try_from(interval_secs).unwrap_or_default(),
        enrolled_at,
    }))
}
