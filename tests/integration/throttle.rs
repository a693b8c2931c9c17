//! Sign-in back-off against a real database, on fixed timestamps.

use std::time::Duration;

use diesel::prelude::*;
use outpost::config::LoginConfig;
use outpost::db::schema::login_throttle;
use outpost::identity::throttle::{self, Subject, ThrottlePolicy};
use time::OffsetDateTime;
use time::macros::datetime;

use crate::support::pg::TestDb;

const T0: OffsetDateTime = datetime!(2026-12-01 09:00 UTC);
const ACCOUNT: Subject = Subject::Account("ada@example.com");
const ADDRESS: Subject = Subject::Address("203.0.113.9");

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The shipped defaults: 5 free failures, caps of 60 s (account) and 15 min
/// (address), a one-hour window.
fn policy() -> ThrottlePolicy {
    let policy = ThrottlePolicy::from(&LoginConfig::default());
    assert_eq!(
        policy,
        ThrottlePolicy {
            after_failures: 5,
            max_address_backoff: secs(15 * 60),
            max_account_backoff: secs(60),
            window: secs(3600),
        }
    );
    policy
}

fn fail(conn: &mut PgConnection, subject: Subject, at: OffsetDateTime) -> Option<Duration> {
    throttle::record_failure(conn, subject, &policy(), at).unwrap()
}

fn wait(conn: &mut PgConnection, subjects: &[Subject], at: OffsetDateTime) -> Option<Duration> {
    throttle::retry_after(conn, subjects, at).unwrap()
}

fn failures(conn: &mut PgConnection, subject: &str) -> Option<i32> {
    login_throttle::table
        .find(subject)
        .select(login_throttle::failures)
        .first(conn)
        .optional()
        .unwrap()
}

#[test]
fn back_off_starts_after_five_failures_and_doubles() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    let mut t = T0;
    for n in 1..=5 {
        assert_eq!(fail(conn, ACCOUNT, t), None, "failure {n} is free");
        assert_eq!(wait(conn, &[ACCOUNT], t), None);
        t += secs(1);
    }
    for expected in [1, 2, 4, 8, 16] {
        assert_eq!(fail(conn, ACCOUNT, t), Some(secs(expected)));
        assert_eq!(wait(conn, &[ACCOUNT], t), Some(secs(expected)));
        assert_eq!(
            wait(conn, &[ACCOUNT], t + secs(expected) / 2),
            Some(secs(expected) / 2),
            "the wait counts down"
        );
        t += secs(expected);
        assert_eq!(wait(conn, &[ACCOUNT], t), None, "the block has ended");
    }
    assert_eq!(failures(conn, "account:ada@example.com"), Some(10));
}

#[test]
fn an_account_is_never_blocked_for_more_than_a_minute() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    let blocks: Vec<Duration> = (0..40).filter_map(|_| fail(conn, ACCOUNT, T0)).collect();
    assert_eq!(blocks.iter().max(), Some(&secs(60)));
    assert_eq!(blocks.last(), Some(&secs(60)));
    assert_eq!(wait(conn, &[ACCOUNT], T0), Some(secs(60)));
    assert_eq!(wait(conn, &[ACCOUNT], T0 + secs(60)), None);
}

#[test]
fn an_account_under_constant_attack_sees_well_under_100_guesses_an_hour() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    // An attacker who tries the moment each block ends, for one hour.
    let mut t = T0;
    let mut guesses = 0;
    for _ in 0..1000 {
        if t >= T0 + secs(3600) {
            break;
        }
        match wait(conn, &[ACCOUNT], t) {
            Some(block) => {
                assert!(block <= secs(60), "the owner waits at most a minute");
                assert!(!block.is_zero(), "a block that has ended is not reported");
                t += block;
            }
            None => {
                fail(conn, ACCOUNT, t);
                guesses += 1;
            }
        }
    }
    assert!(t >= T0 + secs(3600), "the simulation covered the hour");
    assert!(guesses < 100, "{guesses} guesses in an hour");
    assert!(
        guesses > 50,
        "the cap, not the window, sets the pace: {guesses}"
    );
}

#[test]
fn an_address_is_blocked_for_at_most_fifteen_minutes() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    let blocks: Vec<Duration> = (0..40).filter_map(|_| fail(conn, ADDRESS, T0)).collect();
    let doubling: Vec<u64> = blocks[..11].iter().map(Duration::as_secs).collect();
    assert_eq!(doubling, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900]);
    assert_eq!(blocks.iter().max(), Some(&secs(15 * 60)));
    assert_eq!(wait(conn, &[ADDRESS], T0), Some(secs(15 * 60)));
    assert_eq!(
        wait(conn, &[ADDRESS], T0 + secs(15 * 60 - 1)),
        Some(secs(1))
    );
    assert_eq!(wait(conn, &[ADDRESS], T0 + secs(15 * 60)), None);
}

#[test]
fn failures_older_than_the_window_are_forgotten() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    for _ in 0..5 {
        assert_eq!(fail(conn, ACCOUNT, T0), None);
    }
    // A sixth failure 59 minutes later still counts with the first five…
    assert_eq!(fail(conn, ACCOUNT, T0 + secs(59 * 60)), Some(secs(1)));
    // …and over an hour after the last one, counting starts again.
    let later = T0 + secs(59 * 60) + secs(3600);
    assert_eq!(fail(conn, ACCOUNT, later), None);
    assert_eq!(failures(conn, "account:ada@example.com"), Some(1));
    assert_eq!(wait(conn, &[ACCOUNT], later), None);
    for _ in 0..4 {
        assert_eq!(fail(conn, ACCOUNT, later), None);
    }
    assert_eq!(fail(conn, ACCOUNT, later), Some(secs(1)));
}

