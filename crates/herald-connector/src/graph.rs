//! Microsoft Graph, the calls the delivery engine makes: a user by id, UPN or mail; pages of
//! a group's transitive users and of a team's members; installing the bot for a user. Graph's
//! 429 is honoured (`Retry-After`), transient failures retried, every call counted.

use crate::client::RetryPolicy;
use crate::error::{ConnectorError, ErrorKind};
use crate::path::graph_segment as encode;
use crate::token::{Credentials, TokenSource};
use herald_core::SharedClock;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A directory user as Herald needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphUser {
    pub id: String,
    pub upn: Option<String>,
    pub mail: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    /// `Guest` users come from another tenant.
    pub guest: bool,
}

impl GraphUser {
    pub fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            id: v["id"].as_str()?.to_owned(),
            upn: v["userPrincipalName"].as_str().map(str::to_owned),
            mail: v["mail"].as_str().map(str::to_owned),
            display_name: v["displayName"].as_str().map(str::to_owned),
            given_name: v["givenName"].as_str().map(str::to_owned),
            guest: v["userType"].as_str() == Some("Guest"),
        })
    }
}

/// A page of a collection and the link to the next.
pub struct Page {
    pub items: Vec<Value>,
    pub next: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Install {
    Installed,
    AlreadyInstalled,
}

pub struct Graph {
    http: reqwest::Client,
    tokens: TokenSource,
    base: String,
    retry: RetryPolicy,
    clock: SharedClock,
    calls: AtomicU64,
}

impl Graph {
    /// `graph_url` is `https://graph.microsoft.com` or the emulator's origin.
    /// `scope`: of the app's token, the cloud's Graph (`CloudEndpoints::graph_scope`).
    pub fn new(
        creds: Credentials,
        graph_url: &str,
        scope: &str,
        clock: SharedClock,
        retry: RetryPolicy,
        timeout: Duration,
    ) -> Result<Self, ConnectorError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| ConnectorError::configuration(format!("HTTP client: {e}")))?;
        Ok(Self {
            tokens: TokenSource::new(http.clone(), creds, scope, clock.clone()),
            clock,
            http,
            base: format!("{}/v1.0", graph_url.trim_end_matches('/')),
            retry,
            calls: AtomicU64::new(0),
        })
    }

    /// Graph requests made so far (every attempt).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// One request as a signed-in user (a delegated token), with the same retries and the same
    /// handling of Graph's 429 + `Retry-After`; `path` is under `/v1.0` (`/chats`). `Ok(None)` for 404.
    pub async fn as_user(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Option<(u16, Value)>, ConnectorError> {
        let url = format!("{}{path}", self.base);
        self.request_with(method, &url, body, Some(token)).await
    }

    /// One request with retries; `Ok(None)` for 404.
    async fn request(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Option<(u16, Value)>, ConnectorError> {
        self.request_with(method, url, body, None).await
    }

    async fn request_with(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        user_token: Option<&str>,
    ) -> Result<Option<(u16, Value)>, ConnectorError> {
        let started = self.clock.now_ms();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = match user_token {
                Some(t) => t.to_owned(),
                None => self.tokens.token().await?,
            };
            self.calls.fetch_add(1, Ordering::Relaxed);
            let mut req = self.http.request(method.clone(), url).bearer_auth(token);
            if let Some(b) = body {
                req = req.json(b);
            }
            let err = match req.send().await {
                Err(e) => ConnectorError::transport(&e),
                Ok(res) => {
                    let status = res.status().as_u16();
                    let retry_after = res
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let text = res.text().await.unwrap_or_default();
                    if (200..300).contains(&status) || status == 409 {
                        return Ok(Some((
                            status,
                            serde_json::from_str(&text).unwrap_or(Value::Null),
                        )));
                    }
                    if status == 404 {
                        return Ok(None);
                    }
                    let mut e = ConnectorError::from_response(
                        status,
                        retry_after.as_deref(),
                        &text,
                        self.clock.now_ms(),
                    );
                    if e.kind == ErrorKind::Unauthorized && user_token.is_none() {
                        self.tokens.invalidate();
                    }
                    if status == 500 {
                        // Graph's 500s are transient, unlike the connector's.
                        e.kind = ErrorKind::Transient;
                    }
                    e
                }
            };
            let elapsed = Duration::from_millis(self.clock.now_ms().saturating_sub(started));
            match self.retry.next_wait(&err, attempt, elapsed) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return Err(err),
            }
        }
    }

    /// A user by object id or UPN, then by mail; `None` if the directory has no such user.
    pub async fn user(&self, key: &str) -> Result<Option<GraphUser>, ConnectorError> {
        let url = format!("{}/users/{}", self.base, encode(key));
        if let Some((_, v)) = self.request(Method::GET, &url, None).await? {
            return Ok(GraphUser::from_json(&v));
        }
        if key.contains('@') {
            let filter = format!("mail eq '{}'", key.replace('\'', "''"));
            let url = format!("{}/users?$filter={}", self.base, encode(&filter));
            if let Some((_, v)) = self.request(Method::GET, &url, None).await? {
                return Ok(v["value"].get(0).and_then(GraphUser::from_json));
            }
        }
        Ok(None)
    }

    async fn page_at(&self, url: &str) -> Result<Option<Page>, ConnectorError> {
        Ok(self
            .request(Method::GET, url, None)
            .await?
            .map(|(_, v)| Page {
                items: v["value"].as_array().cloned().unwrap_or_default(),
                next: v["@odata.nextLink"].as_str().map(str::to_owned),
            }))
    }

    /// The first page of a group's users, nested groups flattened; `None` if no such group.
    pub async fn group_users(&self, group_id: &str) -> Result<Option<Page>, ConnectorError> {
        let url = format!(
            "{}/groups/{}/transitiveMembers/microsoft.graph.user?$top=999",
            self.base,
            encode(group_id)
        );
        self.page_at(&url).await
    }

    /// The first page of a team's members; `None` if no such team.
    pub async fn team_members(&self, team_group_id: &str) -> Result<Option<Page>, ConnectorError> {
        let url = format!(
            "{}/teams/{}/members?$top=999",
            self.base,
            encode(team_group_id)
        );
        self.page_at(&url).await
    }

    /// The page an `@odata.nextLink` names.
    pub async fn next_page(&self, link: &str) -> Result<Page, ConnectorError> {
        self.page_at(link)
            .await?
            .ok_or_else(|| ConnectorError::configuration("a next page that Graph no longer has"))
    }

    /// Installs the bot (catalog id `teams_app_id`) in `user`'s personal scope.
    pub async fn install_app(
        &self,
        user: &str,
        teams_app_id: &str,
    ) -> Result<Install, ConnectorError> {
        let url = format!(
            "{}/users/{}/teamwork/installedApps",
            self.base,
            encode(user)
        );
        let body = json!({
            "teamsApp@odata.bind": format!("https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{teams_app_id}")
        });
        match self.request(Method::POST, &url, Some(&body)).await? {
            Some((409, _)) => Ok(Install::AlreadyInstalled),
            Some(_) => Ok(Install::Installed),
            None => Err(ConnectorError {
                kind: ErrorKind::NotFound,
                status: Some(404),
                code: Some("NotFound".into()),
                message: "Graph found no such user or app to install".into(),
                retry_after: None,
                maybe_processed: false,
            }),
        }
    }
}
