//! Fixed ids of the seed data (API.md, "Seed data"), shared so that each
//! service can seed its own tables and still point at the others' rows.

use uuid::{Uuid, uuid};

pub struct SeedUser {
    pub uuid: Uuid,
    pub display_name: &'static str,
    pub handle: &'static str,
    pub email: &'static str,
    pub bio: Option<&'static str>,
}

pub const ANDREWBROWN: Uuid = uuid!("6f3a0b7e-1c1d-4c0e-9a55-0d5e3f0b6a01");
pub const ALTBROWN: Uuid = uuid!("6f3a0b7e-1c1d-4c0e-9a55-0d5e3f0b6a02");
pub const BAYKO: Uuid = uuid!("6f3a0b7e-1c1d-4c0e-9a55-0d5e3f0b6a03");
pub const LONDO: Uuid = uuid!("6f3a0b7e-1c1d-4c0e-9a55-0d5e3f0b6a04");
pub const WORF: Uuid = uuid!("6f3a0b7e-1c1d-4c0e-9a55-0d5e3f0b6a05");
pub const GAREK: Uuid = uuid!("6f3a0b7e-1c1d-4c0e-9a55-0d5e3f0b6a06");
pub const COCO: Uuid = uuid!("6f3a0b7e-1c1d-4c0e-9a55-0d5e3f0b6a07");

pub const USERS: &[SeedUser] = &[
    SeedUser {
        uuid: ANDREWBROWN,
        display_name: "Andrew Brown",
        handle: "andrewbrown",
        email: "andrew@exampro.co",
        bio: Some("I teach cloud."),
    },
    SeedUser {
        uuid: ALTBROWN,
        display_name: "Andrew Brown (alt)",
        handle: "altbrown",
        email: "altbrown@exampro.co",
        bio: None,
    },
    SeedUser { uuid: BAYKO, display_name: "Andrew Bayko", handle: "bayko", email: "bayko@exampro.co", bio: None },
    SeedUser { uuid: LONDO, display_name: "Londo Mollari", handle: "londo", email: "lmollari@centari.com", bio: None },
    SeedUser { uuid: WORF, display_name: "Worf", handle: "worf", email: "worf@enterprise.example", bio: None },
    SeedUser { uuid: GAREK, display_name: "Garek", handle: "garek", email: "garek@ds9.example", bio: None },
    SeedUser { uuid: COCO, display_name: "Coco", handle: "coco", email: "coco@unicorns.example", bio: None },
];

/// A seed activity; ages and lifetimes are relative to the moment of seeding,
/// as the original's mock data was relative to "now".
pub struct SeedActivity {
    pub uuid: Uuid,
    pub user_uuid: Uuid,
    pub message: &'static str,
    pub reply_to: Option<Uuid>,
    pub age_hours: i64,
    pub expires_in_hours: i64,
}

pub const CLOUD_IS_FUN: Uuid = uuid!("68f126b0-1ceb-4a33-88be-d90fa7109eee");
pub const NO_HONOR: Uuid = uuid!("26e12864-1c26-5c3a-9658-97a10f8fea67");
pub const PRUNE_JUICE: Uuid = uuid!("66e12864-8c26-4c3a-9658-95a10f8fea67");
pub const SIMPLE_TAILOR: Uuid = uuid!("248959df-3079-4947-b847-9e0892d1bab4");
pub const WHITE_UNICORN: Uuid = uuid!("68f126b0-1ceb-4a33-88be-d90fa7109eef");

pub const ACTIVITIES: &[SeedActivity] = &[
    SeedActivity {
        uuid: CLOUD_IS_FUN,
        user_uuid: ANDREWBROWN,
        message: "Cloud is very fun!",
        reply_to: None,
        age_hours: 48,
        expires_in_hours: 120,
    },
    SeedActivity {
        uuid: NO_HONOR,
        user_uuid: WORF,
        message: "This post has no honor!",
        reply_to: Some(CLOUD_IS_FUN),
        age_hours: 47,
        expires_in_hours: 120,
    },
    SeedActivity {
        uuid: PRUNE_JUICE,
        user_uuid: WORF,
        message: "I am out of prune juice",
        reply_to: None,
        age_hours: 168,
        expires_in_hours: 216,
    },
    SeedActivity {
        uuid: SIMPLE_TAILOR,
        user_uuid: GAREK,
        message: "My dear doctor, I am just simple tailor",
        reply_to: None,
        age_hours: 1,
        expires_in_hours: 12,
    },
    SeedActivity {
        uuid: WHITE_UNICORN,
        user_uuid: COCO,
        message: "I am white unicorn",
        reply_to: None,
        age_hours: 48,
        expires_in_hours: 120,
    },
];

/// The week-2 mock notification: Coco's post, shown to andrewbrown.
pub const UNICORN_NOTIFICATION: Uuid = uuid!("0c4f4a7e-5d1b-4a0e-8f4e-7a1d2c3b4a50");

/// A seed direct message; its age is relative to the moment of seeding.
pub struct SeedMessage {
    pub uuid: Uuid,
    pub sender: Uuid,
    pub receiver: Uuid,
    pub message: &'static str,
    pub age_minutes: i64,
}

/// The week-2 mocks: a conversation between andrewbrown and bayko, and a
/// message group with worf.
pub const MESSAGES: &[SeedMessage] = &[
    SeedMessage {
        uuid: uuid!("4e81c06a-db0f-4281-b4cc-98208537772a"),
        sender: ANDREWBROWN,
        receiver: BAYKO,
        message: "Cloud is fun!",
        age_minutes: 90,
    },
    SeedMessage {
        uuid: uuid!("66e12864-8c26-4c3a-9658-95a10f8fea68"),
        sender: BAYKO,
        receiver: ANDREWBROWN,
        message: "This platform is great!",
        age_minutes: 60,
    },
    SeedMessage {
        uuid: uuid!("417c360e-c4e6-4fce-873b-d2d71469b4ac"),
        sender: WORF,
        receiver: ANDREWBROWN,
        message: "Your cloud has honor.",
        age_minutes: 24 * 60,
    },
];
