//! Tollgate: an AI gateway on Pingora. Start reading at `proxy` (the request path) and
//! `server` (how the process is assembled).

pub mod admin;
pub mod answer_view;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod clock;
pub mod config;
pub mod digits;
pub mod error;
pub mod lifecycle;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod mock_provider;
pub mod net;
pub mod plain_json;
pub mod providers;
pub mod proxy;
pub mod redact;
pub mod reload;
pub mod resolve;
pub mod routing;
pub mod secret;
pub mod server;
pub mod snapshot;
pub mod sse;
pub mod state;
pub mod translate;
pub mod usage;
