//! The vault's cost, against a PostgreSQL cluster of the benchmark's own with fsync and
//! synchronous commit on. Each case is reported with a baseline measured in the same
//! run, and the ratio between them:
//!
//! - encrypt+store: a credential sealed (fresh data key, wrap counted on the KEK's row)
//!   and inserted, one transaction each; baseline: the same insert of the plaintext;
//! - load+decrypt: a credential selected by id and opened; baseline: the select alone;
//! - rotation of 100,000 stored credentials (`keys rotate`: new KEK, every data key
//!   rewrapped, old KEK retired); baseline: rewriting the same rows unchanged through
//!   the same batched compare-and-swap, without any cryptography.
//!
//! `cargo bench --bench vault` (add `-- --quick` for 10,000 records and short windows).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{Array, Text, Uuid as SqlUuid};
use outpost::audit::Actor;
use outpost::audit::context::{self, AuditContext};
use outpost::vault::Vault;
use outpost::vault::keyring::{KeySource, Keyring};
use outpost::vault::location::CREDENTIAL_VALUE;
use outpost::vault::rotation;
use support::pg::{Cluster, Durability};
use uuid::Uuid;

/// A provider API key's length.
const VALUE: &str = "sk-bench-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV";

fn insert(conn: &mut PgConnection, id: Uuid, value: &str) {
    diesel::sql_query(
        "INSERT INTO stored_credentials (id, name, kind, value_sealed) VALUES ($1, $2, 'api_key', $3)",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(id.to_string())
    .bind::<Text, _>(value)
    .execute(conn)
    .expect("insert");
}

#[derive(QueryableByName)]
struct Stored {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    value_sealed: String,
}

fn select(conn: &mut PgConnection, id: Uuid) -> String {
    diesel::sql_query("SELECT id, value_sealed FROM stored_credentials WHERE id = $1")
        .bind::<SqlUuid, _>(id)
        .get_result::<Stored>(conn)
        .expect("select")
        .value_sealed
}

/// Operations per second of `op` over `window`.
fn rate(window: Duration, mut op: impl FnMut()) -> f64 {
    let started = Instant::now();
    let mut done = 0u64;
    while started.elapsed() < window {
        op();
        done += 1;
    }
    done as f64 / started.elapsed().as_secs_f64()
}

fn store_sealed(conn: &mut PgConnection, vault: &Vault) -> Uuid {
    let id = Uuid::new_v4();
    conn.transaction(|conn| {
        let sealed = vault.seal(conn, &CREDENTIAL_VALUE.at(id), VALUE.as_bytes())?;
        insert(conn, id, &sealed);
        Ok::<_, outpost::vault::VaultError>(())
    })
    .expect("seal and store");
    id
}

fn store_plain(conn: &mut PgConnection) -> Uuid {
    let id = Uuid::new_v4();
    conn.transaction(|conn| {
        insert(conn, id, VALUE);
        QueryResult::Ok(())
    })
    .expect("store");
    id
}

/// `n` sealed credentials, 1,000 per transaction.
fn populate(conn: &mut PgConnection, vault: &Vault, n: usize) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        conn.transaction(|conn| {
            for _ in chunk {
                let id = Uuid::new_v4();
                let sealed = vault.seal(conn, &CREDENTIAL_VALUE.at(id), VALUE.as_bytes())?;
                insert(conn, id, &sealed);
            }
            Ok::<_, outpost::vault::VaultError>(())
        })
        .expect("populate");
    }
}

