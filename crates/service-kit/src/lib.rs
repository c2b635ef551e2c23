//! What every Cruddur service repeats, written once: configuration, the
//! database, the JSON error answers, clients of the other services, and the
//! HTTP server with its graceful stop.

pub mod app;
mod body_deadline;
pub mod clients;
pub mod config;
pub mod db;
pub mod error;
pub mod faults;
pub mod http;
mod request_task;
pub mod upstream;

pub use app::{Application, Service, StartError, main};
pub use config::{CommonConfig, ConfigError, Env, Timeouts};
pub use db::{Database, Migrations};
pub use error::ApiError;
pub use faults::{Fault, Faults};
pub use upstream::{Upstream, UpstreamError};

/// Whether a database can store `text`. PostgreSQL's `text` cannot hold NUL
/// (SQLite can), so input with one is refused as the client's mistake before
/// any query, and both databases answer alike.
pub fn storable(text: &str) -> bool {
    !text.contains('\0')
}

/// The longest handle a user can have, in characters. This project's bound,
/// not Cognito's (the course's later weeks take the handle from the sign-up
/// form into `preferred_username`, an attribute of up to 2,048): as long as
/// a Cognito user name may be, far past any handle a person types, and well
/// inside what the URL of a call to users can carry.
pub const MAX_HANDLE_CHARS: usize = 128;

/// Whether some user could have `handle`. Any other is not found, without
/// a query or a call to users (whose URL could not carry a handle of any
/// length: percent-encoded, a long one passed the HTTP client's limit).
pub fn possible_handle(handle: &str) -> bool {
    storable(handle) && handle.chars().count() <= MAX_HANDLE_CHARS
}

/// The current time at PostgreSQL's precision (microseconds), so a timestamp
/// reads back the same from either database.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}
