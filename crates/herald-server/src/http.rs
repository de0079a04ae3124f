//! Serving HTTP with the limits a public endpoint needs (`/api/messages` is reachable by anyone
//! who can reach Herald, before any authentication):
//!
//! - at most `max_connections` connections at once; more wait in the kernel's accept queue;
//! - a request's headers must arrive within `http_header_timeout_s` of their first byte (of the
//!   connection's opening, for its first request): slowloris holds connections open by sending
//!   a header line every few seconds;
//! - a kept-alive connection may idle [`KEEP_ALIVE_IDLE`] between requests. This is apart from
//!   the header timeout on purpose: a server that closes an idle connection just as the client
//!   reuses it loses that request, so idle connections are closed rarely, and never mid-request;
//! - a request must be answered within `http_request_timeout_s` (408 otherwise), except the
//!   routes that wait on purpose — `?sync=true` sends and `…/responses?wait=` long polls — which
//!   have their own caps.
//!
//! Body sizes are each route's own business (`/api/messages` 1 MB, the API `max_body_mb`).

use crate::problem::Problem;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt as _;

/// How long in-flight requests may run once the server is told to stop.
const DRAIN: Duration = Duration::from_secs(10);

/// How long a kept-alive connection may wait for its next request (nginx's default).
pub const KEEP_ALIVE_IDLE: Duration = Duration::from_secs(75);

/// The longest `POST /v1/notifications?sync=true` waits for its one delivery.
pub const SYNC_WAIT: Duration = Duration::from_secs(120);

/// The longest a caller may long-poll `GET /v1/notifications/{id}/responses?wait=`.
pub const LONG_POLL_MAX_S: u64 = 300;

/// What `serve` enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    /// `http_request_timeout_s`, for every route but the two that wait on purpose.
    pub request_timeout: Duration,
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
    // hyper's own timer runs from the end of one response to the end of the next request's
    // headers: it bounds the idle time. `HeadDeadline` bounds the headers themselves.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(KEEP_ALIVE_IDLE + limits.header_timeout)
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
        let phase = Arc::new(Phase::default());
        let io = HeadDeadline::new(stream, phase.clone(), limits.header_timeout);
        let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            // The headers are in: the body and the handler are the request deadline's business.
            phase.busy.store(true, Ordering::Release);
            let phase = phase.clone();
            let limit = deadline(limits.request_timeout, req.method(), req.uri());
            let answer = app.clone().oneshot(req.map(axum::body::Body::new));
            async move {
                let r = match tokio::time::timeout(limit, answer).await {
                    Ok(r) => r,
                    Err(_) => Ok(too_slow(limit)),
                };
                // Bytes from here on are the next request's head.
                phase.busy.store(false, Ordering::Release);
                r
            }
        });
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(io), service));
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

/// Whether the connection is inside a request (headers parsed, not yet answered).
#[derive(Default)]
struct Phase {
    busy: AtomicBool,
}

/// A connection whose request headers must arrive within `limit` of their first byte (or of
/// the connection's opening). Reads inside a request (its body) are not timed here.
struct HeadDeadline<IO> {
    io: IO,
    phase: Arc<Phase>,
    limit: Duration,
    /// Set while a head is arriving.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<IO> HeadDeadline<IO> {
    fn new(io: IO, phase: Arc<Phase>, limit: Duration) -> Self {
        Self {
            io,
            phase,
            limit,
            // The first request's head is due `limit` after the connection opens.
            deadline: Some(Box::pin(tokio::time::sleep(limit))),
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for HeadDeadline<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.phase.busy.load(Ordering::Acquire) {
            this.deadline = None;
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before && this.deadline.is_none() {
                    this.deadline = Some(Box::pin(tokio::time::sleep(this.limit)));
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let late = this
                    .deadline
                    .as_mut()
                    .is_some_and(|d| d.as_mut().poll(cx).is_ready());
                if late {
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the request headers did not arrive in time",
                    )));
                }
                Poll::Pending
            }
            other => other,
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for HeadDeadline<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// The longest a request to this route may take.
fn deadline(request_timeout: Duration, method: &Method, uri: &axum::http::Uri) -> Duration {
    let path = uri.path();
    let sync = method == Method::POST && path == "/v1/notifications";
    let poll = method == Method::GET && path.ends_with("/responses");
    // Only the two routes that wait on purpose look at their query (the hot path does not).
    if sync || poll {
        let query: Vec<(String, String)> =
            serde_urlencoded::from_str(uri.query().unwrap_or("")).unwrap_or_default();
        let margin = Duration::from_secs(15);
        if sync && query.iter().any(|(k, v)| k == "sync" && v == "true") {
            return SYNC_WAIT + margin;
        }
        if poll && query.iter().any(|(k, _)| k == "wait") {
            return Duration::from_secs(LONG_POLL_MAX_S) + margin;
        }
    }
    request_timeout
}

/// The answer to a request that outlived its deadline: 408, and the connection is closed.
fn too_slow(limit: Duration) -> Response {
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

/// Why a request body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// Longer than the route takes.
    TooBig,
    /// The client broke off, or sent a malformed chunked body.
    Unreadable(String),
}

/// How much more than its limit a refused body may be read (and thrown away) before the 413, and
/// for how long: a socket closed with unread data is reset, and a client still sending would see
/// the reset instead of the answer. A body declared larger than its limit by more than this is
/// refused at once, and its client may only see the connection close.
const DRAIN_BYTES: usize = 8 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// A request body of at most `limit` bytes.
pub async fn read_body(
    mut body: axum::body::Body,
    limit: usize,
) -> Result<bytes::Bytes, BodyError> {
    use http_body_util::BodyExt as _;
    use hyper::body::Body as _;
    if let Some(declared) = body.size_hint().exact() {
        if declared > limit as u64 {
            if declared <= (limit + DRAIN_BYTES) as u64 {
                drain(body, declared as usize).await;
            }
            return Err(BodyError::TooBig);
        }
    }
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Unreadable(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                drain(body, DRAIN_BYTES).await;
                return Err(BodyError::TooBig);
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out.freeze())
}

/// Reads and drops at most `max` bytes of what is left of a refused body, within [`DRAIN_TIME`].
async fn drain(mut body: axum::body::Body, max: usize) {
    use http_body_util::BodyExt as _;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                seen += data.len();
                if seen >= max {
                    break;
                }
            }
        }
    })
    .await;
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
