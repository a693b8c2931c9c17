//! The middle of a few rounds' figures: what the benchmarks report, so one slow or
//! fast round (another process woke up) does not move the result.

pub fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}
