//! What the emulator received: per route and status, 429s, and the busiest second tenant-wide
//! and per conversation — counted on arrival, so requests never answered are included.

use crate::Shared;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use herald_core::limits::PeakCounter;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

#[derive(Default)]
pub struct RouteStats {
    received: u64,
    statuses: BTreeMap<u16, u64>,
}

pub struct Stats {
    routes: BTreeMap<String, RouteStats>,
    throttled: u64,
    graph_throttled: u64,
    connector_requests: u64,
    tenant_peak: PeakCounter,
    conversation_peaks: HashMap<String, PeakCounter>,
    busiest_conversation: usize,
    /// Hashes of (conversation, body) of every message the bot sent, to count repeats.
    sent: HashSet<u64>,
    duplicates: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            routes: BTreeMap::new(),
            throttled: 0,
            graph_throttled: 0,
            connector_requests: 0,
            tenant_peak: PeakCounter::new(1000),
            conversation_peaks: HashMap::new(),
            busiest_conversation: 0,
            sent: HashSet::new(),
            duplicates: 0,
        }
    }
}

impl Stats {
    pub fn conversation_request(&mut self, conversation: &str, now_ms: u64) {
        let p = self
            .conversation_peaks
            .entry(conversation.to_owned())
            .or_insert_with(|| PeakCounter::new(1000));
        p.observe(now_ms);
        self.busiest_conversation = self.busiest_conversation.max(p.peak());
    }

    /// The bot sent `body` to `conversation` (and it was carried out): a repeat of an earlier
    /// send is a duplicate. Counted with transcripts off too.
    pub fn message_sent(&mut self, conversation: &str, body: &[u8]) {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        conversation.hash(&mut h);
        body.hash(&mut h);
        if !self.sent.insert(h.finish()) {
            self.duplicates += 1;
        }
    }

    pub fn to_json(&self) -> Value {
        let mut requests = Map::new();
        for (route, s) in &self.routes {
            let mut m = Map::new();
            m.insert("received".into(), json!(s.received));
            for (status, n) in &s.statuses {
                m.insert(status.to_string(), json!(n));
            }
            requests.insert(route.clone(), Value::Object(m));
        }
        json!({
            "requests": requests,
            "connectorRequests": self.connector_requests,
            "throttled": self.throttled,
            "graphThrottled": self.graph_throttled,
            "duplicates": self.duplicates,
            "maxRequestsIn1s": {
                "tenant": self.tenant_peak.peak(),
                "perConversation": self.busiest_conversation,
            },
        })
    }
}

/// The conversation a connector path addresses, if any (`/v3/conversations/{id}/…`).
fn conversation_in_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v3/conversations/")?;
    let raw = rest.split('/').next().filter(|s| !s.is_empty())?;
    Some(
        percent_encoding::percent_decode_str(raw)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

pub async fn count_requests(
    State(shared): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let route = format!(
        "{} {}",
        req.method(),
        req.extensions()
            .get::<MatchedPath>()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| req.uri().path().to_owned())
    );
    if route.contains(" /_emulator/") {
        return next.run(req).await;
    }
    let path = req.uri().path().to_owned();
    let connector = path.starts_with("/v3/");
    // Graph chat ids and connector ids of one chat count as one conversation.
    let conversation =
        conversation_in_path(&path).map(|c| shared.world.lock().canonical(&c).unwrap_or(c));
    {
        let now = shared.clock.now_ms();
        let mut s = shared.stats.lock();
        s.routes.entry(route.clone()).or_default().received += 1;
        if connector {
            s.connector_requests += 1;
            s.tenant_peak.observe(now);
            if let Some(conv) = conversation {
                s.conversation_request(&conv, now);
            }
        }
    }
    let res = next.run(req).await;
    let status = res.status().as_u16();
    let mut s = shared.stats.lock();
    *s.routes
        .entry(route)
        .or_default()
        .statuses
        .entry(status)
        .or_default() += 1;
    if status == 429 {
        if connector {
            s.throttled += 1;
        } else {
            s.graph_throttled += 1;
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_conversation_of_a_connector_path() {
        assert_eq!(
            conversation_in_path("/v3/conversations/a%3A1xyz/activities").as_deref(),
            Some("a:1xyz")
        );
        assert_eq!(conversation_in_path("/v3/conversations"), None);
        assert_eq!(conversation_in_path("/v1.0/users"), None);
    }
}
