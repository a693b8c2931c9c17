//! KEK rotation, online: a new KEK is added to the keyring and becomes the primary,
//! every value's data key is rewrapped under it in small batches (each its own short
//! transaction, so the server keeps reading and writing throughout, and values not yet
//! rewrapped still open under their old KEK), and each old KEK is retired once no
//! value refers to it, its material then removed from the keyring file.
//!
//! A rewrap is a compare-and-swap on the stored text: a value replaced by the server
//! while its batch was in flight is left alone, and picked up by the next pass.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{Array, Text, Uuid as SqlUuid};
use serde_json::json;
use uuid::Uuid;

use super::envelope::{self, Sealed, kek_prefix};
use super::keyring::{Keyring, KeyringError};
use super::location::{ALL, SealedColumn};
use super::{Vault, VaultError, ledger};
use crate::audit::{self, Actor, Event, Outcome};

/// Values rewrapped per transaction.
pub const DEFAULT_BATCH: usize = 1000;
/// Passes over every column before giving up on values that keep changing.
const MAX_PASSES: u32 = 5;

#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// The KEK every value is now under.
    pub kek: u32,
    pub rewrapped: u64,
    /// Locations of values that would not open (tampered or corrupt): left as they are,
    /// so their KEK stays in service.
    pub unreadable: Vec<String>,
    pub retired: Vec<u32>,
    pub passes: u32,
    #[serde(serialize_with = "millis")]
    pub elapsed: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Adds a new KEK to the keyring file and makes it the primary; returns its id.
pub fn add_kek(vault: &Vault, conn: &mut PgConnection, actor: Actor) -> Result<u32, VaultError> {
    let source = vault
        .source()
        .ok_or_else(|| VaultError::Keyring(KeyringError::in_memory("cannot be rotated")))?;
    // From disk, not memory: another process may have rotated since this one started.
    let mut ring = Keyring::load(source)?;
    let taken = ledger::records(conn)?
        .iter()
        .map(|r| u32::try_from(r.id).unwrap_or_default())
        .max()
        .unwrap_or_default();
    let id = ring.add_kek(taken);
    ring.replace_file(source)?;
    let kek = ring.get(id).expect("just added");
    conn.transaction(|conn| {
        ledger::register(conn, kek)?;
        audit::record(
            conn,
            &Event::new(actor, "vault.kek_added", Outcome::Success)
                .target(format!("kek:{id}"))
                .details(json!({ "kek": id, "fingerprint": kek.fingerprint() })),
        )
        .map(drop)
    })?;
    vault.replace(ring);
    Ok(id)
}

/// Rewraps every value not under the primary KEK, then retires the KEKs nothing refers
/// to any more. Safe to run again after an interruption.
pub fn rewrap_all(
    vault: &Vault,
    conn: &mut PgConnection,
    actor: Actor,
    batch: usize,
    progress: &mut dyn FnMut(Progress),
) -> Result<Report, VaultError> {
    let started = Instant::now();
    let ring = vault.keyring();
    let target = ring.primary().id;
    let mut total = 0;
    for column in ALL {
        total += ledger::stale(conn, column, target)?;
    }
    let mut state = Progress {
        done: 0,
        total: u64::try_from(total).unwrap_or_default(),
    };
    progress(state);
    let mut report = Report {
        kek: target,
        rewrapped: 0,
        unreadable: Vec::new(),
        retired: Vec::new(),
        passes: 0,
        elapsed: Duration::ZERO,
    };
    while report.passes < MAX_PASSES {
        report.passes += 1;
        report.unreadable.clear();
        let before = report.rewrapped;
        for column in ALL {
            rewrap_column(vault, conn, column, batch, &mut report, &mut |n| {
                state.done += n;
                state.total = state.total.max(state.done);
                progress(state);
            })?;
        }
        if report.rewrapped == before {
            break;
        }
    }
    retire_unreferenced(vault, conn, &mut report)?;
    report.elapsed = started.elapsed();
    let outcome = if report.unreadable.is_empty() {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    audit::record(
        conn,
        &Event::new(actor, "vault.rewrapped", outcome)
            .target(format!("kek:{target}"))
            .details(json!({
                "kek": target,
                "rewrapped": report.rewrapped,
                "unreadable": report.unreadable,
                "retired": report.retired,
                "passes": report.passes,
                "elapsed_ms": report.elapsed.as_millis() as u64,
            })),
    )?;
    Ok(report)
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = SqlUuid)]
    key: Uuid,
    #[diesel(sql_type = Text)]
    value: String,
}

