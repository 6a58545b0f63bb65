//! The log lines a plugin writes during one call, captured for `plugin
//! test`. The host writes them as tracing events carrying a `plugin` field;
//! while a case runs, a subscriber of its own (on this thread only) keeps
//! them instead of the process's stderr logger.

use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LogLine {
    pub level: String,
    pub message: String,
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<LogLine>>>);

#[derive(Default)]
struct Line {
    plugin: bool,
    message: String,
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "plugin" => self.plugin = true,
            "message" => self.message = value.to_string(),
            _ => {}
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "plugin" => self.plugin = true,
            "message" => self.message = format!("{value:?}"),
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut line = Line::default();
        event.record(&mut line);
        if line.plugin {
            self.0.lock().expect("log capture").push(LogLine {
                level: event.metadata().level().to_string().to_lowercase(),
                message: line.message,
            });
        }
    }
}

/// Runs `f`, returning what it returned and the plugin log lines written
/// meanwhile on this thread.
pub fn capture<T>(f: impl FnOnce() -> T) -> (T, Vec<LogLine>) {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let out = tracing::subscriber::with_default(subscriber, f);
    let lines = std::mem::take(&mut *capture.0.lock().expect("log capture"));
    (out, lines)
}
