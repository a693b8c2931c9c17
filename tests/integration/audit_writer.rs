//! Group commit of stand-alone audit entries against real PostgreSQL: every caller is
//! answered only for what was committed, entries are those `audit::record` writes, and
//! appends arriving together share a transaction.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use outpost::audit::context::{self, AuditContext};
use outpost::audit::entry::StoredEntry;
use outpost::audit::writer::{AuditWriter, WriterError, WriterOptions};
use outpost::audit::{Actor, Event, Outcome};
use outpost::db::Db;
use outpost::db::schema::audit_events;
use tokio::task::JoinSet;

use crate::support::pg::TestDb;

fn context() -> &'static AuditContext {
    context::install(AuditContext::new(
        &crate::support::pg::TEST_VAULT_KEY,
        "tests",
    ))
}

fn pool(db: &TestDb) -> Db {
    Db::connect_url(&db.url, 4, Duration::from_secs(10)).expect("pool")
}

/// A writer with one transaction in flight at a time, so that while it waits on a lock
/// everything else stays queued.
fn one_at_a_time(db: &TestDb) -> AuditWriter {
    AuditWriter::spawn_with(
        pool(db),
        WriterOptions {
            max_in_flight: 1,
            ..WriterOptions::default()
        },
    )
}

fn event(n: usize) -> Event {
    Event::new(Actor::Anonymous, "session.sign_in", Outcome::Failure)
        .target(format!("email:user{n}@example.com"))
        .details(serde_json::json!({ "n": n }))
}

/// Appends `events` concurrently; the results in the order of `events`.
async fn append_all(writer: &AuditWriter, events: Vec<Event>) -> Vec<Result<i64, WriterError>> {
    let mut tasks = JoinSet::new();
    for (n, event) in events.into_iter().enumerate() {
        let writer = writer.clone();
        tasks.spawn(async move { (n, writer.append(event).await) });
    }
    let mut results: Vec<_> = tasks.join_all().await;
    results.sort_by_key(|(n, _)| *n);
    results.into_iter().map(|(_, result)| result).collect()
}

