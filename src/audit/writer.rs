//! Group commit for audit entries that stand alone (failed sign-ins, access denials,
//! scheduled jobs): entries with no change of their own to share a transaction with.
//!
//! Written one by one, each such entry pays a transaction and a durable commit (a WAL
//! flush) of its own. [`AuditWriter`] hands them to one task that writes everything
//! queued at that moment in one transaction through [`super::record_all`] (the code
//! behind [`super::record`], so ids and MACs are made exactly as on the normal path)
//! and answers the callers only after the commit: a few statements and one flush for
//! the whole batch, and no entry is acknowledged that is not committed.
//!
//! The writer never waits for company: it takes the first queued event and whatever
//! else is already queued, so a lone entry is committed at once. Batches form only
//! while every transaction slot is busy committing, which is exactly when entries
//! would otherwise queue up behind one another's flushes.
//!
//! Entries written inside the transaction of the change they record keep using
//! [`super::record`] directly: they must commit or roll back with that change.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use diesel::Connection;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::Event;
use crate::db::{Db, DbError};

/// How the writer batches. The defaults suit the appliance; other values are for
/// measuring (see benches/audit.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterOptions {
    /// Events waiting for the writer. A flood beyond this makes
    /// [`AuditWriter::append`] wait for room rather than grow the queue without bound.
    pub queue_capacity: usize,
    /// Most entries one transaction takes: bounds one transaction's size and how long
    /// the first caller of a large batch waits for the last entry of it.
    pub max_batch: usize,
    /// Batch transactions in flight at once. With two, one batch's statements run
    /// while the previous one waits for its WAL flush, rather than the writer idling
    /// through every flush (and PostgreSQL flushes commits that wait together in one
    /// go). More bought nothing measurable (benches/audit.rs), and each holds a pooled
    /// connection while in flight, taken from the requests' pool.
    pub max_in_flight: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 4096,
            max_batch: 512,
            max_in_flight: 2,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum WriterError {
    /// The entry was not committed. Shared by every entry of a failed transaction,
    /// hence behind an `Arc`.
    #[error("audit entry not written: {0}")]
    Db(Arc<DbError>),
    /// The writer task is gone (its runtime shut down); nothing more can be written.
    #[error("the audit writer has stopped")]
    Stopped,
}

impl WriterError {
    fn db(error: impl Into<DbError>) -> Self {
        Self::Db(Arc::new(error.into()))
    }
}

/// What the writer has done so far (for tests, benchmarks and diagnostics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions committed, each a durable commit.
    pub transactions_committed: u64,
    /// Entries in those transactions.
    pub entries_committed: u64,
    /// Transactions that failed (rolled back, or whose commit was not confirmed).
    pub transactions_failed: u64,
    /// Events waiting for the writer right now.
    pub queued: usize,
}

#[derive(Debug, Default)]
struct Counters {
    transactions_committed: AtomicU64,
    entries_committed: AtomicU64,
    transactions_failed: AtomicU64,
}

type Reply = oneshot::Sender<Result<i64, WriterError>>;

#[derive(Debug)]
struct Request {
    event: Event,
    reply: Reply,
}

/// A handle on the writer task; clones share it. The task ends once every handle is
/// dropped and the queue is drained.
#[derive(Debug, Clone)]
pub struct AuditWriter {
    queue: mpsc::Sender<Request>,
    counters: Arc<Counters>,
}

impl AuditWriter {
    /// Starts the writer task on the current Tokio runtime (panics outside one, like
    /// `tokio::spawn`).
    pub fn spawn(db: Db) -> AuditWriter {
        Self::spawn_with(db, WriterOptions::default())
    }

    /// [`spawn`](Self::spawn) with other limits. Panics if any of them is zero.
    pub fn spawn_with(db: Db, options: WriterOptions) -> AuditWriter {
        assert!(
            options.queue_capacity > 0 && options.max_batch > 0 && options.max_in_flight > 0,
            "audit writer limits must be positive: {options:?}"
        );
        let (queue, requests) = mpsc::channel(options.queue_capacity);
        let counters = Arc::new(Counters::default());
        tokio::spawn(run(db, requests, options, Arc::clone(&counters)));
        AuditWriter { queue, counters }
    }

