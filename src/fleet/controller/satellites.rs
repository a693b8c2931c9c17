//! The enrolled satellites: who they are, their status and their signing secrets
//! (sealed by the vault to their row, opened only to check a report).

use diesel::prelude::*;
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{self, Actor, Event, Outcome};
use crate::db::schema::{fleet_heartbeats, fleet_satellites};
use crate::fleet::protocol::Report;
use crate::notify::signature::WebhookSecret;
use crate::vault::{Vault, VaultError, location};

/// A satellite without its secret (which is never selected with the rest).
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = fleet_satellites)]
pub struct Satellite {
    pub id: Uuid,
    pub name: String,
    pub client: String,
    pub region: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub provisioned_at: OffsetDateTime,
    pub version: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_report_at: Option<OffsetDateTime>,
    pub status: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub maintenance_until: Option<OffsetDateTime>,
}

impl Satellite {
    /// When it was last heard from: its newest report, or its enrolment.
    pub fn last_heard(&self) -> OffsetDateTime {
        self.last_report_at.unwrap_or(self.provisioned_at)
    }
}

pub fn all(conn: &mut PgConnection) -> QueryResult<Vec<Satellite>> {
    fleet_satellites::table
        .order(fleet_satellites::name.asc())
        .select(Satellite::as_select())
        .load(conn)
}

/// The secret that signs `id`'s reports; none for an unknown satellite.
pub fn secret(
    conn: &mut PgConnection,
    vault: &Vault,
    id: Uuid,
) -> Result<Option<WebhookSecret>, VaultError> {
    let sealed: Option<String> = fleet_satellites::table
        .find(id)
        .select(fleet_satellites::secret_sealed)
        .first(conn)
        .optional()?;
    let Some(sealed) = sealed else {
        return Ok(None);
    };
    let plain = vault.open(&location::SATELLITE_SECRET.at(id), &sealed)?;
    let text = std::str::from_utf8(&plain).map_err(|_| VaultError::Malformed)?;
    WebhookSecret::parse(text)
        .map(Some)
        .map_err(|_| VaultError::Malformed)
}

/// The newest report of each satellite in `ids`.
pub fn latest_reports(conn: &mut PgConnection, ids: &[Uuid]) -> QueryResult<Vec<(Uuid, Report)>> {
    let rows: Vec<(Uuid, serde_json::Value)> = fleet_heartbeats::table
        .filter(fleet_heartbeats::satellite_id.eq_any(ids))
        .order((
            fleet_heartbeats::satellite_id,
            fleet_heartbeats::received_at.desc(),
        ))
        .distinct_on(fleet_heartbeats::satellite_id)
        .select((fleet_heartbeats::satellite_id, fleet_heartbeats::report))
        .load(conn)?;
    // A stored report that no longer parses (written by another version) counts as absent.
    Ok(rows
        .into_iter()
        .filter_map(|(id, json)| serde_json::from_value(json).ok().map(|r| (id, r)))
        .collect())
}

/// Records a status the sweeper computed.
pub fn set_status(conn: &mut PgConnection, id: Uuid, status: &str) -> QueryResult<()> {
    diesel::update(fleet_satellites::table.find(id))
        .set(fleet_satellites::status.eq(status))
        .execute(conn)
        .map(drop)
}

#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    #[error("no satellite is named or numbered `{0}`")]
    Unknown(String),
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
}

/// Silences satellite `name_or_id` until `until` (the past ends maintenance), audited.
pub fn set_maintenance(
    conn: &mut PgConnection,
    name_or_id: &str,
    until: OffsetDateTime,
) -> Result<Satellite, MaintenanceError> {
    conn.transaction(|conn| {
        let by_id = Uuid::parse_str(name_or_id).ok();
        let target = fleet_satellites::table
            .filter(
                fleet_satellites::name
                    .eq(name_or_id)
                    .or(fleet_satellites::id.nullable().eq(by_id)),
            )
            .select(Satellite::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| MaintenanceError::Unknown(name_or_id.to_owned()))?;
        let updated = diesel::update(fleet_satellites::table.find(target.id))
            .set(fleet_satellites::maintenance_until.eq(until))
            .returning(Satellite::as_returning())
            .get_result(conn)?;
        audit::record(
            conn,
            &Event::new(Actor::Cli, "fleet.maintenance_set", Outcome::Success)
                .target(format!("satellite:{}", updated.id))
                .details(serde_json::json!({ "until": until.unix_timestamp() })),
        )?;
        Ok(updated)
    })
}
