//! Sign-in back-off per source address and per account.
//!
//! After `after_failures` failures within the window, each further failure blocks its
//! subject for twice as long as the one before (1 s, 2 s, 4 s, …) up to a cap. An
//! account's cap is short (a minute by default): long enough to hold guessing against
//! one account to well under 100 attempts an hour, too short to lock its owner out.
//! An address gets a long cap, since it is the attacker's own.

use std::time::Duration;

use diesel::dsl::case_when;
use diesel::prelude::*;
use diesel::sql_types::Integer;
use time::OffsetDateTime;

use crate::config::LoginConfig;
use crate::db::schema::login_throttle;

/// Longer subjects are cut: no valid email exceeds 254 characters, and an unbounded
/// key would let one request create an oversized row (or fail on the index limit).
const MAX_SUBJECT_CHARS: usize = 254;
/// Windows and blocks are clamped to a year: beyond any sensible setting, and it keeps
/// timestamp arithmetic in range whatever the configuration says.
const MAX_SPAN: Duration = Duration::from_secs(365 * 24 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub after_failures: u32,
    pub max_address_backoff: Duration,
    pub max_account_backoff: Duration,
    pub window: Duration,
}

impl From<&LoginConfig> for ThrottlePolicy {
    fn from(config: &LoginConfig) -> Self {
        Self {
            after_failures: config.backoff_after_failures,
            max_address_backoff: config.max_address_backoff,
            max_account_backoff: config.max_account_backoff,
            window: config.failure_window,
        }
    }
}

/// Who a failed sign-in counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// The client's IP address.
    Address(&'a str),
    /// The email that was tried, whether or not an account has it.
    Account(&'a str),
}

impl Subject<'_> {
    fn key(self) -> String {
        let key = match self {
            Subject::Address(ip) => format!("address:{}", ip.trim()),
            Subject::Account(email) => format!("account:{}", email.trim().to_lowercase()),
        };
        key.chars().take(MAX_SUBJECT_CHARS).collect()
    }

    fn cap(self, policy: &ThrottlePolicy) -> Duration {
        let cap = match self {
            Subject::Address(_) => policy.max_address_backoff,
            Subject::Account(_) => policy.max_account_backoff,
        };
        cap.min(MAX_SPAN)
    }
}

/// How long the caller must still wait: the longest block among `subjects`, if any.
/// Check this before verifying a password, so a blocked attempt costs no hashing.
pub fn retry_after(
    conn: &mut PgConnection,
    subjects: &[Subject],
    now: OffsetDateTime,
) -> QueryResult<Option<Duration>> {
    if subjects.is_empty() {
        return Ok(None);
    }
    let keys: Vec<String> = subjects.iter().map(|s| s.key()).collect();
    let until: Option<OffsetDateTime> = login_throttle::table
        .filter(login_throttle::subject.eq_any(&keys))
        .filter(login_throttle::blocked_until.gt(now))
        .select(diesel::dsl::max(login_throttle::blocked_until))
        .get_result(conn)?;
    Ok(until.map(|until| (until - now).unsigned_abs()))
}

/// Counts a failure against `subject` and returns the block it now earns, if any.
pub fn record_failure(
    conn: &mut PgConnection,
    subject: Subject,
    policy: &ThrottlePolicy,
    now: OffsetDateTime,
) -> QueryResult<Option<Duration>> {
    use login_throttle::dsl as t;
    let key = subject.key();
    let forgotten_before = now - policy.window.min(MAX_SPAN);
    conn.transaction(|conn| {
        // The upsert locks the row until commit, so concurrent failures for one
        // subject are counted one after another and none is lost.
        let failures: i32 = diesel::insert_into(t::login_throttle)
            .values((
                t::subject.eq(&key),
                t::failures.eq(1),
                t::last_failure_at.eq(now),
            ))
            .on_conflict(t::subject)
            .do_update()
            .set((
                t::failures.eq(case_when::<_, _, Integer>(
                    t::last_failure_at.le(forgotten_before),
                    1,
                )
                // Saturate rather than fail on overflow, for a caller that keeps
                // recording failures during a block.
                .when(t::failures.ge(i32::MAX), t::failures)
                .otherwise(t::failures + 1)),
                t::last_failure_at.eq(now),
            ))
            .returning(t::failures)
            .get_result(conn)?;
        let block = backoff(failures, policy.after_failures, subject.cap(policy));
        diesel::update(t::login_throttle.find(&key))
            .set(t::blocked_until.eq(block.map(|b| now + b)))
            .execute(conn)?;
        Ok(block)
    })
}

