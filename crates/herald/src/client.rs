//! Talking to a running Herald server (`--server`, `HERALD_SERVER`; token `HERALD_API_TOKEN`),
//! with the exit codes docs/reference.md fixes.

use serde_json::Value;
use std::process::ExitCode;

pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_UNREACHABLE: u8 = 3;

#[derive(clap::Args, Clone)]
pub struct ServerArgs {
    /// The Herald server to talk to.
    #[arg(
        long,
        env = "HERALD_SERVER",
        default_value = "http://127.0.0.1:3978",
        global = true
    )]
    server: String,
}

/// A failure with the exit code it deserves.
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }

    pub fn exit(self) -> ExitCode {
        eprintln!("herald: {}", self.message);
        ExitCode::from(self.code)
    }
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    pub fn new(args: &ServerArgs) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: args.server.trim_end_matches('/').to_owned(),
            token: std::env::var("HERALD_API_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
        }
    }

    #[cfg(feature = "emulator")]
    pub fn with_token(base: &str, token: Option<String>) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            token,
        }
    }

    /// Sends a request; 4xx answers are the caller's bad input (exit 2), refusals and server
    /// failures exit 3.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Value, Failure> {
        self.call_with(method, path, body, &[]).await
    }

    /// A text body (a CSV export).
    pub async fn text(&self, path: &str, accept: &str) -> Result<String, Failure> {
        let mut req = self
            .http
            .get(format!("{}{path}", self.base))
            .header("accept", accept);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.map_err(|e| Failure {
            code: EXIT_UNREACHABLE,
            message: format!(
                "cannot reach the Herald server at {}: {}",
                self.base,
                e.without_url()
            ),
        })?;
        let status = res.status();
        if !status.is_success() {
            let code = if status.is_client_error() && status != 401 && status != 403 {
                EXIT_USAGE
            } else {
                EXIT_UNREACHABLE
            };
            return Err(Failure {
                code,
                message: format!("the server refused: {status}"),
            });
        }
        res.text().await.map_err(|e| Failure {
            code: EXIT_UNREACHABLE,
            message: format!("the answer broke off: {e}"),
        })
    }

    pub async fn call_with(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, String)],
    ) -> Result<Value, Failure> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let res = req.send().await.map_err(|e| Failure {
            code: EXIT_UNREACHABLE,
            message: format!(
                "cannot reach the Herald server at {}: {}",
                self.base,
                e.without_url()
            ),
        })?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let detail = body["detail"].as_str().unwrap_or("no detail").to_owned();
        let at = body["pointer"]
            .as_str()
            .map(|p| format!(" (at {p})"))
            .unwrap_or_default();
        let code = match status.as_u16() {
            401 | 403 => EXIT_UNREACHABLE,
            400..=499 => EXIT_USAGE,
            _ => EXIT_UNREACHABLE,
        };
        Err(Failure {
            code,
            message: format!("the server refused: {status}: {detail}{at}"),
        })
    }
}
