//! Typed clients of the users and notifications services, shared by every
//! service that calls them.

use std::collections::HashMap;

use contracts::{Message, MessageGroup, NewMessage, NewNotification, Notification, ProfileUpdate, UserShort};
use serde::Deserialize;
use url::Url;
use uuid::Uuid;

use crate::{
    config::{ConfigError, Env},
    upstream::{Upstream, UpstreamError},
};

/// The most ids the users service takes in one batched lookup.
pub const MAX_USERS_PER_CALL: usize = 200;

#[derive(Clone, Debug)]
pub struct UsersClient(Upstream);

impl UsersClient {
    /// `USERS_URL`, default `http://127.0.0.1:4568`.
    pub fn url_from_env(env: &Env) -> Result<Url, ConfigError> {
        env.url_or("USERS_URL", "http://127.0.0.1:4568")
    }

    pub fn new(base: Url, http: telemetry::HttpClient) -> Self {
        Self(Upstream::new("users", base, http))
    }

    /// `None` for an unknown handle, and for one no user can have (no call).
    pub async fn short(&self, handle: &str) -> Result<Option<UserShort>, UpstreamError> {
        if !crate::possible_handle(handle) {
            return Ok(None);
        }
        let url = self.0.url(&["api", "users", &format!("@{handle}"), "short"]);
        self.0.get_optional(url).await
    }

    /// The given users keyed by uuid, in one call per [`MAX_USERS_PER_CALL`]
    /// (one call for any feed page: no N+1).
    pub async fn shorts(
        &self,
        uuids: impl IntoIterator<Item = Uuid>,
    ) -> Result<HashMap<Uuid, UserShort>, UpstreamError> {
        let mut unique: Vec<Uuid> = uuids.into_iter().collect();
        unique.sort_unstable();
        unique.dedup();
        let mut users = HashMap::with_capacity(unique.len());
        for chunk in unique.chunks(MAX_USERS_PER_CALL) {
            let list = chunk.iter().map(Uuid::to_string).collect::<Vec<_>>().join(",");
            let mut url = self.0.url(&["api", "users"]);
            url.query_pairs_mut().append_pair("uuids", &list);
            let found: Vec<UserShort> = self.0.get(url).await?;
            users.extend(found.into_iter().map(|user| (user.uuid, user)));
        }
        Ok(users)
    }

    /// `POST`/`PUT /api/profile/update`, passed through: the users service's
    /// answer (its 2xx or 4xx and JSON) is the caller's.
    pub async fn update_profile(
        &self,
        method: reqwest::Method,
        body: &ProfileUpdate,
    ) -> Result<(u16, serde_json::Value), UpstreamError> {
        self.0.forward(method, self.0.url(&["api", "profile", "update"]), body).await
    }
}

#[derive(Clone, Debug)]
pub struct NotificationsClient(Upstream);

#[derive(Deserialize)]
struct Created {
    #[allow(dead_code)]
    uuid: Uuid,
}

impl NotificationsClient {
    /// `NOTIFICATIONS_URL`, default `http://127.0.0.1:4569`.
    pub fn url_from_env(env: &Env) -> Result<Url, ConfigError> {
        env.url_or("NOTIFICATIONS_URL", "http://127.0.0.1:4569")
    }

    pub fn new(base: Url, http: telemetry::HttpClient) -> Self {
        Self(Upstream::new("notifications", base, http))
    }

    pub async fn for_recipient(&self, recipient: Uuid) -> Result<Vec<Notification>, UpstreamError> {
        let mut url = self.0.url(&["api", "notifications"]);
        url.query_pairs_mut().append_pair("recipient_user_uuid", &recipient.to_string());
        self.0.get(url).await
    }

    pub async fn create(&self, notification: &NewNotification) -> Result<(), UpstreamError> {
        let url = self.0.url(&["api", "notifications"]);
        self.0.post::<_, Created>(url, notification).await.map(drop)
    }

    /// The conversations `user` is part of, newest first.
    pub async fn message_groups(&self, user: Uuid) -> Result<Vec<MessageGroup>, UpstreamError> {
        let mut url = self.0.url(&["api", "messages", "groups"]);
        url.query_pairs_mut().append_pair("user_uuid", &user.to_string());
        self.0.get(url).await
    }

    /// The latest messages between `user` and `other`, oldest first.
    pub async fn messages(&self, user: Uuid, other: Uuid) -> Result<Vec<Message>, UpstreamError> {
        let mut url = self.0.url(&["api", "messages"]);
        url.query_pairs_mut()
            .append_pair("user_uuid", &user.to_string())
            .append_pair("other_user_uuid", &other.to_string());
        self.0.get(url).await
    }

    /// Stores a message whose sender and receiver the caller has resolved.
    pub async fn create_message(&self, message: &NewMessage) -> Result<Message, UpstreamError> {
        self.0.post(self.0.url(&["api", "messages"]), message).await
    }
}
