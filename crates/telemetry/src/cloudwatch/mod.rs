//! Logs shipped to CloudWatch Logs (the seed journal's watchtower handler):
//! every `tracing` event at `CLOUDWATCH_LOG_LEVEL` and above, as the same JSON
//! as stdout plus the X-Ray form of the trace id, into the log group
//! `CLOUDWATCH_LOG_GROUP`, one stream per running instance.
//!
//! The request path only formats the line and offers it to a bounded queue;
//! a shipper thread of its own batches and sends. When CloudWatch is slow,
//! throttling or down, lines are dropped (counted, reported once), never waited for.

mod batch;
mod channel;
mod config;
mod layer;
mod payload_hash;
mod shipper;

pub use config::CloudWatchConfig;
pub use shipper::Shipper;
