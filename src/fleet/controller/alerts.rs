//! A satellite's open problems as rows: one open alert per satellite and rule (a
//! unique index holds it to that), opened when the rule starts to hold and resolved
//! when it stops, so the same problem seen at every sweep is one alert, not many.

use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use super::rules::{Problem, Rule};
use crate::db::schema::fleet_alerts;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = fleet_alerts)]
pub struct FleetAlert {
    pub id: i64,
    pub satellite_id: Uuid,
    pub rule: String,
    pub detail: String,
    pub opened_at: OffsetDateTime,
    pub last_notified_at: Option<OffsetDateTime>,
    pub resolved_at: Option<OffsetDateTime>,
}

impl FleetAlert {
    pub fn rule(&self) -> Option<Rule> {
        Rule::parse(&self.rule)
    }
}

/// What one sweep changed for one satellite.
#[derive(Debug, Default)]
pub struct Changes {
    pub opened: Vec<FleetAlert>,
    pub resolved: Vec<FleetAlert>,
    /// Every alert open after the sweep, the new ones included.
    pub open: Vec<FleetAlert>,
}

/// Brings `satellite`'s open alerts in line with `problems` at `now`.
pub fn reconcile(
    conn: &mut PgConnection,
    satellite: Uuid,
    problems: &[Problem],
    now: OffsetDateTime,
) -> QueryResult<Changes> {
    conn.transaction(|conn| {
        let open: Vec<FleetAlert> = fleet_alerts::table
            .filter(fleet_alerts::satellite_id.eq(satellite))
            .filter(fleet_alerts::resolved_at.is_null())
            .select(FleetAlert::as_select())
            .load(conn)?;
        let mut changes = Changes::default();
        for alert in open {
            match problems.iter().find(|p| p.rule.as_str() == alert.rule) {
                Some(problem) => changes.open.push(
                    diesel::update(fleet_alerts::table.find(alert.id))
                        .set(fleet_alerts::detail.eq(&problem.detail))
                        .returning(FleetAlert::as_returning())
                        .get_result(conn)?,
                ),
                None => changes.resolved.push(
                    diesel::update(fleet_alerts::table.find(alert.id))
                        .set(fleet_alerts::resolved_at.eq(now))
                        .returning(FleetAlert::as_returning())
                        .get_result(conn)?,
                ),
            }
        }
        for problem in problems {
            if changes.open.iter().any(|a| a.rule == problem.rule.as_str()) {
                continue;
            }
            let opened: FleetAlert = diesel::insert_into(fleet_alerts::table)
                .values((
                    fleet_alerts::satellite_id.eq(satellite),
                    fleet_alerts::rule.eq(problem.rule.as_str()),
                    fleet_alerts::detail.eq(&problem.detail),
                    fleet_alerts::opened_at.eq(now),
                ))
                .returning(FleetAlert::as_returning())
                .get_result(conn)?;
            changes.opened.push(opened.clone());
            changes.open.push(opened);
        }
        Ok(changes)
    })
}

/// Marks `ids` as told about at `now` (the repeat clock starts again).
pub fn mark_notified(conn: &mut PgConnection, ids: &[i64], now: OffsetDateTime) -> QueryResult<()> {
    diesel::update(fleet_alerts::table.filter(fleet_alerts::id.eq_any(ids)))
        .set(fleet_alerts::last_notified_at.eq(now))
        .execute(conn)
        .map(drop)
}

/// Every open alert, for the operators' API.
pub fn all_open(conn: &mut PgConnection) -> QueryResult<Vec<FleetAlert>> {
    fleet_alerts::table
        .filter(fleet_alerts::resolved_at.is_null())
        .order(fleet_alerts::opened_at.asc())
        .select(FleetAlert::as_select())
        .load(conn)
}

/// `satellite`'s alerts still open or resolved since `since`, newest first.
pub fn of_satellite(
    conn: &mut PgConnection,
    satellite: Uuid,
    since: OffsetDateTime,
) -> QueryResult<Vec<FleetAlert>> {
    fleet_alerts::table
        .filter(fleet_alerts::satellite_id.eq(satellite))
        .filter(
            fleet_alerts::resolved_at
                .is_null()
                .or(fleet_alerts::resolved_at.ge(since)),
        )
        .order(fleet_alerts::opened_at.desc())
        .select(FleetAlert::as_select())
        .load(conn)
}
