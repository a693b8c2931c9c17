//! What an Owner or Admin (and the support desk they send the bundle to) needs to tell
//! what is wrong with this server: versions, the database's state, the scheduler's
//! jobs, the clock; and the support bundle that carries it all, secrets masked.
//!
//! Usable without the web layer: [`gather`] takes the pool and the job registry.

pub mod bundle;
pub mod clock;
pub mod versions;

use diesel::prelude::*;
use serde::Serialize;
use time::OffsetDateTime;

use crate::db::{self, Db, DbError, MigrationStatus, PoolState};
use crate::scheduler::registry::{JobRegistry, JobView};
use clock::{DatabaseClock, TimeSync};
use versions::Versions;

#[derive(Debug, Clone, Serialize)]
pub struct Diagnostics {
    #[serde(with = "time::serde::rfc3339")]
    pub taken_at: OffsetDateTime,
    pub versions: Versions,
    pub database: DatabaseStatus,
    pub jobs: Vec<JobView>,
    pub clock: ClockStatus,
}

#[derive(Debug, Clone, Serialize)]
pub struct DatabaseStatus {
    pub reachable: bool,
    /// Why it is not, in the driver's words (never the connection string).
    pub error: Option<String>,
    pub pool: PoolState,
    pub size_bytes: Option<i64>,
    pub migrations: Option<MigrationStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClockStatus {
    #[serde(with = "time::serde::rfc3339")]
    pub system: OffsetDateTime,
    /// None when the database did not answer.
    pub database: Option<DatabaseClock>,
    pub sync: TimeSync,
}

/// What the database tells, read with one connection.
struct FromDatabase {
    server_version: String,
    size_bytes: i64,
    migrations: MigrationStatus,
    clock: DatabaseClock,
}

fn from_database(conn: &mut PgConnection) -> Result<FromDatabase, DbError> {
    use diesel::dsl::sql;
    use diesel::sql_types::{BigInt, Text};
    let server_version: String =
        diesel::select(sql::<Text>("current_setting('server_version')")).get_result(conn)?;
    let size_bytes: i64 =
        diesel::select(sql::<BigInt>("pg_database_size(current_database())")).get_result(conn)?;
    Ok(FromDatabase {
        server_version,
        size_bytes,
        migrations: db::migration_status(conn)?,
        clock: clock::against_database(conn)?,
    })
}

/// Takes every reading; a database that does not answer is a reading too.
pub async fn gather(db: &Db, jobs: &JobRegistry) -> Diagnostics {
    let sync = tokio::task::spawn_blocking(clock::time_sync);
    let read = db.run(from_database).await;
    let now = OffsetDateTime::now_utc();
    let sync = sync
        .await
        .unwrap_or_else(|_| clock::parse_show("timedatectl check stopped"));
    let mut versions = Versions::of_this_host();
    let (database, db_clock) = match read {
        Ok(read) => {
            versions.postgresql = Some(read.server_version);
            (
                DatabaseStatus {
                    reachable: true,
                    error: None,
                    pool: db.pool_state(),
                    size_bytes: Some(read.size_bytes),
                    migrations: Some(read.migrations),
                },
                Some(read.clock),
            )
        }
        Err(error) => (
            DatabaseStatus {
                reachable: false,
                error: Some(error.to_string()),
                pool: db.pool_state(),
                size_bytes: None,
                migrations: None,
            },
            None,
        ),
    };
    Diagnostics {
        taken_at: now,
        versions,
        database,
        jobs: jobs.snapshot(now),
        clock: ClockStatus {
            system: now,
            database: db_clock,
            sync,
        },
    }
}
