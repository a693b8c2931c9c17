//! Durable audit appends per second, against a PostgreSQL cluster of the benchmark's
//! own with fsync and synchronous commit on (the test clusters run without either, so
//! every commit would look free there). At 1, 8 and 32 concurrent writers:
//!
//! - (a) a plain single-row INSERT into an ordinary table, one transaction per row:
//!   the baseline, what a durable commit costs on this machine;
//! - (b) `audit::record`, one transaction per entry (what a stand-alone entry costs
//!   without the writer);
//! - (c) `AuditWriter::append` (group commit) with its default options;
//! - (c1) the same with only one batch transaction in flight at a time, to show what
//!   overlapping batches (`WriterOptions::max_in_flight`) buy.
//!
//! All against one database in one run, reported as ratios to (a) at the same
//! concurrency. Rounds rotate the order of the cases, so drift on the machine (other
//! processes' disk traffic makes flush times vary a lot) affects them alike.
//!
//! `cargo bench --bench audit` (add `-- --quick` for a short run).

#[path = "common/median.rs"]
mod median;
#[path = "../tests/support/mod.rs"]
mod support;

use median::median;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::Text;
use outpost::audit::context::{self, AuditContext};
use outpost::audit::writer::{AuditWriter, WriterOptions};
use outpost::audit::{self, Actor, Event, Outcome};
use outpost::db::Db;
use outpost::identity::ClientInfo;
use support::pg::{Cluster, Durability};

const CONCURRENCY: [usize; 3] = [1, 8, 32];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    PlainInsert,
    RecordPerTransaction,
    Writer(WriterOptions),
}

const CASES: usize = 4;

fn cases() -> [Case; CASES] {
    [
        Case::PlainInsert,
        Case::RecordPerTransaction,
        Case::Writer(WriterOptions::default()),
        Case::Writer(WriterOptions {
            max_in_flight: 1,
            ..WriterOptions::default()
        }),
    ]
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    setting: String,
}

fn show(conn: &mut PgConnection, name: &str) -> String {
    diesel::sql_query(format!("SELECT current_setting('{name}') AS setting"))
        .get_result::<Setting>(conn)
        .map(|s| s.setting)
        .unwrap_or_else(|e| panic!("SHOW {name}: {e}"))
}

/// A failed sign-in as the web layer records it: the typical stand-alone entry.
fn sample_event() -> Event {
    Event::new(Actor::Anonymous, "session.sign_in", Outcome::Failure)
        .target("email:someone@example.com")
        .client(&ClientInfo {
            ip: Some("203.0.113.9".into()),
            user_agent: None,
            request_id: Some("0b5e6c1e-55a4-4f5c-9d0b-3f1f2b7f4c11".into()),
        })
        .details(serde_json::json!({ "reason": "invalid_credentials" }))
}

/// Roughly the size of an entry's row, for the baseline's row.
const PAYLOAD: &str = "session.sign_in failure anonymous email:someone@example.com 203.0.113.9 \
                       0b5e6c1e-55a4-4f5c-9d0b-3f1f2b7f4c11 {\"reason\":\"invalid_credentials\"}";

