//! PostgreSQL access: an r2d2 pool of diesel connections, embedded migrations, and
//! [`Db::run`], which keeps diesel's blocking calls off the async executor.

pub mod schema;

use std::time::Duration;

use diesel::PgConnection;
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::Config;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub type PgPool = Pool<ConnectionManager<PgConnection>>;
pub type PgConn = PooledConnection<ConnectionManager<PgConnection>>;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database unavailable: {0}")]
    Unavailable(#[from] r2d2::Error),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error("database task stopped unexpectedly")]
    TaskFailed,
}

/// Cheap to clone; every clone shares one pool.
#[derive(Clone)]
pub struct Db {
    pool: PgPool,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.pool.state();
        f.debug_struct("Db")
            .field("connections", &state.connections)
            .field("idle", &state.idle_connections)
            .finish()
    }
}

impl Db {
    /// Builds the pool without opening connections up front, so a server can start
    /// (and report not-ready) while PostgreSQL is still coming up.
    pub fn connect(config: &Config) -> Result<Self, DbError> {
        Self::connect_url(
            config.database_url.expose(),
            config.pool_size,
            config.db_connect_timeout,
        )
    }

    pub fn connect_url(url: &str, size: u32, timeout: Duration) -> Result<Self, DbError> {
        let pool = Pool::builder()
            .max_size(size)
            .min_idle(Some(0))
            .connection_timeout(timeout)
            .test_on_check_out(false)
            .build_unchecked(ConnectionManager::<PgConnection>::new(url));
        Ok(Self { pool })
    }

    pub fn get(&self) -> Result<PgConn, DbError> {
        Ok(self.pool.get()?)
    }

    /// Runs `f` with a pooled connection on the blocking thread pool.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(DbError::from)?;
            f(&mut conn)
        })
        .await
        .map_err(|_| E::from(DbError::TaskFailed))?
    }

    pub fn migrate(&self) -> Result<usize, DbError> {
        migrate(&mut *self.get()?)
    }

    /// The pool right now: open connections, idle ones, and the most it may open.
    pub fn pool_state(&self) -> PoolState {
        let state = self.pool.state();
        PoolState {
            max_size: self.pool.max_size(),
            connections: state.connections,
            idle: state.idle_connections,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PoolState {
    pub max_size: u32,
    pub connections: u32,
    pub idle: u32,
}

/// One migration this build carries, and whether the database has applied it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrationState {
    /// Diesel's version (`20261206000018`): what `__diesel_schema_migrations` records.
    pub version: String,
    /// The directory's name (`2026-12-06-000018_fleet_satellite`).
    pub name: String,
    pub applied: bool,
}

/// Which migrations this build carries (oldest first) and how many versions the
/// database has applied, including any this build does not know (a newer one ran).
#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrationStatus {
    pub embedded: Vec<MigrationState>,
    pub applied: usize,
}

impl MigrationStatus {
    pub fn pending(&self) -> usize {
        self.embedded.iter().filter(|m| !m.applied).count()
    }
}

pub fn migration_status(conn: &mut PgConnection) -> Result<MigrationStatus, DbError> {
    use diesel::migration::MigrationSource;
    let failed = |e: Box<dyn std::error::Error + Send + Sync>| DbError::Migration(e.to_string());
    let applied: Vec<String> = conn
        .applied_migrations()
        .map_err(failed)?
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut embedded: Vec<MigrationState> =
        MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS)
            .map_err(failed)?
            .iter()
            .map(|m| {
                let version = m.name().version().to_string();
                MigrationState {
                    applied: applied.contains(&version),
                    name: m.name().to_string(),
                    version,
                }
            })
            .collect();
    embedded.sort_by(|a, b| a.version.cmp(&b.version));
    Ok(MigrationStatus {
        embedded,
        applied: applied.len(),
    })
}

/// Applies pending migrations; returns how many ran.
pub fn migrate(conn: &mut PgConnection) -> Result<usize, DbError> {
    conn.run_pending_migrations(MIGRATIONS)
        .map(|applied| applied.len())
        .map_err(|e| DbError::Migration(e.to_string()))
}

/// True when every embedded migration has been applied.
pub fn migrations_current(conn: &mut PgConnection) -> Result<bool, DbError> {
    conn.has_pending_migration(MIGRATIONS)
        .map(|pending| !pending)
        .map_err(|e| DbError::Migration(e.to_string()))
}

/// `url` with its database replaced by `database`, in the URL form
/// (`postgres://u@h/db?x`) and the key-value form (`host=h dbname=db`) alike: for
/// creating, restoring into and dropping other databases on the same server.
pub fn with_database(url: &str, database: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let query = tail.find('?').map_or("", |q| &tail[q..]);
        return format!("{scheme}://{authority}/{database}{query}");
    }
    let mut kept: Vec<String> = url
        .split_ascii_whitespace()
        .filter(|kv| !kv.starts_with("dbname="))
        .map(str::to_owned)
        .collect();
    kept.push(format!("dbname={database}"));
    kept.join(" ")
}

#[cfg(test)]
mod url_tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_in_both_forms() {
        assert_eq!(
            with_database("postgres://app:pw@db:5432/outpost?host=/run/pg", "scratch"),
            "postgres://app:pw@db:5432/scratch?host=/run/pg"
        );
        assert_eq!(
            with_database("postgres:///outpost?host=/tmp", "postgres"),
            "postgres:///postgres?host=/tmp"
        );
        assert_eq!(
            with_database("postgres://app@db", "x"),
            "postgres://app@db/x"
        );
        assert_eq!(
            with_database("host=/tmp dbname=outpost user=app", "x"),
            "host=/tmp user=app dbname=x"
        );
    }
}
