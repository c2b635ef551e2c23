//! `CLOUDWATCH_*`: whether and how log lines go to CloudWatch Logs, read and
//! checked once at start.

use std::time::Duration;

use tracing::level_filters::LevelFilter;

use environment::{Env, InvalidVariable};

use crate::error::TelemetryError;

/// Retention periods CloudWatch Logs accepts (PutRetentionPolicy).
const RETENTION_DAYS: &[i32] =
    &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

#[derive(Debug, Clone, PartialEq)]
pub struct CloudWatchConfig {
    /// `CLOUDWATCH_LOG_GROUP` (compose: `cruddur`); unset: no shipping.
    pub log_group: String,
    /// `CLOUDWATCH_LOG_LEVEL` (info).
    pub level: LevelFilter,
    /// `CLOUDWATCH_RETENTION_DAYS`: set on the group when given.
    pub retention_days: Option<i32>,
    /// `CLOUDWATCH_FLUSH_INTERVAL_MS` (5000): the longest a line waits before it is sent.
    pub flush_interval: Duration,
    /// `CLOUDWATCH_BUFFER_EVENTS` (10000): lines queued for the shipper at most;
    /// past it, new lines are dropped. Bounds memory while CloudWatch is away.
    pub buffer_events: usize,
    /// `CLOUDWATCH_BUFFER_BYTES` (2 MiB): the same bound in bytes, for the
    /// lines queued for the shipper and, apart, for those it holds for a
    /// retry: a few long lines must not cost what ten thousand short ones do.
    /// At 4 MiB a CloudWatch outage under load cost 8 MiB of heap; at 1 MiB
    /// a slow endpoint (moto) sometimes lost lines at ~10,000 a second
    /// (scripts/bench's outage, seed and all configurations). Every line is
    /// on stdout as well.
    pub buffer_bytes: usize,
}

impl CloudWatchConfig {
    pub fn from_env(env: &Env) -> Result<Option<Self>, TelemetryError> {
        let get = |name: &str| env.get(name);
        let Some(log_group) = get("CLOUDWATCH_LOG_GROUP") else { return Ok(None) };
        let invalid = |variable: &'static str, value: String, reason: &str| {
            TelemetryError::from(InvalidVariable::new(variable, value, reason))
        };
        let level = match get("CLOUDWATCH_LOG_LEVEL") {
            None => LevelFilter::INFO,
            Some(value) => value.parse().map_err(|_| {
                invalid("CLOUDWATCH_LOG_LEVEL", value, "expected trace, debug, info, warn, error or off")
            })?,
        };
        let retention_days = match get("CLOUDWATCH_RETENTION_DAYS") {
            None => None,
            Some(value) => match value.parse::<i32>() {
                Ok(days) if RETENTION_DAYS.contains(&days) => Some(days),
                _ => {
                    return Err(invalid(
                        "CLOUDWATCH_RETENTION_DAYS",
                        value,
                        "not a retention CloudWatch accepts (1, 3, 5, 7, 14, 30, …)",
                    ));
                }
            },
        };
        let number = |variable: &'static str, default: u64| -> Result<u64, TelemetryError> {
            match get(variable) {
                None => Ok(default),
                Some(value) => match value.parse::<u64>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(invalid(variable, value, "expected a positive whole number")),
                },
            }
        };
        Ok(Some(Self {
            log_group,
            level,
            retention_days,
            flush_interval: Duration::from_millis(number("CLOUDWATCH_FLUSH_INTERVAL_MS", 5000)?),
            buffer_events: number("CLOUDWATCH_BUFFER_EVENTS", 10_000)? as usize,
            buffer_bytes: number("CLOUDWATCH_BUFFER_BYTES", 2 * 1024 * 1024)? as usize,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &'static [(&'static str, &'static str)]) -> Result<Option<CloudWatchConfig>, TelemetryError> {
        CloudWatchConfig::from_env(&Env::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn off_without_a_group_and_defaults_with_one() {
        assert!(config(&[]).unwrap().is_none());
        let c = config(&[("CLOUDWATCH_LOG_GROUP", "cruddur")]).unwrap().unwrap();
        assert_eq!((c.log_group.as_str(), c.level, c.retention_days), ("cruddur", LevelFilter::INFO, None));
        assert_eq!(c.flush_interval, Duration::from_secs(5));
        assert_eq!((c.buffer_events, c.buffer_bytes), (10_000, 2 * 1024 * 1024));
    }

    #[test]
    fn bad_values_name_their_variable() {
        let err = config(&[("CLOUDWATCH_LOG_GROUP", "g"), ("CLOUDWATCH_RETENTION_DAYS", "2")]).unwrap_err();
        assert!(err.to_string().contains("CLOUDWATCH_RETENTION_DAYS"));
        let err = config(&[("CLOUDWATCH_LOG_GROUP", "g"), ("CLOUDWATCH_LOG_LEVEL", "loud")]).unwrap_err();
        assert!(err.to_string().contains("CLOUDWATCH_LOG_LEVEL"));
        let err = config(&[("CLOUDWATCH_LOG_GROUP", "g"), ("CLOUDWATCH_BUFFER_BYTES", "4MB")]).unwrap_err();
        assert!(err.to_string().contains("CLOUDWATCH_BUFFER_BYTES"));
        let ok = config(&[
            ("CLOUDWATCH_LOG_GROUP", "g"),
            ("CLOUDWATCH_RETENTION_DAYS", "30"),
            ("CLOUDWATCH_LOG_LEVEL", "debug"),
        ]);
        let ok = ok.unwrap().unwrap();
        assert_eq!((ok.retention_days, ok.level), (Some(30), LevelFilter::DEBUG));
    }
}
