//! `outpost harden --apply-requested`: the root timer's half of the drift remedy. It
//! re-applies the controls the service asked for (see `host::requests`), records the
//! results like any `--apply`, and marks the drift findings it fixed as auto-fixed.
//! With nothing asked for it does nothing, quietly: the timer runs it every few
//! minutes.

use std::path::Path;

use diesel::PgConnection;
use serde_json::json;
use time::OffsetDateTime;

use super::CliError;
use super::harden::{Mode, Options};
use super::host_record;
use crate::audit::{self, Actor, Event, Outcome};
use crate::config::Config;
use crate::host::{self, ControlReport, Host, Status, SystemRunner, engine, requests};
use crate::scan::findings;

/// The security check whose findings a re-applied control resolves.
const DRIFT_CHECK: &str = "defensive.hardening_drift";

pub fn run(config_path: Option<&Path>, root: &Path, json: bool) -> Result<(), CliError> {
    let config = Config::load(config_path)?;
    let db = host_record::open(&config).map_err(CliError::Failed)?;
    let mut conn = db.get().map_err(|e| CliError::Failed(e.to_string()))?;
    let waiting = requests::waiting(&mut conn).map_err(failed)?;
    if waiting.is_empty() {
        return Ok(());
    }
    let controls = host::controls();
    let host = Host::new(root, Box::new(SystemRunner));
    let mut reports: Vec<ControlReport> = Vec::new();
    for request in &waiting {
        let now = OffsetDateTime::now_utc();
        let Some(control) = controls.iter().find(|c| c.name() == request.control) else {
            requests::finish(&mut conn, request.id, "unknown_control", None, now)
                .map_err(failed)?;
            continue;
        };
        // Two requests for one control cannot wait at once; applied once is enough.
        let report = match reports.iter().find(|r| r.control == control.name()) {
            Some(done) => done.clone(),
            None => {
                let report = engine::apply_and_report(&host, control.as_ref(), &config.harden);
                reports.push(report.clone());
                report
            }
        };
        finish(&mut conn, request, &report, root)?;
    }
    let options = Options {
        mode: Mode::Apply,
        only: &[],
        root,
        json,
    };
    host_record::record_on(&mut conn, &options, &reports).map_err(CliError::Failed)?;
    super::harden::print_reports(&reports, json);
    let failed = reports.iter().filter(|r| r.status != Status::Ok).count();
    if failed > 0 {
        return Err(CliError::Failed(format!(
            "{failed} requested control{} not brought to the baseline",
            if failed == 1 { "" } else { "s" }
        )));
    }
    Ok(())
}

/// Closes `request` with how the apply went; on success the control's open drift
/// findings are resolved as fixed by Outpost, in the same transaction as the audit
/// entry that says so.
fn finish(
    conn: &mut PgConnection,
    request: &requests::Request,
    report: &ControlReport,
    root: &Path,
) -> Result<(), CliError> {
    use diesel::Connection;
    let now = OffsetDateTime::now_utc();
    let applied = report.status == Status::Ok;
    conn.transaction(|conn| {
        let (outcome, error) = if applied {
            ("applied", None)
        } else {
            let error = report
                .error
                .clone()
                .unwrap_or_else(|| engine::describe(&report.drift).join("; "));
            ("failed", Some(error))
        };
        requests::finish(conn, request.id, outcome, error.as_deref(), now)?;
        let fixed = if applied {
            findings::mark_fixed_matching(
                conn,
                DRIFT_CHECK,
                &format!("harden:{}:", request.control),
                now,
            )?
        } else {
            Vec::new()
        };
        audit::record(
            conn,
            &Event::new(
                Actor::System,
                "host.reapplied",
                if applied {
                    Outcome::Success
                } else {
                    Outcome::Failure
                },
            )
            .target(format!("host:{}", root.display()))
            .details(json!({
                "control": request.control,
                "requested_by": request.requested_by,
                "reason": request.reason,
                "error": error,
                "findings_fixed": fixed,
            })),
        )
        .map(drop)
    })
    .map_err(failed)
}

fn failed(e: diesel::result::Error) -> CliError {
    CliError::Failed(format!("database query failed: {e}"))
}
