//! What the reporter holds while the controller is unreachable: a bounded queue of
//! reports (the oldest dropped when full, and counted, so the newest state always gets
//! through), and the capped exponential back-off between attempts to send.

use std::collections::VecDeque;
use std::time::Duration;

use super::protocol::Report;

#[derive(Debug)]
pub struct ReportQueue {
    reports: VecDeque<Report>,
    capacity: usize,
    dropped: u64,
}

impl ReportQueue {
    pub fn new(capacity: usize) -> Self {
        Self {
            reports: VecDeque::new(),
            capacity: capacity.max(1),
            dropped: 0,
        }
    }

    /// Adds `report` behind the others; when full, the oldest goes first. Returns the
    /// report dropped to make room, if any.
    pub fn push(&mut self, report: Report) -> Option<Report> {
        let dropped = if self.reports.len() >= self.capacity {
            self.dropped += 1;
            self.reports.pop_front()
        } else {
            None
        };
        self.reports.push_back(report);
        dropped
    }

    /// The oldest report, still queued until [`ReportQueue::done`] says it is.
    pub fn oldest(&self) -> Option<&Report> {
        self.reports.front()
    }

    /// The oldest report was delivered (or refused for good): it leaves the queue.
    pub fn done(&mut self) -> Option<Report> {
        self.reports.pop_front()
    }

    pub fn len(&self) -> usize {
        self.reports.len()
    }

    pub fn is_empty(&self) -> bool {
        self.reports.is_empty()
    }

    /// Reports dropped because the queue was full, since the start.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// Waits that double after each failure up to a cap, and start over after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(first: Duration, cap: Duration) -> Self {
        Self {
            first,
            cap: cap.max(first),
            failures: 0,
        }
    }

    /// Another failure: how long to wait before the next attempt.
    pub fn failed(&mut self) -> Duration {
        let wait = self
            .first
            .checked_mul(2u32.saturating_pow(self.failures))
            .map_or(self.cap, |wait| wait.min(self.cap));
        self.failures = self.failures.saturating_add(1);
        wait
    }

    pub fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::protocol::{AppHealth, HostHealth, SecurityHealth};

    fn report(n: u128) -> Report {
        Report {
            id: uuid::Uuid::from_u128(n),
            taken_at: time::OffsetDateTime::UNIX_EPOCH,
            version: "test".into(),
            region: None,
            host: HostHealth {
                cpu_percent: 0.0,
                memory_used_bytes: 0,
                memory_total_bytes: 0,
                load_1m: 0.0,
                load_5m: 0.0,
                load_15m: 0.0,
                uptime_secs: 0,
                disks: Vec::new(),
            },
            app: AppHealth {
                web_ready: true,
                database_reachable: true,
                scheduler_alive: true,
                ssh_reachable: false,
                ssh_banner: None,
                last_backup_age_hours: None,
                last_drill_ok: None,
                certificate_days_left: None,
            },
            security: SecurityHealth {
                open_findings: Default::default(),
                hardening_drift: 0,
                mttr_secs: None,
                auto_fix_rate: None,
            },
        }
    }

    fn ids(queue: &mut ReportQueue) -> Vec<u128> {
        std::iter::from_fn(|| queue.done())
            .map(|r| r.id.as_u128())
            .collect()
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts_it() {
        let mut queue = ReportQueue::new(3);
        for n in 1..=3 {
            assert!(queue.push(report(n)).is_none());
        }
        assert_eq!(queue.push(report(4)).map(|r| r.id.as_u128()), Some(1));
        assert_eq!(queue.push(report(5)).map(|r| r.id.as_u128()), Some(2));
        assert_eq!(queue.len(), 3);
        assert_eq!(queue.dropped(), 2);
        assert_eq!(queue.oldest().map(|r| r.id.as_u128()), Some(3));
        assert_eq!(ids(&mut queue), [3, 4, 5]);
        assert!(queue.is_empty());
    }

    #[test]
    fn reports_leave_oldest_first_and_only_when_done() {
        let mut queue = ReportQueue::new(10);
        queue.push(report(7));
        queue.push(report(8));
        assert_eq!(queue.oldest().map(|r| r.id.as_u128()), Some(7));
        assert_eq!(queue.oldest().map(|r| r.id.as_u128()), Some(7));
        assert_eq!(ids(&mut queue), [7, 8]);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets_on_success() {
        let mut backoff = Backoff::new(Duration::from_secs(5), Duration::from_secs(60));
        let waits: Vec<u64> = (0..6).map(|_| backoff.failed().as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 60, 60]);
        assert_eq!(backoff.failures(), 6);
        for _ in 0..100 {
            assert_eq!(backoff.failed(), Duration::from_secs(60));
        }
        backoff.succeeded();
        assert_eq!(backoff.failed(), Duration::from_secs(5));
    }
}
