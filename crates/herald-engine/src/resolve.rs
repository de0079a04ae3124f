//! Resolution: a notification's audience becomes delivery rows, streamed in batches (a million
//! recipients are never in memory at once), deduplicated by the store, guests settled as
//! `external_user`, never more than `AHEAD` rows ahead of delivery. Each batch saves a
//! [`Cursor`]; a crashed resolver's lease expires and another resumes at the cursor — a Graph
//! listing at the page it was reading, the installed people after the last one taken.

use crate::recipients::{self, Recipient};
use crate::worker::{self, Round};
use crate::{Engine, StoredRequest};
use herald_connector::{ConnectorError, Page};
use herald_core::audience::{CsvAudience, IdColumn};
use herald_core::ids::{AadObjectId, NotificationId, TeamRef, TeamsUserId, Upn, UserRef};
use herald_core::reason::Reason;
use herald_store::{
    ListQuery, NewDelivery, NotificationState, Outcome, RefState, RowData, Verdict,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::Instrument as _;

const LEASE_MS: u64 = 60_000;
/// Rows a batch: one transaction and one cursor each.
const BATCH: usize = 1_000;
/// Resolution runs at most this many rows ahead of delivery. Rows resolved faster than they
/// can be sent only take the database's time from sending them (SQLite has one writer), and a
/// million-person audience would be written out before the first hundred thousand were sent.
pub const AHEAD: u64 = 20_000;

pub async fn run(engine: Arc<Engine>, stop: watch::Receiver<bool>) {
    worker::run(
        stop,
        Some(&engine.resolve_due),
        Duration::from_secs(1),
        || round(&engine),
    )
    .await
}

/// Claims one notification to resolve and resolves it.
async fn round(engine: &Engine) -> Round {
    let now = engine.clock.now_ms();
    match engine.store.claim_resolution(now, LEASE_MS).await {
        Ok(Some(n)) => {
            let span = tracing::info_span!("resolve", notification = %n.id);
            let from = Cursor::read(n.resolve_cursor.as_deref());
            if let Err(e) = resolve(engine, &n.id, from).instrument(span).await {
                // The lease expires and resolution resumes; a broken request is not retried forever.
                tracing::warn!(notification = %n.id, error = %e, "resolution stopped; it will resume");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Round::Busy
        }
        Ok(None) => Round::Idle,
        Err(e) => {
            tracing::warn!(error = %e, "cannot claim a notification to resolve");
            Round::Idle
        }
    }
}

fn external(mut d: NewDelivery) -> NewDelivery {
    d.decided = Some(Verdict {
        outcome: Outcome::Failed,
        status_code: Some(403),
        reason: Some(Reason::ExternalUser),
    });
    d
}

fn unknown(input: &str) -> NewDelivery {
    NewDelivery {
        recipient: input.to_owned(),
        recipient_key: format!("input:{}", input.to_ascii_lowercase()),
        aad_object_id: None,
        upn: None,
        display_name: None,
        data: None,
        decided: Some(Verdict {
            outcome: Outcome::Failed,
            status_code: Some(404),
            reason: Some(Reason::UnknownUser),
        }),
        due_at: None,
    }
}

fn row(r: &Recipient, data: Option<RowData>) -> NewDelivery {
    // The directory's given name rides with the template data (a CSV column of that name wins).
    let data = match (&r.given_name, data) {
        (Some(g), data) => {
            let mut m = data.unwrap_or_default();
            m.entry("givenName")
                .or_insert_with(|| Value::String(g.clone()));
            Some(m)
        }
        (None, data) => data,
    };
    let d = NewDelivery {
        recipient: r.input.clone(),
        recipient_key: r.key(),
        aad_object_id: r.aad_object_id.clone(),
        upn: r.upn.clone(),
        display_name: r.display_name.clone(),
        data,
        decided: None,
        due_at: None,
    };
    if r.guest {
        external(d)
    } else {
        d
    }
}

/// A part of the audience, in the order parts are resolved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "index", rename_all = "camelCase")]
enum Part {
    #[default]
    Users,
    Csv,
    Team(usize),
    Group(usize),
    Installed,
}

/// Where resolution got to: everything before `part` is written, and within it, what the
/// other fields say. Saved with each batch (the rows of a part already written are written
/// once, however often it is read again).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Cursor {
    part: Part,
    /// A CSV's rows read; a Graph page's items taken.
    #[serde(default)]
    done: u64,
    /// The Graph page being read (`None`: the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    link: Option<String>,
    /// All installed: the last reference taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<i64>,
}

impl Cursor {
    /// A saved cursor; one that cannot be read starts over (the store keeps rows once).
    fn read(saved: Option<&str>) -> Self {
        saved
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default()
    }

    /// How many of a CSV audience's rows a resolver has read (all of them once it is past the
    /// CSV): what an erasure may no longer renumber.
    pub(crate) fn csv_rows_read(saved: Option<&str>) -> u64 {
        let c = Self::read(saved);
        match c.part {
            Part::Users => 0,
            Part::Csv => c.done,
            _ => u64::MAX,
        }
    }

    fn at(part: Part) -> Self {
        Self {
            part,
            ..Self::default()
        }
    }
}

/// Collects rows and writes them in batches, each with the cursor after its last row.
struct Sink<'a> {
    engine: &'a Engine,
    id: &'a NotificationId,
    next_seq: i64,
    rows: Vec<NewDelivery>,
    canceled: bool,
    /// Where the rows pushed so far end.
    at: Cursor,
    /// `recipientLocalTime`: the date and time each row is due at in its recipient's zone.
    wall: Option<jiff::civil::DateTime>,
}