#[test]
fn success_clears_only_the_subjects_it_names() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    for _ in 0..8 {
        fail(conn, ACCOUNT, T0);
        fail(conn, ADDRESS, T0);
    }
    assert_eq!(wait(conn, &[ACCOUNT], T0), Some(secs(4)));
    throttle::record_success(conn, &[ACCOUNT]).unwrap();
    assert_eq!(wait(conn, &[ACCOUNT], T0), None);
    assert_eq!(failures(conn, "account:ada@example.com"), None);
    assert_eq!(
        wait(conn, &[ADDRESS], T0),
        Some(secs(4)),
        "address untouched"
    );
    assert_eq!(
        fail(conn, ACCOUNT, T0),
        None,
        "the account starts from zero"
    );
    throttle::record_success(conn, &[ADDRESS, ACCOUNT]).unwrap();
    assert_eq!(wait(conn, &[ADDRESS, ACCOUNT], T0), None);
    throttle::record_success(conn, &[]).unwrap();
}

#[test]
fn retry_after_reports_the_longest_block_among_the_subjects() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    for _ in 0..10 {
        fail(conn, ACCOUNT, T0); // 16 s
    }
    for _ in 0..7 {
        fail(conn, ADDRESS, T0); // 2 s
    }
    let unknown = Subject::Address("198.51.100.1");
    assert_eq!(wait(conn, &[ADDRESS, ACCOUNT, unknown], T0), Some(secs(16)));
    assert_eq!(wait(conn, &[ADDRESS, unknown], T0), Some(secs(2)));
    assert_eq!(
        wait(conn, &[ADDRESS, ACCOUNT], T0 + secs(3)),
        Some(secs(13))
    );
    assert_eq!(wait(conn, &[unknown], T0), None);
    assert_eq!(wait(conn, &[], T0), None);
}

#[test]
fn subjects_are_kept_apart_and_emails_match_case_insensitively() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    fail(conn, Subject::Account("Ada@Example.COM"), T0);
    fail(conn, Subject::Account(" ada@example.com"), T0);
    fail(conn, Subject::Account("bob@example.com"), T0);
    fail(conn, Subject::Address("203.0.113.9"), T0);
    fail(conn, Subject::Address("203.0.113.10"), T0);
    let mut rows: Vec<(String, i32)> = login_throttle::table
        .select((login_throttle::subject, login_throttle::failures))
        .order(login_throttle::subject)
        .load(conn)
        .unwrap();
    rows.sort();
    assert_eq!(
        rows,
        [
            ("account:ada@example.com".to_string(), 2),
            ("account:bob@example.com".to_string(), 1),
            ("address:203.0.113.10".to_string(), 1),
            ("address:203.0.113.9".to_string(), 1),
        ]
    );
}

#[test]
fn concurrent_failures_are_all_counted() {
    let db = TestDb::new();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let mut conn = db.conn();
            std::thread::spawn(move || {
                for _ in 0..10 {
                    fail(&mut conn, ACCOUNT, T0);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let conn = &mut db.conn();
    assert_eq!(failures(conn, "account:ada@example.com"), Some(80));
    assert_eq!(wait(conn, &[ACCOUNT], T0), Some(secs(60)));
}

#[test]
fn purge_removes_rows_that_no_longer_matter() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    let policy = policy();
    fail(conn, Subject::Address("198.51.100.1"), T0);
    for _ in 0..20 {
        fail(conn, ADDRESS, T0 + secs(1800)); // blocked for 15 minutes
    }
    assert_eq!(throttle::purge(conn, &policy, T0 + secs(3599)).unwrap(), 0);
    assert_eq!(throttle::purge(conn, &policy, T0 + secs(3600)).unwrap(), 1);
    assert_eq!(failures(conn, "address:198.51.100.1"), None);
    assert_eq!(failures(conn, "address:203.0.113.9"), Some(20));
    assert_eq!(
        throttle::purge(conn, &policy, T0 + secs(1800 + 3600)).unwrap(),
        1
    );

    // A block may outlast the window when the cap exceeds it; purge keeps it.
    let short_window = ThrottlePolicy {
        window: secs(10),
        ..policy
    };
    let mut blocked = None;
    for _ in 0..12 {
        blocked = throttle::record_failure(conn, ADDRESS, &short_window, T0).unwrap();
    }
    assert_eq!(blocked, Some(secs(64)));
    assert_eq!(
        throttle::purge(conn, &short_window, T0 + secs(20)).unwrap(),
        0
    );
    assert_eq!(wait(conn, &[ADDRESS], T0 + secs(20)), Some(secs(44)));
    assert_eq!(
        throttle::purge(conn, &short_window, T0 + secs(64)).unwrap(),
        1
    );
}

#[test]
fn a_known_number_of_failures_is_forgotten_only_if_nobody_else_failed() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    for n in 0..3 {
        fail(conn, ADDRESS, T0 + secs(n));
    }
    assert!(!throttle::forget_if_only(conn, ADDRESS, 2).unwrap());
    assert_eq!(failures(conn, "address:203.0.113.9"), Some(3));
    assert!(throttle::forget_if_only(conn, ADDRESS, 3).unwrap());
    assert_eq!(failures(conn, "address:203.0.113.9"), None);
    assert!(!throttle::forget_if_only(conn, ACCOUNT, 3).unwrap());
}