fn stored(db: &TestDb) -> HashMap<i64, StoredEntry> {
    audit_events::table
        .select(StoredEntry::as_select())
        .load(&mut db.conn())
        .expect("load entries")
        .into_iter()
        .map(|e| (e.id, e))
        .collect()
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Distinct writing transactions among the stored entries.
fn transactions_in_table(db: &TestDb) -> i64 {
    diesel::sql_query("SELECT count(DISTINCT tx_id) AS n FROM audit_events")
        .get_result::<Count>(&mut db.conn())
        .expect("count transactions")
        .n
}

/// Holds a lock that makes every INSERT into `audit_events` wait until it is dropped.
struct InsertsBlocked(PgConnection);

impl InsertsBlocked {
    fn new(db: &TestDb) -> Self {
        let mut conn = db.conn();
        diesel::sql_query("BEGIN").execute(&mut conn).unwrap();
        diesel::sql_query("LOCK TABLE audit_events IN SHARE MODE")
            .execute(&mut conn)
            .unwrap();
        Self(conn)
    }
}

impl Drop for InsertsBlocked {
    fn drop(&mut self) {
        let _ = diesel::sql_query("COMMIT").execute(&mut self.0);
    }
}

/// Whether a session of this test's database waits for a lock (the writer's INSERT).
fn waiting_on_lock(db: &TestDb) -> bool {
    diesel::sql_query(
        "SELECT count(*) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .get_result::<Count>(&mut db.conn())
    .expect("pg_stat_activity")
    .n > 0
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_are_all_acknowledged_and_authentic() {
    let db = TestDb::new();
    let writer = AuditWriter::spawn(pool(&db));
    let results = append_all(&writer, (0..200).map(event).collect()).await;

    let ids: Vec<i64> = results
        .into_iter()
        .map(|r| r.expect("acknowledged"))
        .collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 200, "ids unique");
    let entries = stored(&db);
    assert_eq!(entries.len(), 200);
    for (n, id) in ids.iter().enumerate() {
        let entry = &entries[id];
        // Each caller got the id of its own entry.
        assert_eq!(
            entry.target.as_deref(),
            Some(format!("email:user{n}@example.com").as_str())
        );
        let mac = entry.mac.as_deref().expect("entry has a MAC");
        assert!(
            context().mac_matches(&entry.canonical(), mac),
            "MAC of entry {id}"
        );
    }

    let stats = writer.stats();
    assert_eq!(stats.entries_committed, 200);
    assert_eq!(stats.transactions_failed, 0);
    // Appends queued while a commit was in flight went into the next transaction.
    assert!(stats.transactions_committed < 200, "no grouping: {stats:?}");
    assert_eq!(
        transactions_in_table(&db),
        stats.transactions_committed as i64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_waiting_for_a_commit_share_the_next_transaction() {
    let db = TestDb::new();
    let writer = one_at_a_time(&db);
    let blocked = InsertsBlocked::new(&db);
    // The first append takes the writer and waits on the lock; the rest queue up.
    let first = tokio::spawn({
        let writer = writer.clone();
        async move { writer.append(event(0)).await }
    });
    until("the first append to wait on the lock", || {
        waiting_on_lock(&db)
    })
    .await;
    let rest = tokio::spawn({
        let writer = writer.clone();
        async move { append_all(&writer, (1..200).map(event).collect()).await }
    });
    until("199 appends to queue", || writer.stats().queued == 199).await;
    drop(blocked);

    first.await.unwrap().expect("first acknowledged");
    for result in rest.await.unwrap() {
        result.expect("acknowledged");
    }
    let stats = writer.stats();
    assert_eq!(stats.transactions_committed, 2, "{stats:?}");
    assert_eq!(stats.entries_committed, 200);
    assert_eq!(transactions_in_table(&db), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_append_is_committed_at_once() {
    let db = TestDb::new();
    let writer = AuditWriter::spawn(pool(&db));
    for n in 0..3 {
        let id = writer.append(event(n)).await.expect("acknowledged");
        assert!(stored(&db).contains_key(&id), "committed before the answer");
    }
    let stats = writer.stats();
    assert_eq!(stats.transactions_committed, 3);
    assert_eq!(stats.entries_committed, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_acknowledges_nothing() {
    let db = TestDb::new();
    db.execute("DROP TABLE audit_events CASCADE");
    let writer = AuditWriter::spawn(pool(&db));
    let results = append_all(&writer, (0..50).map(event).collect()).await;

    for result in results {
        match result {
            Err(WriterError::Db(_)) => {}
            other => panic!("expected a database error, got {other:?}"),
        }
    }
    let stats = writer.stats();
    assert_eq!(stats.transactions_committed, 0, "{stats:?}");
    assert_eq!(stats.entries_committed, 0);
    assert!(stats.transactions_failed >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_postgresql_refuses_fails_alone() {
    let db = TestDb::new();
    let writer = one_at_a_time(&db);
    let blocked = InsertsBlocked::new(&db);
    let first = tokio::spawn({
        let writer = writer.clone();
        async move { writer.append(event(0)).await }
    });
    until("the first append to wait on the lock", || {
        waiting_on_lock(&db)
    })
    .await;
    // One batch of 50 with, in the middle, text PostgreSQL refuses (a NUL byte).
    let events: Vec<Event> = (1..51)
        .map(|n| {
            if n == 25 {
                event(n).target("email:\0@example.com")
            } else {
                event(n)
            }
        })
        .collect();
    let rest = tokio::spawn({
        let writer = writer.clone();
        async move { append_all(&writer, events).await }
    });
    until("50 appends to queue", || writer.stats().queued == 50).await;
    drop(blocked);

    first.await.unwrap().expect("first acknowledged");
    let results = rest.await.unwrap();
    for (i, result) in results.iter().enumerate() {
        if i + 1 == 25 {
            assert!(matches!(result, Err(WriterError::Db(_))), "{result:?}");
        } else {
            result
                .as_ref()
                .expect("acknowledged despite a bad neighbour");
        }
    }
    let stats = writer.stats();
    assert_eq!(stats.entries_committed, 50, "{stats:?}");
    assert!(stats.transactions_failed >= 1, "{stats:?}");
    // The good entries of the batch were still written in a few transactions, not one
    // each: the batch was split around the bad entry.
    assert!(stats.transactions_committed <= 1 + 12, "{stats:?}");
    assert_eq!(stored(&db).len(), 50);
}

#[test]
fn record_all_writes_entries_beyond_one_statement_in_order() {
    let db = TestDb::new();
    let events: Vec<Event> = (0..2_500).map(event).collect();
    let ids = db
        .conn()
        .transaction(|conn| outpost::audit::record_all(conn, &events))
        .expect("record_all");
    assert_eq!(ids.len(), 2_500);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids ascending");
    let entries = stored(&db);
    assert_eq!(entries.len(), 2_500);
    for (n, id) in ids.iter().enumerate() {
        let entry = &entries[id];
        assert_eq!(
            entry.target.as_deref(),
            Some(format!("email:user{n}@example.com").as_str())
        );
        assert!(context().mac_matches(&entry.canonical(), entry.mac.as_deref().unwrap()));
    }
}