impl Sink<'_> {
    async fn push(&mut self, d: NewDelivery) -> Result<(), String> {
        self.rows.push(d);
        if self.rows.len() >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), String> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let now = self.engine.clock.now_ms();
        let n = self.rows.len() as i64;
        if let Some(wall) = self.wall {
            self.place_in_time(wall).await?;
        }
        self.engine
            .store
            .insert_deliveries(self.id, self.next_seq, &self.rows, now)
            .await
            .map_err(|e| e.to_string())?;
        self.next_seq += n;
        self.rows.clear();
        crate::cluster::announce(self.engine, herald_store::Work::Send).await;
        let cursor = serde_json::to_string(&self.at).map_err(|e| e.to_string())?;
        self.engine
            .store
            .renew_resolution(self.id, now + LEASE_MS, Some(&cursor))
            .await
            .map_err(|e| e.to_string())?;
        self.engine.send_due.notify_one();
        let state = self
            .engine
            .store
            .get_notification(self.id)
            .await
            .map_err(|e| e.to_string())?;
        self.canceled = state.is_some_and(|n| n.state == NotificationState::Canceled);
        self.keep_behind().await
    }

    /// Sets each row's due time: `wall` in the recipient's zone (their preference, else their
    /// client's, else `default_time_zone`).
    async fn place_in_time(&mut self, wall: jiff::civil::DateTime) -> Result<(), String> {
        let people: Vec<AadObjectId> = self
            .rows
            .iter()
            .filter(|d| d.decided.is_none())
            .filter_map(|d| d.aad_object_id.clone())
            .collect();
        let zones = self
            .engine
            .store
            .time_zones(&self.engine.tenant, &people)
            .await
            .map_err(|e| e.to_string())?;
        let fallback = crate::local_time::zone(&self.engine.cfg.default_time_zone)?;
        let mut cache: std::collections::HashMap<&str, Option<u64>> = Default::default();
        let fallback_at = crate::local_time::instant(wall, &fallback);
        for d in self.rows.iter_mut().filter(|d| d.decided.is_none()) {
            let zone = d.aad_object_id.as_ref().and_then(|a| zones.get(a.as_str()));
            let own = zone.and_then(|z| {
                *cache.entry(z.as_str()).or_insert_with(|| {
                    crate::local_time::zone(z)
                        .ok()
                        .and_then(|tz| crate::local_time::instant(wall, &tz))
                })
            });
            // A zone stored before it was checked, or since dropped from the database, falls
            // back like no zone at all.
            d.due_at = own.or(fallback_at);
        }
        Ok(())
    }

    /// Waits while `AHEAD` rows or more wait to be sent (renewing the lease meanwhile). Rows
    /// placed in their recipients' hours are not held back: each must be there at its time.
    async fn keep_behind(&mut self) -> Result<(), String> {
        if self.wall.is_some() {
            return Ok(());
        }
        let store = &self.engine.store;
        let mut renewed = self.engine.clock.now_ms();
        while !self.canceled {
            let pending = store
                .delivery_counts(self.id)
                .await
                .map_err(|e| e.to_string())?
                .pending;
            if pending < AHEAD {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self.engine.clock.now_ms();
            if now.saturating_sub(renewed) >= LEASE_MS / 4 {
                renewed = now;
                store
                    .renew_resolution(self.id, now + LEASE_MS, None)
                    .await
                    .map_err(|e| e.to_string())?;
                let state = store
                    .get_notification(self.id)
                    .await
                    .map_err(|e| e.to_string())?;
                self.canceled = state.is_some_and(|n| n.state == NotificationState::Canceled);
            }
        }
        Ok(())
    }
}

