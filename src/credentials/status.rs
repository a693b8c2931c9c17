//! How much attention a stored credential needs, from its age and its expiry.

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

/// An expiry this close is worth a warning: time enough to get a new value.
pub const EXPIRES_SOON: Duration = Duration::from_secs(14 * 24 * 3600);

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Ordered from fine to worst; a credential shows the worst that applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Fresh,
    ExpiresSoon,
    RotationDue,
    Expired,
}

impl Status {
    pub fn at(
        replaced_at: OffsetDateTime,
        rotate_every_days: Option<i32>,
        expires_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Self {
        if expires_at.is_some_and(|at| at <= now) {
            Status::Expired
        } else if rotation_due_at(replaced_at, rotate_every_days).is_some_and(|at| at <= now) {
            Status::RotationDue
        } else if expires_at.is_some_and(|at| at <= now + EXPIRES_SOON) {
            Status::ExpiresSoon
        } else {
            Status::Fresh
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Fresh => "fresh",
            Status::ExpiresSoon => "expires_soon",
            Status::RotationDue => "rotation_due",
            Status::Expired => "expired",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Fresh => "Fresh",
            Status::ExpiresSoon => "Expires soon",
            Status::RotationDue => "Rotation due",
            Status::Expired => "Expired",
        }
    }

    /// Whether someone should act on it (what the security checks flag).
    pub fn is_stale(self) -> bool {
        self != Status::Fresh
    }
}

/// When the value should next be replaced, if a rotation interval is set.
pub fn rotation_due_at(
    replaced_at: OffsetDateTime,
    rotate_every_days: Option<i32>,
) -> Option<OffsetDateTime> {
    let days = u32::try_from(rotate_every_days?).ok()?;
    Some(replaced_at + DAY * days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_status_that_applies_wins() {
        let now = OffsetDateTime::now_utc();
        let days = |n: i64| time::Duration::days(n);
        let at = |replaced: i64, every: Option<i32>, expires: Option<i64>| {
            Status::at(
                now - days(replaced),
                every,
                expires.map(|e| now + days(e)),
                now,
            )
        };
        assert_eq!(at(0, None, None), Status::Fresh);
        assert_eq!(
            at(400, None, None),
            Status::Fresh,
            "no interval, no due date"
        );
        assert_eq!(at(29, Some(30), None), Status::Fresh);
        assert_eq!(at(30, Some(30), None), Status::RotationDue);
        assert_eq!(at(0, None, Some(15)), Status::Fresh);
        assert_eq!(at(0, None, Some(13)), Status::ExpiresSoon);
        assert_eq!(at(31, Some(30), Some(13)), Status::RotationDue);
        assert_eq!(at(31, Some(30), Some(0)), Status::Expired);
        assert_eq!(at(0, None, Some(-1)), Status::Expired);
        assert!(!Status::Fresh.is_stale() && Status::ExpiresSoon.is_stale());
        assert_eq!(rotation_due_at(now, Some(12)), Some(now + days(12)));
        assert_eq!(rotation_due_at(now, None), None);
    }
}
