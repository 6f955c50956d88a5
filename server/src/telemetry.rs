//! Structured logs through `tracing`: human-readable by default, JSON lines with
//! `LOG_FORMAT=json`; `RUST_LOG` filters as usual.

use app::backend::config::LogFormat;
use tracing_subscriber::{fmt, EnvFilter};

pub fn init(format: &LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (tests build several apps in one process) is not an error.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.compact().try_init(),
    };
}
