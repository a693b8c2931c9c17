//! Structured logging, every line passed through the leak guard: human-readable by default, JSON lines with
//! `OUTPOST_LOG_FORMAT=json`. `OUTPOST_LOG` takes a filter such as `debug` or
//! `outpost=debug,actix_web=warn`.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::leak_guard::Redacted;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Human-readable, coloured unless `NO_COLOR` is set.
    Text,
    /// Human-readable without colour codes: for files, which nobody reads in a terminal.
    PlainText,
    /// One JSON object per line.
    Json,
}

/// Logs to standard error, filtered and formatted as the environment says.
pub fn init() {
    // The scheduler library narrates its own bookkeeping at info; only its warnings matter.
    let filter = EnvFilter::try_from_env("OUTPOST_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,tokio_cron_scheduler=warn"));
    let json = std::env::var("OUTPOST_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let format = if json { Format::Json } else { Format::Text };
    init_to(std::io::stderr, filter, format);
}

/// Logs to the writers `writer` makes, through the leak guard. Returns false when
/// this process already logs somewhere: a second init (tests start several servers
/// in one process) keeps the first.
pub fn init_to<M>(writer: M, filter: EnvFilter, format: Format) -> bool
where
    M: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Redacted(writer));
    match format {
        Format::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        Format::Text => builder.try_init(),
        Format::PlainText => builder.with_ansi(false).try_init(),
    }
    .is_ok()
}
