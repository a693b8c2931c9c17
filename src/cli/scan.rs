//! `outpost scan [--only CHECK] [--json]`: the security loop once, now. Exit 1 while a
//! high or critical finding is open.

use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use time::OffsetDateTime;

use super::CliError;
use crate::scan::{self, Context, Severity, checks, findings};

pub fn run(path: Option<&Path>, only: &[String], json: bool) -> Result<(), CliError> {
    let all = checks::all();
    for id in only {
        if !all.iter().any(|c| c.id() == id) {
            let ids: Vec<&str> = all.iter().map(|c| c.id()).collect();
            return Err(CliError::Config(
                format!("no check named {id:?}; the checks are {}", ids.join(", ")).into(),
            ));
        }
    }
    let selected: Vec<_> = all
        .into_iter()
        .filter(|c| only.is_empty() || only.iter().any(|id| id == c.id()))
        .collect();
    let (config, db, vault) = super::open(path)?;
    let vault = Arc::new(vault);
    let started = OffsetDateTime::now_utc();
    let cx = Context {
        config: &config,
        db: &db,
        vault: &vault,
        now: started,
    };
    let runs = scan::run(&cx, &selected);
    let finished = OffsetDateTime::now_utc();
    let mut conn = db.get()?;
    findings::record(&mut conn, &runs, "manual", started, finished)
        .map_err(|e| CliError::Failed(format!("recording the scan failed: {e}")))?;
    let open = findings::open(&mut conn).map_err(|e| CliError::Failed(e.to_string()))?;
    drop(conn);
    super::deliver_alerts(&config, &db, &vault);

    if json {
        let report = json!({ "checks": runs, "findings": open });
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        for run in &runs {
            let detail = match (&run.error, run.found.len()) {
                (Some(e), _) => format!("could not run: {e}"),
                (None, 0) => "ok".to_owned(),
                (None, n) => format!("{n} finding(s)"),
            };
            println!(
                "{:<32} {:>6} ms  {detail}",
                run.id,
                run.duration.as_millis()
            );
        }
        if open.is_empty() {
            println!("no open findings");
        }
        for f in &open {
            println!(
                "{:<8} {}  {}: {}",
                f.severity.to_uppercase(),
                f.check_id,
                f.title,
                f.evidence
            );
        }
    }
    let urgent = open
        .iter()
        .filter(|f| Severity::parse(&f.severity).is_some_and(Severity::is_urgent))
        .count();
    if urgent > 0 {
        return Err(CliError::Failed(format!(
            "{urgent} high or critical finding(s) open"
        )));
    }
    Ok(())
}
