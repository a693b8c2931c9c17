//! What the database knows about KEKs (never the keys): fingerprint, how many data keys
//! each has wrapped, and retirement. Counting happens in the transaction that stores
//! the value, on the KEK's row, which is also what makes retirement safe: retiring
//! locks that row, so no value can be sealed under a KEK between the check that
//! nothing refers to it and its retirement.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use time::OffsetDateTime;

use super::envelope::kek_prefix;
use super::keyring::Kek;
use super::location::{ALL, SealedColumn};
use crate::db::schema::vault_keks;

/// AES-GCM with random 96-bit nonces: at most 2^32 encryptions under one key.
pub const WRAP_LIMIT: i64 = 1 << 32;

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = vault_keks)]
pub struct KekRecord {
    pub id: i32,
    pub fingerprint: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub wraps: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub retired_at: Option<OffsetDateTime>,
}

#[derive(Debug, QueryableByName)]
pub struct Reservation {
    /// Wraps under this KEK so far, this one included.
    #[diesel(sql_type = BigInt)]
    pub wraps: i64,
    /// The newest KEK not retired: newer than ours means a rotation has begun.
    #[diesel(sql_type = Nullable<Integer>)]
    pub newest_live: Option<i32>,
}

/// Counts `n` wraps under `kek`, registering it on first use. `None` when the KEK is
/// retired or the database knows a different key under its id.
pub fn reserve(conn: &mut PgConnection, kek: &Kek, n: i64) -> QueryResult<Option<Reservation>> {
    diesel::sql_query(
        "INSERT INTO vault_keks (id, fingerprint, created_at, wraps) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET wraps = vault_keks.wraps + EXCLUDED.wraps
             WHERE vault_keks.fingerprint = EXCLUDED.fingerprint
               AND vault_keks.retired_at IS NULL
         RETURNING wraps,
             (SELECT max(id) FROM vault_keks WHERE retired_at IS NULL) AS newest_live",
    )
    .bind::<Integer, _>(id(kek))
    .bind::<Text, _>(kek.fingerprint())
    .bind::<diesel::sql_types::Timestamptz, _>(kek.created_at)
    .bind::<BigInt, _>(n)
    .get_result(conn)
    .optional()
}

/// Records a KEK the keyring holds (at start and when a rotation adds one).
pub fn register(conn: &mut PgConnection, kek: &Kek) -> QueryResult<()> {
    diesel::insert_into(vault_keks::table)
        .values((
            vault_keks::id.eq(id(kek)),
            vault_keks::fingerprint.eq(kek.fingerprint()),
            vault_keks::created_at.eq(kek.created_at),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .map(drop)
}

pub fn records(conn: &mut PgConnection) -> QueryResult<Vec<KekRecord>> {
    vault_keks::table
        .order(vault_keks::id)
        .select(KekRecord::as_select())
        .load(conn)
}

/// How many stored values need KEK `id`, across every sealed column.
pub fn references(conn: &mut PgConnection, id: u32) -> QueryResult<i64> {
    let mut total = 0;
    for column in ALL {
        total += count_where(conn, column, &reference_filter(column, id))?;
    }
    Ok(total)
}

/// Values in `column` not yet under KEK `id`.
pub fn stale(conn: &mut PgConnection, column: &SealedColumn, id: u32) -> QueryResult<i64> {
    count_where(
        conn,
        column,
        &format!("{} NOT LIKE '{}%'", column.column, kek_prefix(id)),
    )
}

/// Marks KEK `id` retired if nothing refers to it; false if something still does.
pub fn retire_if_unreferenced(conn: &mut PgConnection, id: u32) -> QueryResult<bool> {
    conn.transaction(|conn| {
        // Waits for any transaction sealing under this KEK right now to finish.
        vault_keks::table
            .find(id_i32(id))
            .select(vault_keks::id)
            .for_update()
            .first::<i32>(conn)?;
        if references(conn, id)? > 0 {
            return Ok(false);
        }
        diesel::update(vault_keks::table.find(id_i32(id)))
            .set(vault_keks::retired_at.eq(OffsetDateTime::now_utc()))
            .execute(conn)?;
        Ok(true)
    })
}

fn reference_filter(column: &SealedColumn, id: u32) -> String {
    let mut filter = format!("{} LIKE '{}%'", column.column, kek_prefix(id));
    if id == 1 {
        // Values of earlier releases, sealed directly by KEK 1.
        filter.push_str(&format!(" OR {} LIKE 'v1:%'", column.column));
    }
    filter
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Table and column names come from the fixed list in `location`, never from input.
fn count_where(conn: &mut PgConnection, column: &SealedColumn, filter: &str) -> QueryResult<i64> {
    diesel::sql_query(format!(
        "SELECT count(*) AS n FROM {} WHERE {filter}",
        column.table
    ))
    .get_result::<Count>(conn)
    .map(|c| c.n)
}

fn id(kek: &Kek) -> i32 {
    id_i32(kek.id)
}

fn id_i32(id: u32) -> i32 {
    i32::try_from(id).expect("KEK ids stay far below 2^31")
}