fn rewrap_column(
    vault: &Vault,
    conn: &mut PgConnection,
    column: &SealedColumn,
    batch: usize,
    report: &mut Report,
    advance: &mut dyn FnMut(u64),
) -> Result<(), VaultError> {
    let ring = vault.keyring();
    let target = ring.primary();
    // Names come from the fixed list in `location`, never from input.
    let select = format!(
        "SELECT {key} AS key, {col} AS value FROM {table}
         WHERE {col} NOT LIKE '{prefix}%' AND ($1::uuid IS NULL OR {key} > $1)
         ORDER BY {key} LIMIT {batch}",
        key = column.key,
        col = column.column,
        table = column.table,
        prefix = kek_prefix(target.id),
    );
    let update = format!(
        "UPDATE {table} AS t SET {col} = v.new
         FROM unnest($1::uuid[], $2::text[], $3::text[]) AS v(key, old, new)
         WHERE t.{key} = v.key AND t.{col} = v.old",
        key = column.key,
        col = column.column,
        table = column.table,
    );
    let mut after: Option<Uuid> = None;
    loop {
        let rows: Vec<Row> = diesel::sql_query(&select)
            .bind::<diesel::sql_types::Nullable<SqlUuid>, _>(after)
            .load(conn)?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = Some(last.key);
        let (mut keys, mut olds, mut news) = (Vec::new(), Vec::new(), Vec::new());
        for row in rows {
            let location = column.at(row.key);
            let rewrapped = Sealed::parse(&row.value)
                .map_err(VaultError::from)
                .and_then(|sealed| {
                    let from = ring
                        .get(sealed.kek_id())
                        .ok_or(VaultError::UnknownKek(sealed.kek_id()))?;
                    Ok(envelope::rewrap(from, target, location.as_str(), sealed)?)
                });
            match rewrapped {
                Ok(new) => {
                    keys.push(row.key);
                    olds.push(row.value);
                    news.push(new);
                }
                Err(e) => {
                    tracing::warn!(location = %location, error = %e, "a stored value does not open; left as it is");
                    report.unreadable.push(location.to_string());
                }
            }
        }
        if keys.is_empty() {
            continue;
        }
        let wraps = i64::try_from(keys.len()).unwrap_or(i64::MAX);
        let changed = conn.transaction(|conn| {
            match ledger::reserve(conn, target, wraps)? {
                Some(r) if r.wraps > ledger::WRAP_LIMIT => {
                    return Err(VaultError::Exhausted(target.id));
                }
                Some(_) => {}
                None => return Err(VaultError::RetiredKek(target.id)),
            }
            Ok(diesel::sql_query(&update)
                .bind::<Array<SqlUuid>, _>(&keys)
                .bind::<Array<Text>, _>(&olds)
                .bind::<Array<Text>, _>(&news)
                .execute(conn)?)
        })?;
        report.rewrapped += changed as u64;
        advance(changed as u64);
    }
}

fn retire_unreferenced(
    vault: &Vault,
    conn: &mut PgConnection,
    report: &mut Report,
) -> Result<(), VaultError> {
    let primary = vault.keyring().primary().id;
    for record in ledger::records(conn)? {
        let id = u32::try_from(record.id).unwrap_or_default();
        if record.retired_at.is_none() && id != primary && ledger::retire_if_unreferenced(conn, id)?
        {
            report.retired.push(id);
        }
    }
    let Some(source) = vault.source() else {
        return Ok(());
    };
    let mut ring = Keyring::load(source)?;
    let mut removed = false;
    for record in ledger::records(conn)?
        .iter()
        .filter(|r| r.retired_at.is_some())
    {
        removed |= ring.remove_kek(u32::try_from(record.id).unwrap_or_default());
    }
    if removed {
        ring.replace_file(source)?;
        vault.replace(ring);
    }
    Ok(())
}
