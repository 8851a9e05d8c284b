//! Process logging: `server.log.level` and `server.log.format` (text or one JSON object per
//! line). `RUST_LOG`, when set, overrides the level.

use crate::config::{LogConfig, LogFormat, LogLevel};
use std::io::Write;

pub fn init(config: &LogConfig) {
    let level = match config.level {
        LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
        LogLevel::Trace => "trace",
    };
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level));
    if config.format == LogFormat::Json {
        builder.format(|buf, record| {
            let line = serde_json::json!({
                "ts": buf.timestamp_millis().to_string(),
                "level": record.level().as_str(),
                "target": record.target(),
                "msg": record.args().to_string(),
            });
            writeln!(buf, "{line}")
        });
    }
    // A second init (tests) keeps the first logger.
    let _ = builder.try_init();
}
