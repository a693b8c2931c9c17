//! Running one registered check of the security loop, as `outpost scan --only` would.

use outpost::config::Config;
use outpost::db::Db;
use outpost::scan::{Check, Context, Severity, checks};
use outpost::vault::Vault;
use time::OffsetDateTime;

/// The registered check `id` (panics if there is none: the registry is under test too).
pub fn check(id: &str) -> Box<dyn Check> {
    checks::all()
        .into_iter()
        .find(|c| c.id() == id)
        .unwrap_or_else(|| panic!("no check {id} is registered"))
}

/// What check `id` reports at `now`, as (subject, severity), sorted; it must run.
pub fn found(
    config: &Config,
    db: &Db,
    vault: &Vault,
    id: &str,
    now: OffsetDateTime,
) -> Vec<(String, Severity)> {
    let cx = Context {
        config,
        db,
        vault,
        now,
    };
    let mut found: Vec<_> = check(id)
        .run(&cx)
        .unwrap_or_else(|e| panic!("{id} could not run: {e}"))
        .into_iter()
        .map(|f| (f.subject, f.severity))
        .collect();
    found.sort();
    found
}
