//! The delivery worker: sends every due delivery, signed, and records how it went.
//!
//! A 2xx answer delivers it. Anything else (another status, a refused connection, a
//! timeout, a redirect, which is never followed) counts as one failed attempt and the
//! next waits out [`BACKOFF`]; once that is used up the delivery is marked failed.
//! The worker takes `now` as an argument, so a test can step through the schedule.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{WebhookError, endpoints};
use crate::db::Db;
use crate::db::schema::{webhook_deliveries as deliveries, webhook_endpoints as hooks};
use crate::notify::signature::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use crate::vault::Vault;

/// The wait after each failed attempt: the first retry comes 30 s after the first
/// failure; a sixth failure gives up.
pub const BACKOFF: [Duration; 5] = [
    Duration::from_secs(30),
    Duration::from_secs(2 * 60),
    Duration::from_secs(10 * 60),
    Duration::from_secs(60 * 60),
    Duration::from_secs(6 * 60 * 60),
];
/// How often `outpost serve` looks for due deliveries.
pub const POLL_EVERY: Duration = Duration::from_secs(5);
/// Deliveries sent per pass; the rest wait for the next one.
const BATCH: i64 = 50;
/// How long the log keeps deliveries that are done with (delivered or given up).
pub const LOG_KEPT: Duration = Duration::from_secs(30 * 86_400);
/// How often the worker prunes the log.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How much of a failing receiver's answer is kept for the log.
const ERROR_CHARS: usize = 300;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub delivered: usize,
    pub retrying: usize,
    pub failed: usize,
}

/// The HTTP client deliveries go out with: short timeouts, no redirects.
pub fn client() -> reqwest::Client {
    crate::backup_target::s3::install_tls_provider();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Outpost-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with no custom TLS settings always builds")
}

/// A due delivery and where it goes.
struct Due {
    id: Uuid,
    endpoint: Uuid,
    url: String,
    message_id: String,
    payload: serde_json::Value,
    attempts: i32,
}

/// Sends every delivery due at `now` to its (enabled) endpoint.
pub async fn deliver_due(
    db: &Db,
    vault: &Arc<Vault>,
    client: &reqwest::Client,
    now: OffsetDateTime,
) -> Result<Pass, WebhookError> {
    let due = db
        .run(move |conn| {
            deliveries::table
                .inner_join(hooks::table)
                .filter(deliveries::status.eq("pending"))
                .filter(deliveries::next_attempt_at.le(now))
                .filter(hooks::enabled.eq(true))
                .order(deliveries::next_attempt_at.asc())
                .limit(BATCH)
                .select((
                    deliveries::id,
                    deliveries::endpoint_id,
                    hooks::url,
                    deliveries::message_id,
                    deliveries::payload,
                    deliveries::attempts,
                ))
                .load::<(Uuid, Uuid, String, String, serde_json::Value, i32)>(conn)
                .map_err(WebhookError::from)
        })
        .await?;
    let mut pass = Pass::default();
    for (id, endpoint, url, message_id, payload, attempts) in due {
        let due = Due {
            id,
            endpoint,
            url,
            message_id,
            payload,
            attempts,
        };
        let vault = Arc::clone(vault);
        let secret = db
            .run(move |conn| endpoints::secret(conn, &vault, endpoint))
            .await?;
        let answer = send(client, &due, &secret, now).await;
        let attempts = due.attempts + 1;
        let outcome = Outcome::of(answer, attempts, now);
        match outcome.status {
            "delivered" => pass.delivered += 1,
            "failed" => pass.failed += 1,
            _ => pass.retrying += 1,
        }
        if outcome.status != "delivered" {
            tracing::warn!(delivery = %due.id, endpoint = %due.endpoint, attempts, error = outcome.error.as_deref().unwrap_or_default(), "webhook delivery attempt failed");
        }
        db.run(move |conn| outcome.record(conn, due.id, attempts))
            .await?;
    }
    Ok(pass)
}

/// The receiver's status, or why there was none.
type Answer = Result<u16, String>;

async fn send(
    client: &reqwest::Client,
    due: &Due,
    secret: &crate::notify::signature::WebhookSecret,
    now: OffsetDateTime,
) -> Answer {
    // Checked again at sending: the rule must hold for rows however they were written.
    endpoints::check_url(&due.url).map_err(|e| e.to_string())?;
    let body = serde_json::to_vec(&due.payload).map_err(|e| e.to_string())?;
    let timestamp = now.unix_timestamp();
    let signature = secret.sign(&due.message_id, timestamp, &body);
    let response = client
        .post(&due.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(HEADER_ID, &due.message_id)
        .header(HEADER_TIMESTAMP, timestamp.to_string())
        .header(HEADER_SIGNATURE, signature)
        .body(body)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    Ok(response.status().as_u16())
}

/// reqwest's error with its causes, which say what actually failed (refused, timed out).
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        text = format!("{text}: {inner}");
        cause = inner.source();
    }
    text.chars().take(ERROR_CHARS).collect()
}

