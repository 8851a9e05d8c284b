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
            let text = record.args().to_string();
            let (request_id, msg) = split_request_id(&text);
            let line = serde_json::json!({
                "ts": buf.timestamp_millis().to_string(),
                "level": record.level().as_str(),
                "target": record.target(),
                "request_id": request_id,
                "msg": msg,
            });
            writeln!(buf, "{line}")
        });
    }
    // A second init (tests) keeps the first logger.
    let _ = builder.try_init();
}

/// Every line about a request starts `request <id>: ` (the convention of the whole code
/// base); in JSON the id becomes its own field.
fn split_request_id(text: &str) -> (Option<&str>, &str) {
    text.strip_prefix("request ")
        .and_then(|rest| rest.split_once(": "))
        .filter(|(id, _)| id.starts_with("tg-") && !id.contains(' '))
        .map_or((None, text), |(id, msg)| (Some(id), msg))
}

#[cfg(test)]
mod tests {
    use super::split_request_id;

    #[test]
    fn request_lines_carry_their_id_as_a_field() {
        assert_eq!(
            split_request_id("request tg-0123-0000000a: provider p attempt 1 failed: x"),
            (Some("tg-0123-0000000a"), "provider p attempt 1 failed: x")
        );
        assert_eq!(
            split_request_id("reload rejected: x"),
            (None, "reload rejected: x")
        );
        assert_eq!(
            split_request_id("request counts: 3"),
            (None, "request counts: 3")
        );
    }
}
