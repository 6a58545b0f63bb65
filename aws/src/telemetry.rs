//! Logging for the functions: one JSON object per line on stdout (the
//! template's `LoggingConfig: LogFormat: JSON` makes CloudWatch index the
//! fields, and its metric filters read them), filtered by `RUST_LOG`, no
//! ANSI colours.

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the JSON subscriber on stdout; `RUST_LOG` unset or invalid
/// means `info`. Safe to call more than once (later calls do nothing).
pub fn init_json() {
    let _ = tracing::subscriber::set_global_default(json_subscriber(std::io::stdout));
}

/// The functions' log format, written to `writer`: tests capture what a
/// handler logs in the very format the metric filters read.
pub fn json_subscriber<W>(writer: W) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_current_span(false)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(true)
        .with_writer(writer)
        .finish()
}
