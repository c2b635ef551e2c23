//! The JSON the Cruddur services send each other, and the fixed ids of the
//! seed data. Services never read each other's tables, so everything one of
//! them needs from another crosses the wire in one of these shapes.

pub mod seed;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The handle of the acting user until Cognito tokens are verified, as in
/// week 2 of the original backend.
pub const ACTING_USER_HANDLE: &str = "andrewbrown";

/// `GET /api/users/@{handle}/short` and the batched `GET /api/users?uuids=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserShort {
    pub uuid: Uuid,
    pub handle: String,
    pub display_name: String,
}

/// `GET /api/users/@{handle}`: what the activities service shows on a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserProfile {
    pub uuid: Uuid,
    pub handle: String,
    pub display_name: String,
    pub bio: Option<String>,
}

/// Why somebody is notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    Reply,
    Mention,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reply => "reply",
            Self::Mention => "mention",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "reply" => Some(Self::Reply),
            "mention" => Some(Self::Mention),
            _ => None,
        }
    }
}

/// `POST /api/notifications` on the notifications service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewNotification {
    pub recipient_user_uuid: Uuid,
    pub actor_user_uuid: Uuid,
    pub activity_uuid: Uuid,
    pub kind: NotificationKind,
}

/// `GET /api/notifications?recipient_user_uuid=`: a notification with its
/// actor already hydrated from the users service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub uuid: Uuid,
    pub kind: NotificationKind,
    pub activity_uuid: Uuid,
    pub actor: UserShort,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}