/// Completed operations per second: `writers` threads, each with its own connection,
/// run `op` until the deadline. Connections are opened before the clock starts.
fn threads_per_second(
    url: &str,
    writers: usize,
    window: Duration,
    op: fn(&mut PgConnection),
) -> f64 {
    let done = AtomicU64::new(0);
    let ready = Barrier::new(writers + 1);
    // The scope returns once every writer has finished its last operation.
    let started = std::thread::scope(|scope| {
        for _ in 0..writers {
            scope.spawn(|| {
                let mut conn = PgConnection::establish(url).expect("connect");
                ready.wait();
                let deadline = Instant::now() + window;
                let mut count = 0;
                while Instant::now() < deadline {
                    op(&mut conn);
                    count += 1;
                }
                done.fetch_add(count, Ordering::Relaxed);
            });
        }
        ready.wait();
        Instant::now()
    });
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn plain_insert(conn: &mut PgConnection) {
    // Autocommit: one transaction, one durable commit per row.
    diesel::sql_query("INSERT INTO bench_rows (payload) VALUES ($1)")
        .bind::<Text, _>(PAYLOAD)
        .execute(conn)
        .expect("plain insert");
}

fn record_per_transaction(conn: &mut PgConnection) {
    conn.transaction(|conn| audit::record(conn, &sample_event()))
        .expect("record");
}

/// Appends per second through one writer shared by `writers` tasks, and the average
/// number of entries per committed transaction.
fn writer_per_second(
    runtime: &tokio::runtime::Runtime,
    db: &Db,
    options: WriterOptions,
    writers: usize,
    window: Duration,
) -> (f64, f64) {
    runtime.block_on(async {
        let writer = AuditWriter::spawn_with(db.clone(), options);
        // Opens the pool's connection before the clock starts, as for the threads.
        writer.append(sample_event()).await.expect("warm-up append");
        let before = writer.stats();
        let started = Instant::now();
        let deadline = started + window;
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..writers {
            let writer = writer.clone();
            tasks.spawn(async move {
                let mut count = 0u64;
                while Instant::now() < deadline {
                    writer.append(sample_event()).await.expect("append");
                    count += 1;
                }
                count
            });
        }
        let done: u64 = tasks.join_all().await.into_iter().sum();
        let elapsed = started.elapsed();
        let after = writer.stats();
        let entries = after.entries_committed - before.entries_committed;
        let commits = after.transactions_committed - before.transactions_committed;
        (
            done as f64 / elapsed.as_secs_f64(),
            entries as f64 / commits.max(1) as f64,
        )
    })
}

#[derive(Default)]
struct Cell {
    rates: [Vec<f64>; CASES],
    /// Per round, each case's rate over (a)'s: ratios within one round cancel drift.
    ratios: [Vec<f64>; CASES],
    /// Entries per committed transaction, for the writer cases.
    batch: [Vec<f64>; CASES],
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, window) = if quick {
        (1, Duration::from_secs(1))
    } else {
        (3, Duration::from_secs(2))
    };
    context::install(AuditContext::new(&[7; 32], "bench"));

    let cluster = Cluster::start(Durability::On);
    let url = cluster.create_database("outpost_bench");
    let mut conn = PgConnection::establish(&url).expect("connect");
    outpost::db::migrate(&mut conn).expect("migrate");
    diesel::sql_query(
        "CREATE TABLE bench_rows (id bigserial PRIMARY KEY, \
         created_at timestamptz NOT NULL DEFAULT now(), payload text NOT NULL)",
    )
    .execute(&mut conn)
    .expect("create baseline table");
    // Numbers without real flushes would be meaningless: refuse to report them.
    for setting in ["fsync", "synchronous_commit"] {
        assert_eq!(show(&mut conn, setting), "on", "{setting} must be on");
    }
    let version = show(&mut conn, "server_version");
    let sync_method = show(&mut conn, "wal_sync_method");
    let filesystem = std::process::Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(cluster.data_dir())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();

    // Room for every batch transaction the writer may have in flight.
    let db = Db::connect_url(&url, 8, Duration::from_secs(10)).expect("pool");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let run = |case: Case, writers: usize, window: Duration| -> (f64, Option<f64>) {
        match case {
            Case::PlainInsert => (
                threads_per_second(&url, writers, window, plain_insert),
                None,
            ),
            Case::RecordPerTransaction => (
                threads_per_second(&url, writers, window, record_per_transaction),
                None,
            ),
            Case::Writer(options) => {
                let (rate, batch) = writer_per_second(&runtime, &db, options, writers, window);
                (rate, Some(batch))
            }
        }
    };
    // Warm-up: caches, the WAL's first segments, every code path.
    for case in cases() {
        run(case, 8, Duration::from_millis(500));
    }

    let mut cells: Vec<Cell> = CONCURRENCY.iter().map(|_| Cell::default()).collect();
    for (cell, &writers) in cells.iter_mut().zip(&CONCURRENCY) {
        for round in 0..rounds {
            let mut rate = [0.0; CASES];
            for i in 0..CASES {
                let case = (i + round) % CASES;
                let (r, batch) = run(cases()[case], writers, window);
                rate[case] = r;
                if let Some(batch) = batch {
                    cell.batch[case].push(batch);
                }
            }
            for case in 0..CASES {
                cell.rates[case].push(rate[case]);
                cell.ratios[case].push(rate[case] / rate[0]);
            }
        }
    }
    drop(runtime);
    drop(conn);
    // Stops the cluster and removes its files.
    drop(cluster);

    println!(
        "outpost audit append benchmark: durable commits (PostgreSQL {version}, fsync=on, \
         synchronous_commit=on, wal_sync_method={sync_method}, data on {filesystem})"
    );
    println!(
        "{rounds} round(s) of {window:?} per cell; appends/s are medians, ratios are \
         medians of per-round ratios to (a); n = entries per commit"
    );
    println!();
    println!(
        "writers | (a) INSERT/s | (b) record/s    b/a | (c) writer/s    c/a      n | (c1) 1 in flight/s   c1/a      n"
    );
    for (cell, writers) in cells.iter().zip(CONCURRENCY) {
        println!(
            "{writers:>7} | {:>12.0} | {:>12.0} {:>6.2} | {:>12.0} {:>6.2} {:>6.1} | {:>18.0} {:>6.2} {:>6.1}",
            median(&cell.rates[0]),
            median(&cell.rates[1]),
            median(&cell.ratios[1]),
            median(&cell.rates[2]),
            median(&cell.ratios[2]),
            median(&cell.batch[2]),
            median(&cell.rates[3]),
            median(&cell.ratios[3]),
            median(&cell.batch[3]),
        );
    }
}
