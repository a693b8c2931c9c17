//! Hardening drift, as the root `outpost harden --check` timer last recorded it (a scan
//! runs unprivileged and cannot read what root reads): one finding per drifted
//! setting, and one per control the check could not run, or a host never checked.
//!
//! Its remedy (`scan.reapply_drift`): ask the root timer to re-apply each drifted
//! control (`host::requests`). The findings stay open until root has done it; the
//! timer then resolves them as fixed by Outpost.

use diesel::PgConnection;
use serde_json::json;

use super::super::{Check, CheckError, Context, Found, Severity};
use crate::audit::{self, Actor, Event, Outcome};
use crate::host::requests::{self, Asked};
use crate::host::status;

/// A check older than this means the nightly timer is not running.
const STALE_AFTER: time::Duration = time::Duration::hours(36);

/// The host's hardening below `root` (`/` on a server; image builds and tests record
/// runs against other roots, which are not this host).
#[derive(Debug)]
pub struct Drift {
    pub root: std::path::PathBuf,
}

impl Check for Drift {
    fn id(&self) -> &'static str {
        "defensive.hardening_drift"
    }

    fn title(&self) -> &'static str {
        "Host hardening matches the baseline"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let mut conn = cx.db.get()?;
        let checks = status::latest(&mut conn)?;
        let root = self.root.display().to_string();
        let on_host: Vec<_> = checks.iter().filter(|c| c.root == root).collect();
        let mut found = Vec::new();
        if on_host.is_empty() {
            found.push(Found::new(
                "harden:never",
                Severity::Medium,
                "The host's hardening has never been checked",
                format!("no `outpost harden --check` result for {root} is recorded; enable outpost-harden.timer"),
            ));
        }
        for check in on_host {
            if cx.now - check.checked_at > STALE_AFTER {
                found.push(Found::new(
                    format!("harden:{}:stale", check.control),
                    Severity::Low,
                    format!("The {} control was last checked long ago", check.control),
                    format!("last checked {}", check.checked_at),
                ));
            }
            if let Some(error) = &check.error {
                found.push(Found::new(
                    format!("harden:{}:error", check.control),
                    Severity::Medium,
                    format!("The {} control could not be checked", check.control),
                    error.clone(),
                ));
            }
            let remedy = if check.drift.is_empty() || !cx.config.scan.reapply_drift {
                None
            } else {
                Some(ask_root(&mut conn, &check.control, cx.now)?)
            };
            for drift in &check.drift {
                let subject = format!(
                    "harden:{}:{}:{}",
                    check.control,
                    drift.path.as_deref().unwrap_or("-"),
                    drift.key.as_deref().unwrap_or("-")
                );
                found.push(Found::new(
                    subject,
                    Severity::High,
                    format!("The host drifted from the {} baseline", check.control),
                    match remedy {
                        None => drift.to_string(),
                        Some(remedy) => format!("{drift}; {remedy}"),
                    },
                ));
            }
        }
        Ok(found)
    }
}

/// Queues the re-apply of `control` (audited when a request is new) and says what
/// became of the remedy, for the evidence.
fn ask_root(
    conn: &mut PgConnection,
    control: &str,
    now: time::OffsetDateTime,
) -> Result<&'static str, CheckError> {
    use diesel::Connection;
    let asked = conn.transaction(|conn| {
        let asked = requests::ask(conn, control, "scan", "drift from the baseline", now)?;
        if asked == Asked::Queued {
            audit::record(
                conn,
                &Event::new(Actor::System, "host.reapply_requested", Outcome::Success)
                    .target(format!("control:{control}"))
                    .details(json!({ "reason": "drift from the baseline" })),
            )?;
        }
        Ok::<_, diesel::result::Error>(asked)
    })?;
    Ok(match asked {
        Asked::Queued | Asked::AlreadyWaiting => {
            "the root timer is asked to re-apply it (scan.reapply_drift)"
        }
        Asked::CoolingDown => {
            "it drifted again within hours of being re-applied: someone should look"
        }
    })
}
