//! Structured logging to stderr, every line passed through the leak guard: human-readable by default, JSON lines with
//! `OUTPOST_LOG_FORMAT=json`. `OUTPOST_LOG` takes a filter such as `debug` or
//! `outpost=debug,actix_web=warn`.

use tracing_subscriber::EnvFilter;

pub fn init() {
    // The scheduler library narrates its own bookkeeping at info; only its warnings matter.
    let filter = EnvFilter::try_from_env("OUTPOST_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,tokio_cron_scheduler=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Every line is checked for secrets on its way out.
        .with_writer(crate::leak_guard::RedactingStderr);
    let json = std::env::var("OUTPOST_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // A second init (tests start several servers in one process) keeps the first.
    let _ = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
}
