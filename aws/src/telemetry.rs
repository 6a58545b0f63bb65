//! Logging for the functions: one JSON object per line on stdout (the
//! template's `LoggingConfig: LogFormat: JSON` makes CloudWatch index the
//! fields), filtered by `RUST_LOG`, no ANSI colours.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber; `RUST_LOG` unset or invalid means `info`.
/// Safe to call more than once (later calls do nothing).
pub fn init_json() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_current_span(false)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(true)
        .try_init();
}

/// Human-readable logs on stderr, for the local-stack command and tests.
pub fn init_text() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
}