/// Forgets the failures of `subjects`. Pass only what the success vouches for,
/// normally the account: clearing the address on any success would let an attacker
/// with an account of their own reset their address's back-off between guesses.
pub fn record_success(conn: &mut PgConnection, subjects: &[Subject]) -> QueryResult<()> {
    if subjects.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = subjects.iter().map(|s| s.key()).collect();
    diesel::delete(login_throttle::table.filter(login_throttle::subject.eq_any(&keys)))
        .execute(conn)
        .map(drop)
}

/// Forgets `subject`'s failures if it has no more than `failures` of them: undoes a
/// known number of deliberate failures without erasing anyone else's.
pub fn forget_if_only(
    conn: &mut PgConnection,
    subject: Subject,
    failures: u32,
) -> QueryResult<bool> {
    let most = i32::try_from(failures).unwrap_or(i32::MAX);
    diesel::delete(
        login_throttle::table
            .find(subject.key())
            .filter(login_throttle::failures.le(most)),
    )
    .execute(conn)
    .map(|deleted| deleted > 0)
}

/// Deletes rows that no longer affect anything: their failures are outside the window
/// and their block is over. Returns how many.
pub fn purge(
    conn: &mut PgConnection,
    policy: &ThrottlePolicy,
    now: OffsetDateTime,
) -> QueryResult<usize> {
    diesel::delete(
        login_throttle::table
            .filter(login_throttle::last_failure_at.le(now - policy.window.min(MAX_SPAN)))
            .filter(
                login_throttle::blocked_until
                    .is_null()
                    .or(login_throttle::blocked_until.le(now)),
            ),
    )
    .execute(conn)
}

/// 2^(failures - after - 1) seconds once `failures` exceeds `after`, at most `cap`.
fn backoff(failures: i32, after: u32, cap: Duration) -> Option<Duration> {
    let over = u32::try_from(failures).ok()?.checked_sub(after)?;
    let doublings = over.checked_sub(1)?;
    let seconds = 1u64.checked_shl(doublings).unwrap_or(u64::MAX);
    Some(Duration::from_secs(seconds).min(cap)).filter(|block| !block.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn back_off_doubles_after_the_allowance_up_to_the_cap() {
        let blocks: Vec<Option<u64>> = (1..=14)
            .map(|f| backoff(f, 5, MINUTE).map(|d| d.as_secs()))
            .collect();
        assert_eq!(
            blocks,
            [
                None,
                None,
                None,
                None,
                None,
                Some(1),
                Some(2),
                Some(4),
                Some(8),
                Some(16),
                Some(32),
                Some(60),
                Some(60),
                Some(60),
            ]
        );
    }

    #[test]
    fn back_off_survives_extreme_counts_and_settings() {
        assert_eq!(backoff(i32::MAX, 5, MINUTE), Some(MINUTE));
        assert_eq!(
            backoff(70, 0, Duration::MAX),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(backoff(1, 0, MINUTE), Some(Duration::from_secs(1)));
        assert_eq!(backoff(0, 0, MINUTE), None);
        assert_eq!(backoff(-1, 0, MINUTE), None);
        assert_eq!(
            backoff(9, 5, Duration::ZERO),
            None,
            "a zero cap disables blocking"
        );
    }

    #[test]
    fn subjects_are_normalised_and_bounded() {
        assert_eq!(
            Subject::Account(" Ada@Example.COM ").key(),
            "account:ada@example.com"
        );
        assert_eq!(Subject::Address("203.0.113.9").key(), "address:203.0.113.9");
        assert_eq!(
            Subject::Account(&"a".repeat(10_000)).key().chars().count(),
            MAX_SUBJECT_CHARS
        );
    }

    #[test]
    fn each_kind_of_subject_has_its_own_cap() {
        let policy = ThrottlePolicy::from(&LoginConfig::default());
        assert_eq!(Subject::Account("a@b.c").cap(&policy), MINUTE);
        assert_eq!(
            Subject::Address("203.0.113.9").cap(&policy),
            Duration::from_secs(15 * 60)
        );
        assert_eq!(policy.after_failures, 5);
        let absurd = ThrottlePolicy {
            max_account_backoff: Duration::MAX,
            ..policy
        };
        assert_eq!(Subject::Account("a@b.c").cap(&absurd), MAX_SPAN);
    }
}