/// Every row rewritten unchanged, in the rotation's batches: what rotation would cost
/// if rewrapping were free.
fn rewrite_unchanged(conn: &mut PgConnection, batch: usize) -> Duration {
    let started = Instant::now();
    let mut after: Option<Uuid> = None;
    loop {
        let rows: Vec<Stored> = diesel::sql_query(format!(
            "SELECT id, value_sealed FROM stored_credentials
             WHERE value_sealed NOT LIKE 'none%' AND ($1::uuid IS NULL OR id > $1)
             ORDER BY id LIMIT {batch}"
        ))
        .bind::<diesel::sql_types::Nullable<SqlUuid>, _>(after)
        .load(conn)
        .expect("select batch");
        let Some(last) = rows.last() else {
            return started.elapsed();
        };
        after = Some(last.id);
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let values: Vec<String> = rows.into_iter().map(|r| r.value_sealed).collect();
        conn.transaction(|conn| {
            diesel::sql_query(
                "UPDATE stored_credentials AS t SET value_sealed = v.new
                 FROM unnest($1::uuid[], $2::text[], $3::text[]) AS v(key, old, new)
                 WHERE t.id = v.key AND t.value_sealed = v.old",
            )
            .bind::<Array<SqlUuid>, _>(&ids)
            .bind::<Array<Text>, _>(&values)
            .bind::<Array<Text>, _>(&values)
            .execute(conn)
        })
        .expect("rewrite batch");
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (window, records) = if quick {
        (Duration::from_millis(500), 10_000)
    } else {
        (Duration::from_secs(3), 100_000)
    };
    context::install(AuditContext::new(&[7; 32], "bench"));
    let cluster = Cluster::start(Durability::On);
    let url = cluster.create_database("outpost_bench");
    let mut conn = PgConnection::establish(&url).expect("connect");
    outpost::db::migrate(&mut conn).expect("migrate");
    let keys = tempfile::tempdir().expect("temp dir");
    let keyring = keys.path().join("vault.keyring");
    Keyring::generate().create_file(&keyring).expect("keyring");
    let vault = Vault::load(KeySource::File(keyring)).expect("vault");

    // Warm-up: caches, the WAL's first segments, every code path.
    rate(window / 4, || {
        store_sealed(&mut conn, &vault);
    });
    rate(window / 4, || {
        store_plain(&mut conn);
    });

    let sealed_store = rate(window, || {
        store_sealed(&mut conn, &vault);
    });
    let plain_store = rate(window, || {
        store_plain(&mut conn);
    });
    let ids: Vec<Uuid> = (0..200).map(|_| store_sealed(&mut conn, &vault)).collect();
    let mut next = ids.iter().cycle();
    let sealed_load = rate(window, || {
        let id = *next.next().unwrap();
        let text = select(&mut conn, id);
        let plain = vault.open(&CREDENTIAL_VALUE.at(id), &text).expect("open");
        assert_eq!(plain.len(), VALUE.len());
    });
    let plain_load = rate(window, || {
        let id = *next.next().unwrap();
        std::hint::black_box(select(&mut conn, id));
    });

    diesel::sql_query("TRUNCATE stored_credentials")
        .execute(&mut conn)
        .expect("truncate");
    let populate_started = Instant::now();
    populate(&mut conn, &vault, records);
    let populated = populate_started.elapsed();
    let baseline = rewrite_unchanged(&mut conn, rotation::DEFAULT_BATCH);
    let started = Instant::now();
    let kek = rotation::add_kek(&vault, &mut conn, Actor::Cli).expect("add KEK");
    let report = rotation::rewrap_all(
        &vault,
        &mut conn,
        Actor::Cli,
        rotation::DEFAULT_BATCH,
        &mut |_| {},
    )
    .expect("rewrap");
    let rotated = started.elapsed();
    assert_eq!(report.rewrapped, records as u64);
    assert_eq!(report.kek, kek);
    assert_eq!(report.retired, vec![kek - 1]);

    println!("vault benchmark (fsync and synchronous_commit on; one connection)");
    println!(
        "  encrypt+store   {sealed_store:>9.0} ops/s   baseline plaintext insert {plain_store:>9.0} ops/s   ratio {:.3}",
        sealed_store / plain_store
    );
    println!(
        "  load+decrypt    {sealed_load:>9.0} ops/s   baseline select           {plain_load:>9.0} ops/s   ratio {:.3}",
        sealed_load / plain_load
    );
    println!(
        "  rotation of {records} records: {:.2} s ({:.0} values/s, {} passes, KEK {} retired)   baseline unchanged rewrite {:.2} s   ratio {:.2}",
        rotated.as_secs_f64(),
        records as f64 / rotated.as_secs_f64(),
        report.passes,
        kek - 1,
        baseline.as_secs_f64(),
        rotated.as_secs_f64() / baseline.as_secs_f64()
    );
    println!(
        "  (sealing {records} records in batches of 1,000 took {:.2} s)",
        populated.as_secs_f64()
    );
}
