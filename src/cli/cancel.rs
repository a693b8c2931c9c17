//! `outpost cancel --at DATE | --now | --status | --revoke`

use std::path::Path;

use time::OffsetDateTime;

use super::CliError;
use crate::audit::{Actor, query};
use crate::cancellation::lifecycle::{self, Step};
use crate::cancellation::{self, Cancellation, Phase, day};
use crate::export::store::{self, Status};
use crate::identity::ClientInfo;

#[derive(Debug, Clone, Copy)]
pub enum Action<'a> {
    /// Schedule for a date (`YYYY-MM-DD`, UTC midnight, or RFC 3339), in the future.
    At(&'a str),
    /// Take effect now: the export is prepared at once.
    Now,
    Status,
    Revoke,
}

pub fn run(path: Option<&Path>, action: Action<'_>) -> Result<(), CliError> {
    // Checked before anything is opened: a mistyped date is an argument error (exit 2).
    let at = match action {
        Action::At(text) => Some(
            query::parse_time("--at", text)
                .and_then(|t| t.ok_or_else(|| "`--at` needs a date".to_owned()))
                .map_err(|e| CliError::Config(e.into()))?,
        ),
        _ => None,
    };
    let now = OffsetDateTime::now_utc();
    if let Some(at) = at
        && at <= now
    {
        return Err(CliError::Config(
            cancellation::CancellationError::InThePast(day(at))
                .to_string()
                .into(),
        ));
    }
    let (config, db, vault) = super::open(path)?;
    let mut conn = db.get()?;
    let failed = |e: cancellation::CancellationError| CliError::Failed(e.to_string());
    let client = ClientInfo::default();
    match action {
        Action::At(_) | Action::Now => {
            let immediate = at.is_none();
            let scheduled = cancellation::schedule(
                &mut conn,
                at.unwrap_or(now),
                immediate,
                now,
                Actor::Cli,
                &client,
            )
            .map_err(failed)?;
            println!(
                "cancellation scheduled: the export is prepared on {}, downloadable until {}, when the data is destroyed",
                day(scheduled.effective_at),
                day(scheduled.window_closes_at)
            );
            if immediate {
                // Asked for now: the export is made here rather than at the server's
                // next hourly check.
                let step = lifecycle::check(&mut conn, &config, &vault, OffsetDateTime::now_utc())
                    .map_err(|e| CliError::Failed(e.to_string()))?;
                if let Step::Exported(record) = step {
                    match record.status() {
                        Status::Ready => println!(
                            "export {} ready ({} bytes); Owners can download it from the dashboard",
                            record.id,
                            record.bytes.unwrap_or_default()
                        ),
                        _ => {
                            return Err(CliError::Failed(format!(
                                "the export failed (the server tries again every hour): {}",
                                record.error.unwrap_or_default()
                            )));
                        }
                    }
                }
            }
        }
        Action::Status => {
            match cancellation::in_force(&mut conn).map_err(|e| CliError::Failed(e.to_string()))? {
                None => println!("no cancellation is scheduled"),
                Some(c) => print_status(&mut conn, &c, now)?,
            }
        }
        Action::Revoke => {
            let revoked =
                cancellation::revoke(&mut conn, now, Actor::Cli, &client).map_err(failed)?;
            println!(
                "cancellation for {} revoked: nothing will be destroyed",
                day(revoked.effective_at)
            );
        }
    }
    Ok(())
}

fn print_status(
    conn: &mut diesel::PgConnection,
    c: &Cancellation,
    now: OffsetDateTime,
) -> Result<(), CliError> {
    let state = match (c.destroyed_at, c.phase(now)) {
        (Some(when), _) => format!("data destroyed on {}", day(when)),
        (None, Phase::Scheduled) => "scheduled".to_owned(),
        (None, Phase::WindowOpen) => "export window open".to_owned(),
        (None, Phase::Closed) => "window closed, data about to be destroyed".to_owned(),
    };
    println!("cancellation: {state}");
    println!("effective:    {}", day(c.effective_at));
    println!("window ends:  {}", day(c.window_closes_at));
    let export = match c.export_id {
        None => None,
        Some(id) => store::find(conn, id).map_err(|e| CliError::Failed(e.to_string()))?,
    };
    match export {
        None if c.destroyed_at.is_some() => println!("export:       destroyed"),
        None => println!("export:       not prepared yet"),
        Some(record) => match record.status() {
            Status::Ready => println!(
                "export:       ready, {} bytes ({})",
                record.bytes.unwrap_or_default(),
                record.id
            ),
            Status::Preparing => println!("export:       being prepared ({})", record.id),
            Status::Failed => println!(
                "export:       failed, tried again every hour: {}",
                record.error.unwrap_or_default()
            ),
        },
    }
    Ok(())
}
