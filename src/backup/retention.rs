//! Grandfather-father-son retention: keep the newest backup of each of the last
//! `daily` days, `weekly` ISO weeks and `monthly` months that have one (a backup may
//! count for several), and always the newest backup of all, whatever the policy says.

use std::collections::BTreeSet;

use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
}

/// A complete backup whose manifest authenticated (only those are ever pruned).
#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: String,
    pub created_at: OffsetDateTime,
}

/// Which day, week or month a backup falls in.
type Bucket = fn(OffsetDateTime) -> (i32, u32);

/// The ids to keep, in no particular order.
pub fn keep(policy: Policy, backups: &[Candidate]) -> BTreeSet<String> {
    let mut newest_first: Vec<&Candidate> = backups.iter().collect();
    newest_first.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    let mut kept = BTreeSet::new();
    if let Some(newest) = newest_first.first() {
        kept.insert(newest.id.clone());
    }
    let buckets: [(u32, Bucket); 3] = [
        (policy.daily, |t| (t.year(), t.ordinal().into())),
        (policy.weekly, |t| {
            let (year, week, _) = t.to_iso_week_date();
            (year, week.into())
        }),
        (policy.monthly, |t| (t.year(), u8::from(t.month()).into())),
    ];
    for (count, bucket) in buckets {
        let mut left = count;
        let mut last = None;
        for backup in &newest_first {
            if left == 0 {
                break;
            }
            let key = bucket(backup.created_at);
            if last != Some(key) {
                kept.insert(backup.id.clone());
                last = Some(key);
                left -= 1;
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use time::Duration;
    use time::macros::datetime;

    use super::*;

    fn daily_for(days: i64) -> Vec<Candidate> {
        let start = datetime!(2026-01-01 02:30 UTC);
        (0..days)
            .map(|d| Candidate {
                id: format!("b{d:03}"),
                created_at: start + Duration::days(d),
            })
            .collect()
    }

    #[test]
    fn a_year_of_dailies_keeps_the_gfs_set() {
        let backups = daily_for(365);
        let policy = Policy {
            daily: 7,
            weekly: 4,
            monthly: 12,
        };
        let kept = keep(policy, &backups);
        // The last 7 days (2026-12-25 .. 2026-12-31).
        for d in 358..365 {
            assert!(kept.contains(&format!("b{d:03}")), "day {d}");
        }
        // The newest of each of the last 4 ISO weeks: 12-31 (the week of 12-28) and the
        // Sundays 12-27, 12-20 and 12-13; the first two are dailies already.
        for d in [360, 353, 346] {
            assert!(kept.contains(&format!("b{d:03}")), "week ending day {d}");
        }
        // The newest of each month: the last day of every month of 2026.
        let month_ends = [30, 58, 89, 119, 150, 180, 211, 242, 272, 303, 333, 364];
        for d in month_ends {
            assert!(kept.contains(&format!("b{d:03}")), "month ending day {d}");
        }
        // Nothing else: 7 dailies + 2 weeklies and 11 month ends not already kept.
        assert_eq!(kept.len(), 7 + 2 + 11, "{kept:?}");
    }

    #[test]
    fn the_newest_backup_is_always_kept() {
        let backups = daily_for(3);
        let none = Policy {
            daily: 0,
            weekly: 0,
            monthly: 0,
        };
        assert_eq!(keep(none, &backups), BTreeSet::from(["b002".to_owned()]));
        assert!(keep(none, &[]).is_empty());
    }

    #[test]
    fn several_backups_a_day_keep_the_newest_of_each_day() {
        let start = datetime!(2026-03-10 00:00 UTC);
        let backups: Vec<Candidate> = (0..12)
            .map(|h| Candidate {
                id: format!("h{h:02}"),
                created_at: start + Duration::hours(h * 6),
            })
            .collect();
        let kept = keep(
            Policy {
                daily: 2,
                weekly: 0,
                monthly: 0,
            },
            &backups,
        );
        assert_eq!(kept, BTreeSet::from(["h11".to_owned(), "h07".to_owned()]));
    }
}
