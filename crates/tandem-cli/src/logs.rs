//! Where `tandem serve` writes its logs, and how: to stderr, as text (the default) or as
//! one JSON object a line (`--log-format json`).
//!
//! Text is coloured only when stderr is a terminal, so a log written to a file or a pipe
//! carries no ANSI escape codes. A connection's lines are written inside its span
//! (`conn{id=N user=U}`, see tandem-server): in text the span prefixes the line; in JSON it
//! is the `span` object (`"span":{"id":5,"name":"conn","user":"ada"}`). Those lines and the
//! span are at DEBUG level: `--log debug` (or `--log tandem_server=debug,info`) shows them.

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    Text,
    /// One JSON object a line: timestamp, level, target, fields, the current span.
    Json,
}

/// Installs the global subscriber: `filter` in tracing-subscriber's EnvFilter syntax (an
/// invalid one falls back to `info`, and says so).
pub fn init(format: LogFormat, filter: &str) {
    let (filter, invalid) = match EnvFilter::try_new(filter) {
        Ok(f) => (f, None),
        Err(e) => (EnvFilter::new("info"), Some(e)),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
    if let Some(e) = invalid {
        tracing::warn!(error = %e, "invalid --log filter; logging at info");
    }
}
