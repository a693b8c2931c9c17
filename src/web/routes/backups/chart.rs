//! The backups page's charts: stored size and duration of the recent runs.

use crate::backup::status::{RECENT_RUNS, Run};
pub use crate::web::chart::{Chart, HEIGHT, WIDTH};
use crate::web::chart::{Point, draw};
#[cfg(test)]
use crate::web::chart::{STUB, TOP};

/// Stored size and duration of `runs` (newest first, as the status lists them),
/// drawn oldest on the left; none without a finished run.
pub fn charts(runs: &[Run]) -> Vec<Chart> {
    // Nothing to compare until something was stored: the table says why.
    if runs.iter().all(|r| r.row.outcome != "complete") {
        return Vec::new();
    }
    let oldest_first: Vec<&Run> = runs.iter().rev().collect();
    let size = chart(
        "Stored size",
        &oldest_first,
        |r| r.row.stored_bytes.and_then(|b| u64::try_from(b).ok()),
        |b| crate::web::pages::size(i64::try_from(b).unwrap_or(i64::MAX)),
    );
    let duration = chart("Duration", &oldest_first, |r| r.duration_ms, seconds);
    vec![size, duration]
}

/// `12.5 s`, `3 min 4 s`: short enough for a tooltip.
pub fn seconds(ms: u64) -> String {
    let s = ms / 1000;
    if s < 60 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} min {} s", s / 60, s % 60)
    }
}

fn chart(
    title: &'static str,
    runs: &[&Run],
    value: impl Fn(&Run) -> Option<u64>,
    words: impl Fn(u64) -> String,
) -> Chart {
    let points: Vec<Point> = runs
        .iter()
        .map(|run| {
            let measured = value(run);
            let (bar, class) = match run.row.outcome.as_str() {
                "complete" => (Some(measured.unwrap_or(0)), "bar-ok"),
                "running" => (None, "bar-run"),
                _ => (None, "bar-bad"),
            };
            let measured = measured.map_or_else(|| run.row.outcome.clone(), &words);
            Point {
                value: bar,
                class,
                label: format!(
                    "{} {}: {measured}",
                    crate::web::pages::when(run.row.started_at),
                    run.row.trigger
                ),
            }
        })
        .collect();
    draw(title, &points, RECENT_RUNS as u32, words)
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::*;
    use crate::backup::status::RunRow;

    fn run(outcome: &str, bytes: Option<i64>, ms: Option<u64>) -> Run {
        let now = OffsetDateTime::now_utc();
        Run {
            row: RunRow {
                id: Uuid::new_v4(),
                target: "local".into(),
                trigger: "manual".into(),
                catch_up: false,
                started_at: now,
                finished_at: (outcome != "running").then_some(now),
                outcome: outcome.into(),
                stored_bytes: bytes,
                plaintext_bytes: bytes,
                error: None,
                pruned_at: None,
            },
            duration_ms: ms,
            drill: None,
        }
    }

    #[test]
    fn the_largest_run_fills_the_chart_and_failures_show_red() {
        // Newest first, as the status lists them.
        let runs = [
            run("failed", None, Some(500)),
            run("complete", Some(2048), Some(4000)),
            run("complete", Some(1024), Some(2000)),
        ];
        let [size, duration] = <[Chart; 2]>::try_from(charts(&runs)).ok().unwrap();
        assert_eq!(size.scale, "2.00 KiB");
        let heights: Vec<_> = size.bars.iter().map(|b| (b.height, b.class)).collect();
        let full = HEIGHT - TOP;
        assert_eq!(
            heights,
            [(full / 2, "bar-ok"), (full, "bar-ok"), (STUB, "bar-bad")]
        );
        assert!(size.bars.iter().all(|b| b.y + b.height == HEIGHT));
        assert!(size.bars[0].x < size.bars[2].x, "oldest on the left");
        assert_eq!(duration.scale, "4.0 s");
        assert!(duration.bars[2].label.ends_with("0.5 s"));
    }

    #[test]
    fn nothing_to_draw_without_a_finished_run() {
        assert!(charts(&[]).is_empty());
        assert!(charts(&[run("running", None, None)]).is_empty());
    }
}
