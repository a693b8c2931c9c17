//! Structured logging, every line passed through the leak guard: human-readable by default, JSON lines with
//! `OUTPOST_LOG_FORMAT=json`. `OUTPOST_LOG` takes a filter such as `debug` or
//! `outpost=debug,actix_web=warn`.

use std::io::IsTerminal;

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

use crate::leak_guard::Redacted;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Human-readable, coloured (unless `NO_COLOR` is set).
    Text,
    /// Human-readable without colour codes: for files, which nobody reads in a terminal.
    PlainText,
    /// One JSON object per line.
    Json,
}

/// Logs to standard error, filtered and formatted as the environment says. Colour only
/// on a terminal: under systemd, stderr goes to the journal, where escape codes would
/// garble the lines people read and fail2ban matches.
pub fn init() {
    // The scheduler library narrates its own bookkeeping at info; only its warnings matter.
    let filter = EnvFilter::try_from_env("OUTPOST_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,tokio_cron_scheduler=warn"));
    let json = std::env::var("OUTPOST_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let format = match (json, std::io::stderr().is_terminal()) {
        (true, _) => Format::Json,
        (false, true) => Format::Text,
        (false, false) => Format::PlainText,
    };
    init_to(std::io::stderr, filter, format);
}

/// Logs to the writers `writer` makes, through the leak guard. Returns false when
/// this process already logs somewhere: a second init (tests start several servers
/// in one process) keeps the first.
pub fn init_to<M>(writer: M, filter: EnvFilter, format: Format) -> bool
where
    M: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    subscriber(writer, filter, format).try_init().is_ok()
}

/// The subscriber [`init_to`] installs, for code that must see the exact lines Outpost
/// writes (the fail2ban filter's tests).
pub fn subscriber<M>(
    writer: M,
    filter: EnvFilter,
    format: Format,
) -> Box<dyn Subscriber + Send + Sync>
where
    M: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Redacted(writer));
    match format {
        Format::Json => Box::new(
            builder
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .finish(),
        ),
        Format::Text => Box::new(builder.finish()),
        Format::PlainText => Box::new(builder.with_ansi(false).finish()),
    }
}
