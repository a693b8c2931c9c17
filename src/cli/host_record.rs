//! Recording `outpost harden` results in the database when it is reachable: the
//! latest state per control for the dashboard, and an audit entry for every run.

use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;

use super::harden::{Mode, Options};
use crate::audit::context::{self as audit_context, AuditContext};
use crate::audit::{self, Actor, Event, Outcome};
use crate::config::Config;
use crate::db::Db;
use crate::db::schema::host_checks;
use crate::host::{ControlReport, Status, engine};
use crate::vault::Vault;
use crate::vault::keyring::KeySource;

/// The database, for a root command that records what it did: migrated, with the
/// audit context installed (entries are authenticated with the keyring's audit key,
/// like every other entry).
pub fn open(config: &Config) -> Result<Db, String> {
    let vault =
        Vault::load(KeySource::locate(&config.vault_key_file)).map_err(|e| e.to_string())?;
    audit_context::install(AuditContext::new(
        vault.keyring().audit_root(),
        &config.to_masked_toml(),
    ));
    let db = Db::connect(config).map_err(|e| e.to_string())?;
    let mut conn = db.get().map_err(|e| e.to_string())?;
    if !crate::db::migrations_current(&mut conn).map_err(|e| e.to_string())? {
        return Err("the database is not migrated yet".into());
    }
    Ok(db)
}

pub fn record(
    config: &Config,
    options: &Options<'_>,
    reports: &[ControlReport],
) -> Result<(), String> {
    let db = open(config)?;
    let mut conn = db.get().map_err(|e| e.to_string())?;
    record_on(&mut conn, options, reports)
}

/// Records `reports` on an open connection: the latest state per control and one
/// audit entry for the run.
pub fn record_on(
    conn: &mut PgConnection,
    options: &Options<'_>,
    reports: &[ControlReport],
) -> Result<(), String> {
    let applying = options.mode == Mode::Apply;
    let root = options.root.display().to_string();
    let now = OffsetDateTime::now_utc();
    conn.transaction(|conn| {
        for report in reports {
            let status = match report.status {
                Status::Ok => "ok",
                Status::Drift => "drift",
                Status::Error => "error",
            };
            let drift = serde_json::to_value(&report.drift).unwrap_or_default();
            let applied_at = (applying && !report.changed.is_empty()).then_some(now);
            diesel::insert_into(host_checks::table)
                .values((
                    host_checks::control.eq(report.control),
                    host_checks::status.eq(status),
                    host_checks::drift.eq(&drift),
                    host_checks::error.eq(&report.error),
                    host_checks::root.eq(&root),
                    host_checks::checked_at.eq(now),
                    host_checks::applied_at.eq(applied_at),
                ))
                .on_conflict(host_checks::control)
                .do_update()
                .set((
                    host_checks::status.eq(status),
                    host_checks::drift.eq(&drift),
                    host_checks::error.eq(&report.error),
                    host_checks::root.eq(&root),
                    host_checks::checked_at.eq(now),
                    host_checks::applied_at.eq(diesel::dsl::sql::<
                        diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
                    >(
                        "coalesce(excluded.applied_at, host_checks.applied_at)",
                    )),
                ))
                .execute(conn)?;
        }
        let clean = reports.iter().all(|r| r.status == Status::Ok);
        let details: Vec<_> = reports
            .iter()
            .map(|r| {
                json!({
                    "control": r.control,
                    "status": r.status,
                    "drift": engine::describe(&r.drift),
                    "changed": r.changed,
                    "error": r.error,
                })
            })
            .collect();
        audit::record(
            conn,
            &Event::new(
                Actor::Cli,
                if applying {
                    "host.applied"
                } else {
                    "host.checked"
                },
                if clean {
                    Outcome::Success
                } else {
                    Outcome::Failure
                },
            )
            .target(format!("host:{root}"))
            .details(json!({ "root": root, "controls": details })),
        )
        .map(drop)
    })
    .map_err(|e: diesel::result::Error| e.to_string())
}