fn graph_err(e: ConnectorError) -> String {
    format!("Graph: {e}")
}

async fn resolve(engine: &Engine, id: &NotificationId, from: Cursor) -> Result<(), String> {
    tracing::info!(resume = from != Cursor::default(), "resolving the audience");
    let request: Arc<StoredRequest> = engine
        .request(id)
        .await
        .ok_or_else(|| format!("notification {id} has no readable request"))?;
    let next_seq = engine
        .store
        .max_delivery_seq(id)
        .await
        .map_err(|e| e.to_string())?
        + 1;
    let mut sink = Sink {
        engine,
        id,
        next_seq,
        rows: Vec::new(),
        canceled: false,
        at: Cursor::default(),
        wall: request.request.local_wall_clock(),
    };
    let to = &request.request.to;
    let tenant = engine.tenant.clone();
    // Where each part starts: at the cursor in its own part, from the beginning after it.
    let start = |part: Part| -> Option<Cursor> {
        match part.cmp(&from.part) {
            std::cmp::Ordering::Less => None,
            std::cmp::Ordering::Equal => Some(from.clone()),
            std::cmp::Ordering::Greater => Some(Cursor::at(part)),
        }
    };

    if start(Part::Users).is_some() {
        for r in &request.users {
            sink.push(row(r, None)).await?;
        }
    }
    if let (Some(csv), Some(at)) = (&to.csv, start(Part::Csv)) {
        resolve_csv(engine, &mut sink, csv, at).await?;
    }
    for (i, team) in to.teams.iter().enumerate() {
        let Some(at) = start(Part::Team(i)) else {
            continue;
        };
        if sink.canceled {
            break;
        }
        // Checked when the request was accepted.
        let Ok(team) = TeamRef::parse(team) else {
            continue;
        };
        let group_id = match team {
            TeamRef::Conversation(id) => engine
                .store
                .get_team(&tenant, &id)
                .await
                .map_err(|e| e.to_string())?
                .and_then(|t| t.team.aad_group_id),
            TeamRef::Group(id) => Some(id),
        };
        let Some(group_id) = group_id else { continue };
        let first = engine
            .graph
            .team_members(&group_id)
            .await
            .map_err(graph_err)?;
        walk(engine, &mut sink, at, first, |m| {
            let aad = AadObjectId::parse(m["userId"].as_str()?).ok()?;
            let guest = m["roles"]
                .as_array()
                .is_some_and(|r| r.iter().any(|x| x == "guest"))
                || m["tenantId"]
                    .as_str()
                    .is_some_and(|t| !t.eq_ignore_ascii_case(&tenant));
            Some(Recipient {
                input: m["email"]
                    .as_str()
                    .map_or_else(|| aad.to_string(), str::to_owned),
                aad_object_id: Some(aad),
                upn: m["email"].as_str().and_then(|e| Upn::parse(e).ok()),
                display_name: m["displayName"].as_str().map(str::to_owned),
                given_name: None,
                guest,
            })
        })
        .await?;
    }
    for (i, group) in to.groups.iter().enumerate() {
        let Some(at) = start(Part::Group(i)) else {
            continue;
        };
        if sink.canceled {
            break;
        }
        let first = engine.graph.group_users(group).await.map_err(graph_err)?;
        walk(engine, &mut sink, at, first, |u| {
            let user = herald_connector::GraphUser::from_json(u)?;
            let input = user.upn.clone().unwrap_or_else(|| user.id.clone());
            Recipient::from_graph(&input, &user)
        })
        .await?;
    }
    if let (true, Some(at)) = (to.all_installed, start(Part::Installed)) {
        let mut after = at.after;
        sink.at = at;
        while !sink.canceled {
            let page = engine
                .store
                .list_references(&ListQuery {
                    state: Some(RefState::Active),
                    after,
                    limit: 1000,
                })
                .await
                .map_err(|e| e.to_string())?;
            let Some(last) = page.last() else { break };
            after = Some(last.seq);
            for r in &page {
                sink.at.after = Some(r.seq);
                if r.reference.tenant_id != tenant {
                    continue;
                }
                let input = match &r.reference.upn {
                    Some(u) => u.to_string(),
                    None => r.reference.aad_object_id.to_string(),
                };
                sink.push(row(&Recipient::from_reference(&input, r), None))
                    .await?;
            }
        }
    }
    sink.flush().await?;
    tracing::info!(
        recipients = sink.next_seq - 1,
        canceled = sink.canceled,
        "audience resolved"
    );
    engine
        .store
        .finish_resolution(id)
        .await
        .map_err(|e| e.to_string())?;
    if sink.canceled {
        // Rows added while the cancel landed are canceled too.
        let _ = engine
            .store
            .cancel_notification(id, engine.clock.now_ms())
            .await;
    }
    if let Ok(true) = engine
        .store
        .complete_if_done(id, engine.clock.now_ms())
        .await
    {
        tracing::info!("notification completed");
    }
    engine.send_due.notify_one();
    Ok(())
}

