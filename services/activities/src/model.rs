//! The Activity object of the contract (API.md) and the rules for new ones.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use contracts::UserShort;
use serde::{Serialize, Serializer};
use uuid::Uuid;

use crate::store::ActivityRow;

pub const MAX_ACTIVITY_CHARS: usize = 280;
pub const MAX_REPLY_CHARS: usize = 1024;
/// No message is longer than a reply, so no longer term can be in one; and
/// SQLite refuses LIKE patterns over 50,000 bytes.
pub const MAX_SEARCH_TERM_CHARS: usize = MAX_REPLY_CHARS;

#[derive(Debug, Serialize)]
pub struct Activity {
    pub uuid: Uuid,
    pub display_name: String,
    pub handle: String,
    pub message: String,
    pub replies_count: i64,
    pub reposts_count: i64,
    pub likes_count: i64,
    #[serde(serialize_with = "iso8601")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "iso8601_opt")]
    pub expires_at: Option<DateTime<Utc>>,
    pub reply_to_activity_uuid: Option<Uuid>,
    /// On every Activity of every answer (API.md): the week-2 reply form
    /// pushes onto it. Empty where the route loads no replies.
    pub replies: Vec<Activity>,
}

impl Activity {
    pub fn new(row: ActivityRow, author: &UserShort) -> Self {
        Self {
            uuid: row.uuid,
            display_name: author.display_name.clone(),
            handle: author.handle.clone(),
            message: row.message,
            replies_count: row.replies_count,
            reposts_count: row.reposts_count,
            likes_count: row.likes_count,
            created_at: row.created_at,
            expires_at: row.expires_at,
            reply_to_activity_uuid: row.reply_to_activity_uuid,
            replies: Vec::new(),
        }
    }
}

/// ISO 8601 with a numeric offset (`2023-02-06T18:11:03+00:00`), as the
/// original backend's Python `isoformat()` wrote them.
pub(crate) fn iso8601<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, false))
}

fn iso8601_opt<S: Serializer>(at: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => iso8601(at, serializer),
        None => serializer.serialize_none(),
    }
}

/// The `ttl` values the frontend offers.
pub fn ttl(value: &str) -> Option<Duration> {
    Some(match value {
        "30-days" => Duration::days(30),
        "7-days" => Duration::days(7),
        "3-days" => Duration::days(3),
        "1-day" => Duration::days(1),
        "12-hours" => Duration::hours(12),
        "3-hours" => Duration::hours(3),
        "1-hour" => Duration::hours(1),
        _ => return None,
    })
}

/// The error codes of a message, for an activity or (with its own limit) a
/// reply or a direct message.
pub fn message_errors(message: Option<&str>, max_chars: usize, errors: &mut Vec<&'static str>) {
    match message.map(str::trim) {
        None | Some("") => errors.push("message_blank"),
        Some(message) if message.chars().count() > max_chars => errors.push("message_exceed_max_chars"),
        Some(message) if !service_kit::storable(message) => errors.push("message_invalid_characters"),
        Some(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ttl_of_the_contract_parses_and_nothing_else() {
        for value in ["30-days", "7-days", "3-days", "1-day", "12-hours", "3-hours", "1-hour"] {
            assert!(ttl(value).is_some(), "{value}");
        }
        assert_eq!(ttl("1-day"), Some(Duration::hours(24)));
        for value in ["", "2-days", "1-days ", "forever"] {
            assert!(ttl(value).is_none(), "{value}");
        }
    }

    #[test]
    fn messages_are_counted_in_characters_not_bytes() {
        let mut errors = Vec::new();
        message_errors(Some(&"é".repeat(280)), MAX_ACTIVITY_CHARS, &mut errors);
        assert!(errors.is_empty());
        message_errors(Some(&"é".repeat(281)), MAX_ACTIVITY_CHARS, &mut errors);
        assert_eq!(errors, ["message_exceed_max_chars"]);
        errors.clear();
        message_errors(Some("   "), MAX_ACTIVITY_CHARS, &mut errors);
        message_errors(None, MAX_ACTIVITY_CHARS, &mut errors);
        assert_eq!(errors, ["message_blank", "message_blank"]);
    }

    #[test]
    fn timestamps_carry_a_numeric_offset() {
        let at = DateTime::parse_from_rfc3339("2023-02-06T18:11:03Z").unwrap().with_timezone(&Utc);
        let json = serde_json::to_value(Activity {
            uuid: Uuid::nil(),
            display_name: String::new(),
            handle: String::new(),
            message: String::new(),
            replies_count: 0,
            reposts_count: 0,
            likes_count: 0,
            created_at: at,
            expires_at: None,
            reply_to_activity_uuid: None,
            replies: Vec::new(),
        })
        .unwrap();
        assert_eq!(json["created_at"], "2023-02-06T18:11:03+00:00");
        assert_eq!(json["replies"], serde_json::json!([]));
    }
}
