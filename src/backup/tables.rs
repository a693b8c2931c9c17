//! What a restore must reproduce: each table's row count and a digest of a sample of
//! its rows, taken in the very snapshot pg_dump dumps (it is handed the snapshot id),
//! so a drill compares like with like however busy the server was.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::key::BackupKey;
use super::pipeline::hex;

/// Rows per table whose text form is digested: enough to catch a column restored
/// wrongly, cheap on a big table when a primary key orders the sample.
const SAMPLE_ROWS: u32 = 1000;
const INFO_SAMPLE_MAC: &[u8] = b"outpost backup table samples v1: mac";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableStat {
    /// `schema.table`
    pub name: String,
    pub rows: u64,
    /// HMAC-SHA256 (hex), under a key derived from the backup key, of the SHA-256 of
    /// the first rows in primary-key order (text order without one), each in
    /// PostgreSQL's text form, newline-separated. Keyed, because the manifest is
    /// readable without the key and a bare digest of a small table could be guessed.
    pub sample_mac: String,
}

/// One difference a drill found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub table: String,
    pub problem: String,
}

#[derive(QueryableByName)]
struct TableName {
    #[diesel(sql_type = Text)]
    schema: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    order_by: String,
}

#[derive(QueryableByName)]
struct Stat {
    #[diesel(sql_type = BigInt)]
    rows: i64,
    #[diesel(sql_type = Text)]
    sample: String,
}

/// Starts the transaction pg_dump will share: repeatable read, read only, with a
/// text form of values that does not depend on the session's settings.
pub fn begin_snapshot(conn: &mut PgConnection) -> QueryResult<String> {
    diesel::sql_query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(conn)?;
    set_stable_text_form(conn)?;
    #[derive(QueryableByName)]
    struct Snapshot {
        #[diesel(sql_type = Text)]
        id: String,
    }
    let snap: Snapshot = diesel::sql_query("SELECT pg_export_snapshot() AS id").get_result(conn)?;
    Ok(snap.id)
}

/// Timestamps, floats and dates print the same on the source and in a restore.
pub fn set_stable_text_form(conn: &mut PgConnection) -> QueryResult<()> {
    diesel::sql_query(
        "SELECT set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, MDY', true), \
         set_config('extra_float_digits', '3', true), set_config('IntervalStyle', 'postgres', true)",
    )
    .execute(conn)
    .map(drop)
}

/// Every ordinary table outside the system schemas, with its statistics.
pub fn collect(conn: &mut PgConnection, key: &BackupKey) -> QueryResult<Vec<TableStat>> {
    let mac_key = key.derive(None, INFO_SAMPLE_MAC);
    let tables: Vec<TableName> = diesel::sql_query(
        "SELECT n.nspname AS schema, c.relname AS name, \
                coalesce((SELECT string_agg(quote_ident(a.attname), ', ' \
                                            ORDER BY array_position(i.indkey, a.attnum)) \
                          FROM pg_index i JOIN pg_attribute a \
                            ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) \
                          WHERE i.indrelid = c.oid AND i.indisprimary), '') AS order_by \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition \
           AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
           AND n.nspname NOT LIKE 'pg\\_%' \
         ORDER BY 1, 2",
    )
    .load(conn)?;
    let mut out = Vec::with_capacity(tables.len());
    for t in tables {
        let qualified = format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.name));
        let order = if t.order_by.is_empty() {
            "t::text".to_owned()
        } else {
            t.order_by
                .split(", ")
                .map(|c| format!("t.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let stat: Stat = diesel::sql_query(format!(
            "SELECT (SELECT count(*) FROM {qualified}) AS rows, \
                    coalesce(encode(sha256(convert_to(string_agg(x, E'\\n' ORDER BY n), 'UTF8')), 'hex'), '') AS sample \
             FROM (SELECT t::text AS x, row_number() OVER (ORDER BY {order}) AS n \
                   FROM (SELECT * FROM {qualified} t ORDER BY {order} LIMIT {SAMPLE_ROWS}) t) s"
        ))
        .get_result(conn)?;
        out.push(TableStat {
            name: format!("{}.{}", t.schema, t.name),
            rows: u64::try_from(stat.rows).unwrap_or(0),
            sample_mac: hex(&Hmac::<Sha256>::new_from_slice(mac_key.as_ref())
                .expect("any key length")
                .chain_update(stat.sample.as_bytes())
                .finalize()
                .into_bytes()),
        });
    }
    Ok(out)
}

/// What differs between the tables a backup recorded and those found in a restore.
pub fn compare(expected: &[TableStat], found: &[TableStat]) -> Vec<Mismatch> {
    let mut problems = Vec::new();
    for want in expected {
        let problem = match found.iter().find(|f| f.name == want.name) {
            None => "missing from the restore".to_owned(),
            Some(got) if got.rows != want.rows => {
                format!(
                    "{} rows restored, {} in the backup's source",
                    got.rows, want.rows
                )
            }
            Some(got) if got.sample_mac != want.sample_mac => {
                "the sampled rows differ from the backup's source".to_owned()
            }
            Some(_) => continue,
        };
        problems.push(Mismatch {
            table: want.name.clone(),
            problem,
        });
    }
    for extra in found
        .iter()
        .filter(|f| !expected.iter().any(|e| e.name == f.name))
    {
        problems.push(Mismatch {
            table: extra.name.clone(),
            problem: "in the restore but not in the backup's source".to_owned(),
        });
    }
    problems
}

/// A PostgreSQL identifier, quoted.
pub(super) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(name: &str, rows: u64, sample: &str) -> TableStat {
        TableStat {
            name: name.into(),
            rows,
            sample_mac: sample.into(),
        }
    }

    #[test]
    fn compare_names_every_difference() {
        let expected = [
            stat("public.a", 3, "x"),
            stat("public.b", 1, "y"),
            stat("public.c", 0, ""),
        ];
        let found = [
            stat("public.a", 2, "x"),
            stat("public.b", 1, "z"),
            stat("public.d", 0, ""),
        ];
        let problems = compare(&expected, &found);
        let text: Vec<String> = problems
            .iter()
            .map(|m| format!("{}: {}", m.table, m.problem))
            .collect();
        assert_eq!(
            text,
            [
                "public.a: 2 rows restored, 3 in the backup's source",
                "public.b: the sampled rows differ from the backup's source",
                "public.c: missing from the restore",
                "public.d: in the restore but not in the backup's source",
            ]
        );
        assert!(compare(&expected, &expected).is_empty());
    }
}