/// How an attempt ends, as stored.
struct Outcome {
    status: &'static str,
    http_status: Option<i32>,
    error: Option<String>,
    next_attempt_at: Option<OffsetDateTime>,
    delivered_at: Option<OffsetDateTime>,
}

impl Outcome {
    fn of(answer: Answer, attempts: i32, now: OffsetDateTime) -> Self {
        let (http_status, error) = match answer {
            Ok(code) if (200..300).contains(&code) => {
                return Self {
                    status: "delivered",
                    http_status: Some(code.into()),
                    error: None,
                    next_attempt_at: None,
                    delivered_at: Some(now),
                };
            }
            Ok(code) if (300..400).contains(&code) => (
                Some(code.into()),
                format!("HTTP {code}: redirects are not followed"),
            ),
            Ok(code) => (Some(code.into()), format!("HTTP {code}")),
            Err(why) => (None, why),
        };
        let wait = usize::try_from(attempts - 1)
            .ok()
            .and_then(|i| BACKOFF.get(i));
        Self {
            status: if wait.is_some() { "pending" } else { "failed" },
            http_status,
            error: Some(error),
            next_attempt_at: wait.map(|w| now + *w),
            delivered_at: None,
        }
    }

    fn record(self, conn: &mut PgConnection, id: Uuid, attempts: i32) -> Result<(), WebhookError> {
        diesel::update(deliveries::table.find(id))
            .set((
                deliveries::status.eq(self.status),
                deliveries::attempts.eq(attempts),
                deliveries::last_status.eq(self.http_status),
                deliveries::last_error.eq(self.error),
                deliveries::next_attempt_at.eq(self.next_attempt_at),
                deliveries::delivered_at.eq(self.delivered_at),
            ))
            .execute(conn)?;
        Ok(())
    }
}

/// Deletes deliveries finished (delivered or failed) more than [`LOG_KEPT`] before
/// `now`; pending ones stay whatever their age (a disabled endpoint's wait for it).
pub fn prune(conn: &mut PgConnection, now: OffsetDateTime) -> QueryResult<usize> {
    let before = now - LOG_KEPT;
    diesel::delete(
        deliveries::table
            .filter(deliveries::status.ne("pending"))
            .filter(deliveries::created_at.lt(before))
            .filter(
                deliveries::delivered_at
                    .lt(before)
                    .or(deliveries::delivered_at.is_null()),
            ),
    )
    .execute(conn)
}

/// The worker of `outpost serve`: a pass every [`POLL_EVERY`] and the log pruned
/// every hour, for as long as the process runs. A failing pass is logged and tried
/// again at the next.
pub async fn run(db: Db, vault: Arc<Vault>) {
    let client = client();
    let mut ticks = tokio::time::interval(POLL_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pruned_at: Option<std::time::Instant> = None;
    loop {
        ticks.tick().await;
        if pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            pruned_at = Some(std::time::Instant::now());
            let pruning =
                db.run(|conn| Ok::<_, crate::db::DbError>(prune(conn, OffsetDateTime::now_utc())?));
            match pruning.await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "old webhook deliveries pruned"),
                Err(error) => tracing::error!(%error, "webhook delivery log not pruned"),
            }
        }
        match deliver_due(&db, &vault, &client, OffsetDateTime::now_utc()).await {
            Ok(pass) if pass != Pass::default() => {
                tracing::info!(
                    delivered = pass.delivered,
                    retrying = pass.retrying,
                    failed = pass.failed,
                    "webhook deliveries sent"
                )
            }
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "webhook delivery pass failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_back_off_then_give_up() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let first = Outcome::of(Ok(500), 1, now);
        assert_eq!(first.status, "pending");
        assert_eq!(first.next_attempt_at, Some(now + Duration::from_secs(30)));
        let fifth = Outcome::of(Err("refused".into()), 5, now);
        assert_eq!(
            fifth.next_attempt_at,
            Some(now + Duration::from_secs(6 * 3600))
        );
        let sixth = Outcome::of(Ok(503), 6, now);
        assert_eq!((sixth.status, sixth.next_attempt_at), ("failed", None));
        let redirect = Outcome::of(Ok(302), 1, now);
        assert!(redirect.error.unwrap().contains("not followed"));
        assert_eq!(Outcome::of(Ok(204), 1, now).status, "delivered");
    }
}
