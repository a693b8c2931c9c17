//! Keeping the served certificate current inside `outpost serve`: check it, order a
//! new one when it is due (or when `outpost tls renew` asks), install it where the
//! listener reloads it from, and retry failures with growing pauses, each logged and
//! audited. The expiry itself is also reported by the security loop's certificate
//! check, whatever goes wrong here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;

use super::challenges::Challenges;
use super::order;
use super::settings::AcmeSettings;
use super::status::{self, CertificateStatus};
use super::store;
use crate::audit::{self, Actor, Event, Outcome};
use crate::db::Db;

/// How often the loop looks for a renewal request from the command line.
const REQUEST_POLL: Duration = Duration::from_secs(2);
/// The longest the loop sleeps without looking at the certificate again (someone
/// may have replaced the files by hand).
const RECHECK: Duration = Duration::from_secs(3600);
/// Pauses after failures: 1 min, doubling, at most 6 h (Let's Encrypt allows five
/// failed validations per name and hour).
const FIRST_RETRY: Duration = Duration::from_secs(60);
const LONGEST_RETRY: Duration = Duration::from_secs(6 * 3600);

/// What a renewal needs.
#[derive(Debug, Clone)]
pub struct Renewer {
    pub settings: AcmeSettings,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub data_dir: PathBuf,
    pub challenges: Challenges,
    pub db: Db,
}

impl Renewer {
    /// Makes sure the listener has a pair to start with: the files as they are if
    /// they load, else a placeholder the first order then replaces.
    pub fn ensure_servable(&self) -> Result<(), String> {
        let provider = crate::tls::provider();
        if crate::tls::certificate::load_pair(&self.cert_file, &self.key_file, &provider).is_ok() {
            return Ok(());
        }
        tracing::warn!(
            cert_file = %self.cert_file.display(),
            "no usable certificate yet: serving a self-signed placeholder until the CA issues one"
        );
        status::write_placeholder(&self.cert_file, &self.key_file, &self.settings.domains)
    }

    /// Runs for as long as the server does.
    pub async fn run(self) {
        let mut failures = 0u32;
        loop {
            let requested = take_request(&self.data_dir);
            let reason = match requested {
                true => Some("renewal requested with `outpost tls renew`".to_owned()),
                false => self.reason(OffsetDateTime::now_utc()),
            };
            let pause = match reason {
                None => {
                    failures = 0;
                    self.until_due()
                }
                Some(reason) => match self.renew(&reason, Actor::System).await {
                    Ok(_) => {
                        failures = 0;
                        continue;
                    }
                    Err(error) => {
                        failures += 1;
                        let pause = back_off(failures);
                        tracing::error!(
                            %error,
                            failures,
                            retry_in = %humantime::format_duration(pause),
                            "TLS certificate renewal failed"
                        );
                        pause
                    }
                },
            };
            self.sleep(pause).await;
        }
    }

    /// Why the served certificate needs replacing now, if it does.
    pub fn reason(&self, now: OffsetDateTime) -> Option<String> {
        match CertificateStatus::read(&self.cert_file) {
            Ok(status) => {
                status.renewal_reason(&self.settings.domains, self.settings.renew_before, now)
            }
            Err(e) => Some(format!("the certificate file does not load: {e}")),
        }
    }

    fn until_due(&self) -> Duration {
        let due = CertificateStatus::read(&self.cert_file)
            .map(|s| s.due_at(self.settings.renew_before) - OffsetDateTime::now_utc());
        match due {
            Ok(left) => left.try_into().unwrap_or(Duration::ZERO).min(RECHECK),
            Err(_) => RECHECK,
        }
    }

    /// Sleeps `pause`, cut short by a request from the command line.
    async fn sleep(&self, pause: Duration) {
        let request = store::renew_request_file(&self.data_dir);
        let until = tokio::time::Instant::now() + pause;
        while tokio::time::Instant::now() < until {
            if request.exists() {
                return;
            }
            tokio::time::sleep(REQUEST_POLL.min(until - tokio::time::Instant::now())).await;
        }
    }

    /// Orders a certificate and installs it; audits the outcome either way.
    pub async fn renew(&self, reason: &str, actor: Actor) -> Result<CertificateStatus, String> {
        tracing::info!(domains = ?self.settings.domains, reason, "ordering a TLS certificate");
        let result = self.order_and_install().await;
        let mut details = json!({
            "domains": self.settings.domains,
            "directory_url": self.settings.directory_url,
            "reason": reason,
        });
        match &result {
            Ok(status) => {
                details["serial"] = json!(status.serial);
                details["issuer"] = json!(status.issuer);
                details["not_after"] = json!(status.not_after.to_string());
                tracing::info!(
                    serial = %status.serial,
                    issuer = %status.issuer,
                    not_after = %status.not_after,
                    "TLS certificate issued and installed"
                );
            }
            Err(error) => details["error"] = json!(error),
        }
        let outcome = match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        };
        let event = Event::new(actor, "tls.certificate_renewed", outcome)
            .target(self.cert_file.display().to_string())
            .details(details);
        if let Err(e) = record(&self.db, event).await {
            tracing::error!(error = %e, "cannot audit the certificate renewal");
        }
        result
    }

    async fn order_and_install(&self) -> Result<CertificateStatus, String> {
        let issued = order::obtain(&self.settings, &self.data_dir, &self.challenges).await?;
        store::install_pair(
            &self.cert_file,
            &self.key_file,
            &issued.chain_pem,
            &issued.key_pem,
        )?;
        CertificateStatus::read(&self.cert_file).map_err(|e| e.to_string())
    }
}

/// Asks the running server for a renewal (read by its loop within seconds).
pub fn request(data_dir: &Path) -> Result<(), String> {
    store::ensure_private_dir(&store::dir(data_dir))?;
    let path = store::renew_request_file(data_dir);
    std::fs::write(&path, b"").map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Whether a renewal was asked for, clearing the request.
fn take_request(data_dir: &Path) -> bool {
    std::fs::remove_file(store::renew_request_file(data_dir)).is_ok()
}

fn back_off(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_RETRY
        .saturating_mul(1 << doublings)
        .min(LONGEST_RETRY)
}

/// Audits from the async loop without blocking its thread on the database.
async fn record(db: &Db, event: Event) -> Result<(), String> {
    let db = db.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = db.get().map_err(|e| e.to_string())?;
        audit::record(&mut conn, &event).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_from_a_minute_up_to_six_hours() {
        assert_eq!(back_off(1), Duration::from_secs(60));
        assert_eq!(back_off(2), Duration::from_secs(120));
        assert_eq!(back_off(4), Duration::from_secs(480));
        assert_eq!(back_off(40), LONGEST_RETRY);
    }

    #[test]
    fn a_request_is_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!take_request(dir.path()));
        request(dir.path()).unwrap();
        assert!(take_request(dir.path()));
        assert!(!take_request(dir.path()));
    }
}
