//! Bar charts as plain numbers for an inline SVG in a template: drawn on the server
//! because the policy allows no script, coloured by class because it allows no inline
//! style. Each page turns its series into [`Point`]s; [`draw`] lays them out.

/// The drawing's own coordinates; the stylesheet scales it to the page.
pub const WIDTH: u32 = 600;
pub const HEIGHT: u32 = 120;
/// Room above the tallest bar for the scale's label.
pub const TOP: u32 = 16;
/// A point with nothing to measure (a failed run) still shows, as a stub.
pub const STUB: u32 = 4;

#[derive(Debug)]
pub struct Chart {
    pub title: &'static str,
    /// The largest value, in words: what a full-height bar means.
    pub scale: String,
    pub bars: Vec<Bar>,
}

#[derive(Debug)]
pub struct Bar {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    /// `bar-ok`, `bar-warn`, `bar-bad` or `bar-run`: the stylesheet's colours.
    pub class: &'static str,
    /// Shown as the bar's tooltip (an SVG `<title>`).
    pub label: String,
}

/// One bar's worth: its value (none draws a stub), colour and tooltip.
#[derive(Debug)]
pub struct Point {
    pub value: Option<u64>,
    pub class: &'static str,
    pub label: String,
}

/// `points` oldest first, left to right, in `slots` fixed places (a bar keeps its width
/// as the history fills up); heights relative to the largest value, described by
/// `words`. A zero value draws a one-pixel line, so it is seen as zero, not missing.
pub fn draw(
    title: &'static str,
    points: &[Point],
    slots: u32,
    words: impl Fn(u64) -> String,
) -> Chart {
    let max = points.iter().filter_map(|p| p.value).max().unwrap_or(0);
    let slot = WIDTH / slots.max(1);
    let bars = points
        .iter()
        .zip(0..)
        .map(|(point, i)| {
            let height = match point.value {
                Some(v) if max > 0 => {
                    ((v as f64 / max as f64 * f64::from(HEIGHT - TOP)).round() as u32).max(1)
                }
                Some(_) => 1,
                None => STUB,
            };
            Bar {
                x: i * slot,
                y: HEIGHT - height,
                width: slot.saturating_sub(2).max(1),
                height,
                class: point.class,
                label: point.label.clone(),
            }
        })
        .collect();
    Chart {
        title,
        scale: words(max),
        bars,
    }
}