/// Every page of a Graph listing from `at`, each item turned into a row by `to_recipient`. A
/// saved page Graph no longer serves is read again from `first` (rows already made stay once).
async fn walk(
    engine: &Engine,
    sink: &mut Sink<'_>,
    at: Cursor,
    first: Option<Page>,
    to_recipient: impl Fn(&Value) -> Option<Recipient>,
) -> Result<(), String> {
    let (mut page, mut skip, mut link) = (first, at.done, None);
    if let Some(saved) = &at.link {
        match engine.graph.next_page(saved).await {
            Ok(p) => {
                page = Some(p);
                link = Some(saved.clone());
            }
            Err(e) => {
                tracing::info!(error = %e, "the saved Graph page cannot be read; reading from the first");
                skip = 0;
            }
        }
    }
    sink.at = Cursor {
        part: at.part,
        done: skip,
        link,
        after: None,
    };
    while let Some(p) = page.take() {
        for (k, item) in p.items.iter().enumerate().skip(skip as usize) {
            sink.at.done = k as u64 + 1;
            if let Some(r) = to_recipient(item) {
                sink.push(row(&r, None)).await?;
            }
        }
        skip = 0;
        if sink.canceled {
            break;
        }
        if let Some(next) = p.next {
            page = Some(engine.graph.next_page(&next).await.map_err(graph_err)?);
            sink.at.link = Some(next);
            sink.at.done = 0;
        }
    }
    Ok(())
}

async fn resolve_csv(
    engine: &Engine,
    sink: &mut Sink<'_>,
    csv: &str,
    at: Cursor,
) -> Result<(), String> {
    let rows = CsvAudience::new(csv, engine.cfg.max_csv_rows).map_err(|e| e.to_string())?;
    let column = rows.kind();
    sink.at = at.clone();
    for (i, line) in rows.enumerate().skip(at.done as usize) {
        if sink.canceled {
            break;
        }
        sink.at.done = i as u64 + 1;
        let line = line.map_err(|e| e.to_string())?;
        let data: RowData = line
            .columns
            .into_iter()
            .map(|(h, v)| (h, Value::String(v)))
            .collect();
        let data = (!data.is_empty()).then_some(data);
        // The column says what the id is; a row whose id is not of that kind is nobody.
        let who = match column {
            IdColumn::Upn => Upn::parse(line.id.as_str()).map(UserRef::Upn),
            IdColumn::AadObjectId => AadObjectId::parse(line.id.as_str()).map(UserRef::AadObjectId),
            IdColumn::TeamsId => TeamsUserId::parse(line.id.as_str()).map(UserRef::TeamsUser),
        };
        let found = match &who {
            Ok(who) => recipients::resolve(engine, &line.id, who)
                .await
                .map_err(graph_err)?,
            Err(_) => None,
        };
        let d = match found {
            Some(r) => row(&r, data),
            None => NewDelivery {
                data,
                ..unknown(&line.id)
            },
        };
        sink.push(d).await?;
    }
    Ok(())
}
