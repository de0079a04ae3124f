//! Serving HTTP with the limits a public endpoint needs (`/api/messages` is reachable by anyone
//! who can reach Herald, before any authentication):
//!
//! - at most `max_connections` connections at once; more wait in the kernel's accept queue;
//! - a client must send a request's headers within `http_header_timeout_s`, also between
//!   requests on a kept-alive connection (slowloris holds connections open by sending a header
//!   line every few seconds);
//! - a request must be answered within `http_request_timeout_s` (408 otherwise), except the
//!   routes that wait on purpose — `?sync=true` sends and `…/responses?wait=` long polls — which
//!   have their own caps.
//!
//! Body sizes are each route's own business (`/api/messages` 1 MB, the API `max_body_mb`).

use crate::app::App;
use crate::problem::Problem;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt as _;

/// How long in-flight requests may run once the server is told to stop.
const DRAIN: Duration = Duration::from_secs(10);

/// What `serve` enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `app` on `listener` until `stop` turns true, then lets in-flight requests finish
/// (at most [`DRAIN`]).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stop.changed() => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((s, _)) => s,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // wait a moment rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            app.clone().oneshot(req.map(axum::body::Body::new))
        });
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // Errors here are a client's: a header timeout, a malformed request, a reset.
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some requests were still running {DRAIN:?} after the stop; they are cut");
    }
}

/// The longest a request to this route may take.
fn deadline(app: &App, method: &Method, uri: &axum::http::Uri) -> Duration {
    let path = uri.path();
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(uri.query().unwrap_or("")).unwrap_or_default();
    let has = |k: &str, v: Option<&str>| {
        query
            .iter()
            .any(|(qk, qv)| qk == k && v.is_none_or(|v| qv == v))
    };
    let margin = Duration::from_secs(15);
    if method == Method::POST && path == "/v1/notifications" && has("sync", Some("true")) {
        return crate::notifications::SYNC_WAIT + margin;
    }
    if method == Method::GET && path.ends_with("/responses") && has("wait", None) {
        return Duration::from_secs(crate::responses::MAX_WAIT_S) + margin;
    }
    Duration::from_secs(app.cfg.http_request_timeout_s)
}

/// Middleware: answers 408 (and closes the connection) when a request outlives its deadline.
pub async fn request_deadline(State(app): State<App>, req: Request, next: Next) -> Response {
    let limit = deadline(&app, req.method(), req.uri());
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            let mut r = Problem::new(
                StatusCode::REQUEST_TIMEOUT,
                "request-timeout",
                format!(
                    "the request was not done within {} s (http_request_timeout_s); send the body faster, or ask for less at once",
                    limit.as_secs()
                ),
            )
            .into_response();
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            r
        }
    }
}

/// Why a request body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// Longer than the route takes.
    TooBig,
    /// The client broke off, or sent a malformed chunked body.
    Unreadable(String),
}

/// A request body of at most `limit` bytes.
pub async fn read_body(body: axum::body::Body, limit: usize) -> Result<bytes::Bytes, BodyError> {
    use http_body_util::BodyExt as _;
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooBig),
        Err(e) => Err(BodyError::Unreadable(e.to_string())),
    }
}

impl BodyError {
    /// 413 naming the limit (and what it is called), or 400.
    pub fn problem(self, limit: &str) -> Problem {
        match self {
            BodyError::TooBig => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                format!("the body must be at most {limit}"),
            ),
            BodyError::Unreadable(why) => Problem::new(
                StatusCode::BAD_REQUEST,
                "unreadable-body",
                format!("the body could not be read: {why}"),
            ),
        }
    }
}
