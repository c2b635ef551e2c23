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

/// `POST`/`PUT /api/profile/update`: the edge passes it to the users service,
/// which validates it. One typed body on both sides, so a malformed one (a
/// duplicate key, a wrong type) is the same 400 at either.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileUpdate {
    pub display_name: Option<String>,
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

/// Direct messages: the most characters a message may have (API.md).
pub const MAX_MESSAGE_CHARS: usize = 1024;

/// `POST /api/messages` on the notifications service: the sender and receiver
/// are already resolved by the edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMessage {
    pub sender_user_uuid: Uuid,
    pub receiver_user_uuid: Uuid,
    pub message: String,
}

/// One direct message with its author hydrated from the users service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub uuid: Uuid,
    /// The conversation it belongs to (see [`message_group_uuid`]).
    pub message_group_uuid: Uuid,
    pub author: UserShort,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

/// A conversation as the inbox lists it: the other person and the last message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageGroup {
    pub uuid: Uuid,
    pub other_user: UserShort,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

/// The conversation between two users: a name-based (v5) UUID of the pair,
/// the same whichever of the two asks, so no table of groups has to be kept
/// in step with the messages.
pub fn message_group_uuid(one: Uuid, other: Uuid) -> Uuid {
    const NAMESPACE: Uuid = uuid::uuid!("0b7f3c2e-9a4d-4e61-8f0a-6c2d1e5b7a90");
    let (low, high) = if one <= other { (one, other) } else { (other, one) };
    let mut name = [0u8; 32];
    name[..16].copy_from_slice(low.as_bytes());
    name[16..].copy_from_slice(high.as_bytes());
    Uuid::new_v5(&NAMESPACE, &name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_has_one_message_group_whoever_asks() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(message_group_uuid(a, b), message_group_uuid(b, a));
        assert_ne!(message_group_uuid(a, b), message_group_uuid(a, c));
        assert_eq!(message_group_uuid(a, b).get_version_num(), 5);
    }
}
