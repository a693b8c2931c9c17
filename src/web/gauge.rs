//! Gauges for the overview (CPU, memory, each disk): a horizontal meter drawn as an
//! inline SVG on the server, like the charts, coloured by class (the policy allows no
//! inline style), described for screen readers by its `<title>` and `<desc>`.

/// The drawing's own width: the fill's width is the percentage itself.
pub const WIDTH: u32 = 100;
pub const HEIGHT: u32 = 8;
/// From these percentages a gauge turns amber, then red.
const WARN_FROM: f64 = 80.0;
const BAD_FROM: f64 = 90.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Gauge {
    /// Unique on the page: the SVG's `<title>` and `<desc>` are referenced by it.
    pub id: String,
    pub label: String,
    /// 0 to 100, rounded.
    pub percent: u32,
    /// What the number means, in words (`3.1 GiB of 7.8 GiB used`).
    pub detail: String,
    /// `gauge-ok`, `gauge-warn` or `gauge-bad`.
    pub class: &'static str,
}

/// A gauge at `used` of `total` (percent of 100 for CPU); none for a zero total.
pub fn gauge(id: &str, label: impl Into<String>, percent: f64, detail: String) -> Gauge {
    let percent = if percent.is_finite() {
        percent.clamp(0.0, 100.0)
    } else {
        0.0
    };
    Gauge {
        id: id.to_owned(),
        label: label.into(),
        percent: percent.round() as u32,
        detail,
        class: if percent >= BAD_FROM {
            "gauge-bad"
        } else if percent >= WARN_FROM {
            "gauge-warn"
        } else {
            "gauge-ok"
        },
    }
}

/// `used` as a percentage of `total` (0 when there is no total).
pub fn share(used: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        used as f64 / total as f64 * 100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_and_bounds() {
        assert_eq!(gauge("a", "CPU", 12.4, String::new()).class, "gauge-ok");
        assert_eq!(gauge("a", "CPU", 85.0, String::new()).class, "gauge-warn");
        let full = gauge("a", "Disk", 130.0, String::new());
        assert_eq!((full.percent, full.class), (100, "gauge-bad"));
        assert_eq!(gauge("a", "CPU", f64::NAN, String::new()).percent, 0);
        assert_eq!(share(1, 4), 25.0);
        assert_eq!(share(1, 0), 0.0);
    }
}
