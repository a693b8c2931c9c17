//! Bar charts of the recent runs (stored size, duration) as plain numbers for an
//! inline SVG in the template: drawn on the server because the policy allows no
//! script, coloured by class because it allows no inline style.

use crate::backup::status::{RECENT_RUNS, Run};

/// The drawing's own coordinates; the stylesheet scales it to the page.
pub const WIDTH: u32 = 600;
pub const HEIGHT: u32 = 120;
/// Room above the tallest bar for the scale's label.
const TOP: u32 = 16;
/// A failed run has nothing to measure; a stub in its place keeps it in the series.
const STUB: u32 = 4;

pub struct Chart {
    pub title: &'static str,
    /// The largest value, in words: what a full-height bar means.
    pub scale: String,
    pub bars: Vec<Bar>,
}

pub struct Bar {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    /// `bar-ok`, `bar-bad` or `bar-run`.
    pub class: &'static str,
    /// Shown as the bar's tooltip (an SVG `<title>`).
    pub label: String,
}

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
    let max = runs.iter().filter_map(|r| value(r)).max().unwrap_or(0);
    // Fixed slots: a bar keeps its width as the history fills up.
    let slot = WIDTH / RECENT_RUNS as u32;
    let bars = runs
        .iter()
        .zip(0..)
        .map(|(run, i)| {
            let (height, class) = match (run.row.outcome.as_str(), value(run)) {
                ("complete", Some(v)) if max > 0 => {
                    let h = (v as f64 / max as f64 * f64::from(HEIGHT - TOP)).round() as u32;
                    (h.max(1), "bar-ok")
                }
                ("running", _) => (STUB, "bar-run"),
                ("complete", _) => (1, "bar-ok"),
                _ => (STUB, "bar-bad"),
            };
            let measured = value(run).map_or_else(|| run.row.outcome.clone(), &words);
            Bar {
                x: i * slot,
                y: HEIGHT - height,
                width: slot.saturating_sub(2).max(1),
                height,
                class,
                label: format!(
                    "{} {}: {measured}",
                    crate::web::pages::when(run.row.started_at),
                    run.row.trigger
                ),
            }
        })
        .collect();
    Chart {
        title,
        scale: words(max),
        bars,
    }
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
