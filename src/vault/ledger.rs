//! What the database knows about KEKs (never the keys): fingerprint, how many data keys
//! each has wrapped, and retirement.
//!
//! Sealing takes a shared lock on its KEK's row for the rest of the transaction that
//! stores the value, and retiring takes an exclusive one before checking that nothing
//! refers to the KEK: so no value can be stored under a KEK between that check and
//! its retirement. Wraps are counted by a sequence per KEK (`vault_wraps_k<id>`):
//! no hot row to update on every seal, and a crash can only over-count.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use time::OffsetDateTime;

use super::envelope::kek_prefix;
use super::keyring::Kek;
use super::location::{ALL, SealedColumn};
use crate::db::schema::vault_keks;

/// AES-GCM with random 96-bit nonces: at most 2^32 encryptions under one key.
pub const WRAP_LIMIT: i64 = 1 << 32;

#[derive(Debug, Clone, serde::Serialize)]
pub struct KekRecord {
    pub id: i32,
    pub fingerprint: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub wraps: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub retired_at: Option<OffsetDateTime>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = vault_keks)]
struct Row {
    id: i32,
    fingerprint: String,
    created_at: OffsetDateTime,
    retired_at: Option<OffsetDateTime>,
}

#[derive(Debug, QueryableByName)]
pub struct Reservation {
    /// Wraps under this KEK so far, these included.
    #[diesel(sql_type = BigInt)]
    pub wraps: i64,
    /// The newest KEK not retired: newer than ours means a rotation has begun.
    #[diesel(sql_type = Nullable<Integer>)]
    pub newest_live: Option<i32>,
}

/// Counts `n` wraps under `kek` (registering it on first use) and holds its row
/// against retirement until the caller's transaction ends. `None` when the KEK is
/// retired or the database knows a different key under its id.
pub fn reserve(conn: &mut PgConnection, kek: &Kek, n: i64) -> QueryResult<Option<Reservation>> {
    for first_try in [true, false] {
        // The counter is named from the row, so it is only looked up once the row
        // (registered together with it) is known to exist.
        let reserved = diesel::sql_query(
            "WITH live AS (
                 SELECT id FROM vault_keks
                 WHERE id = $1 AND fingerprint = $2 AND retired_at IS NULL
                 FOR KEY SHARE
             )
             SELECT (SELECT max(n) FROM (
                         SELECT nextval(format('vault_wraps_k%s', live.id)::regclass) AS n
                         FROM generate_series(1, $3)
                     ) AS counted) AS wraps,
                    (SELECT max(id) FROM vault_keks WHERE retired_at IS NULL) AS newest_live
             FROM live",
        )
        .bind::<Integer, _>(id_i32(kek.id))
        .bind::<Text, _>(kek.fingerprint())
        .bind::<BigInt, _>(n)
        .get_result::<Reservation>(conn)
        .optional()?;
        if reserved.is_some() || !first_try || known(conn, kek.id)? {
            return Ok(reserved);
        }
        register(conn, kek)?;
    }
    unreachable!("the second attempt always returns")
}

/// Records a KEK the keyring holds (at start and when a rotation adds one).
pub fn register(conn: &mut PgConnection, kek: &Kek) -> QueryResult<()> {
    conn.transaction(|conn| {
        diesel::sql_query(format!(
            "CREATE SEQUENCE IF NOT EXISTS {} AS bigint MINVALUE 1 START 1",
            sequence(kek.id)
        ))
        .execute(conn)?;
        diesel::insert_into(vault_keks::table)
            .values((
                vault_keks::id.eq(id_i32(kek.id)),
                vault_keks::fingerprint.eq(kek.fingerprint()),
                vault_keks::created_at.eq(kek.created_at),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .map(drop)
    })
}

fn known(conn: &mut PgConnection, id: u32) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(vault_keks::table.find(id_i32(id)))).get_result(conn)
}

pub fn records(conn: &mut PgConnection) -> QueryResult<Vec<KekRecord>> {
    let rows: Vec<Row> = vault_keks::table
        .order(vault_keks::id)
        .select(Row::as_select())
        .load(conn)?;
    rows.into_iter()
        .map(|row| {
            Ok(KekRecord {
                wraps: wraps(conn, row.id)?,
                id: row.id,
                fingerprint: row.fingerprint,
                created_at: row.created_at,
                retired_at: row.retired_at,
            })
        })
        .collect()
}

/// How many data keys KEK `id` has wrapped.
fn wraps(conn: &mut PgConnection, id: i32) -> QueryResult<i64> {
    diesel::sql_query(format!(
        "SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS n FROM {}",
        sequence(u32::try_from(id).unwrap_or_default())
    ))
    .get_result::<Count>(conn)
    .map(|c| c.n)
}

/// The counter's name: built from a number, never from input.
pub fn sequence(id: u32) -> String {
    format!("vault_wraps_k{id}")
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

fn id_i32(id: u32) -> i32 {
    i32::try_from(id).expect("KEK ids stay far below 2^31")
}