    /// Writes `event` and returns its entry id once the entry is durably committed
    /// (durable as far as the server's `synchronous_commit` makes commits durable;
    /// PostgreSQL's default does).
    ///
    /// Waits for room when the queue is full. Dropping the future after the event has
    /// been queued does not withdraw it: the event happened and is still written, only
    /// its id goes unreported.
    pub async fn append(&self, event: Event) -> Result<i64, WriterError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Request { event, reply })
            .await
            .map_err(|_| WriterError::Stopped)?;
        answer.await.map_err(|_| WriterError::Stopped)?
    }

    pub fn stats(&self) -> WriterStats {
        WriterStats {
            transactions_committed: self.counters.transactions_committed.load(Ordering::Relaxed),
            entries_committed: self.counters.entries_committed.load(Ordering::Relaxed),
            transactions_failed: self.counters.transactions_failed.load(Ordering::Relaxed),
            queued: self.queue.max_capacity() - self.queue.capacity(),
        }
    }
}

async fn run(
    db: Db,
    mut requests: mpsc::Receiver<Request>,
    options: WriterOptions,
    counters: Arc<Counters>,
) {
    let slots = Arc::new(Semaphore::new(options.max_in_flight));
    let mut batch = Vec::with_capacity(options.max_batch);
    loop {
        // A batch is taken only when a transaction slot is free: while every slot is
        // busy committing, new events gather in the queue and go out together.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        // `recv_many` waits only while the queue is empty, then takes what is there (up
        // to the cap) without waiting for more: no latency is added to a lone entry.
        if requests.recv_many(&mut batch, options.max_batch).await == 0 {
            return;
        }
        let (events, replies): (Vec<Event>, Vec<Reply>) =
            batch.drain(..).map(|r| (r.event, r.reply)).unzip();
        let db = db.clone();
        let counters = Arc::clone(&counters);
        tokio::spawn(async move {
            write_batch(&db, events, replies, &counters).await;
            drop(slot);
        });
    }
}

/// How one attempt at writing a batch ended.
enum Attempt {
    Committed(Vec<i64>),
    /// A statement failed, so the transaction rolled back and COMMIT was never sent:
    /// nothing was written, and the entries (handed back) can safely be tried again.
    StatementFailed(Vec<Event>, diesel::result::Error),
    /// No connection, or BEGIN or COMMIT failed: the batch failed as a whole, or its
    /// fate is unknown. Either way none of it may be acknowledged.
    BatchFailed(WriterError),
}

/// Writes the batch and answers every caller. One entry PostgreSQL refuses (say, text
/// with a NUL byte) fails the statement for the whole batch, yet must not cost its
/// neighbours their entries: a batch whose statements fail is split in halves, each
/// tried on its own, until the entries that fail are alone. One bad entry among n
/// costs about 2·log2(n) extra transactions; a database that refuses everything, at
/// most 2n quick rollbacks, and every caller gets the error.
async fn write_batch(db: &Db, events: Vec<Event>, replies: Vec<Reply>, counters: &Counters) {
    let mut pending = vec![(events, replies)];
    while let Some((events, mut replies)) = pending.pop() {
        match attempt(db, events).await {
            Attempt::Committed(ids) => {
                counters
                    .transactions_committed
                    .fetch_add(1, Ordering::Relaxed);
                counters
                    .entries_committed
                    .fetch_add(ids.len() as u64, Ordering::Relaxed);
                for (reply, id) in replies.into_iter().zip(ids) {
                    // A caller that went away still had its entry written.
                    let _ = reply.send(Ok(id));
                }
            }
            Attempt::StatementFailed(mut events, error) => {
                counters.transactions_failed.fetch_add(1, Ordering::Relaxed);
                if events.len() == 1 {
                    let _ = replies.remove(0).send(Err(WriterError::db(error)));
                } else {
                    let half = events.len() / 2;
                    pending.push((events.split_off(half), replies.split_off(half)));
                    pending.push((events, replies));
                }
            }
            Attempt::BatchFailed(error) => {
                counters.transactions_failed.fetch_add(1, Ordering::Relaxed);
                for reply in replies {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }
}

/// One transaction over `events`.
async fn attempt(db: &Db, events: Vec<Event>) -> Attempt {
    let outcome = db
        .run(move |conn| {
            let mut statement_failed = false;
            let result = conn.transaction(|conn| {
                super::record_all(conn, &events).inspect_err(|_| statement_failed = true)
            });
            Ok::<_, DbError>(match result {
                Ok(ids) => Attempt::Committed(ids),
                // If the rollback failed too, its error is the one reported; COMMIT was
                // still never sent.
                Err(error) if statement_failed => Attempt::StatementFailed(events, error),
                Err(error) => Attempt::BatchFailed(WriterError::db(error)),
            })
        })
        .await;
    outcome.unwrap_or_else(|error| Attempt::BatchFailed(WriterError::db(error)))
}
