//! Resolution: a notification's audience becomes delivery rows, streamed in batches (a million
//! recipients are never in memory at once), deduplicated by the store, guests settled as
//! `external_user`. A crashed resolver's lease expires and another resumes after the last row.

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
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::Instrument as _;

const LEASE_MS: u64 = 60_000;
const BATCH: usize = 500;

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
            if let Err(e) = resolve(engine, &n.id).instrument(span).await {
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
    };
    if r.guest {
        external(d)
    } else {
        d
    }
}

/// Collects rows and writes them in batches.
struct Sink<'a> {
    engine: &'a Engine,
    id: &'a NotificationId,
    next_seq: i64,
    rows: Vec<NewDelivery>,
    canceled: bool,
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
        self.engine
            .store
            .insert_deliveries(self.id, self.next_seq, &self.rows, now)
            .await
            .map_err(|e| e.to_string())?;
        self.next_seq += n;
        self.rows.clear();
        crate::cluster::announce(self.engine, herald_store::Work::Send).await;
        self.engine
            .store
            .renew_resolution(self.id, now + LEASE_MS)
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
        Ok(())
    }
}

fn graph_err(e: ConnectorError) -> String {
    format!("Graph: {e}")
}

async fn resolve(engine: &Engine, id: &NotificationId) -> Result<(), String> {
    tracing::info!("resolving the audience");
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
    };
    let to = &request.request.to;
    let tenant = engine.tenant.clone();

    for r in &request.users {
        sink.push(row(r, None)).await?;
    }
    if let Some(csv) = &to.csv {
        resolve_csv(engine, &mut sink, csv).await?;
    }
    for team in &to.teams {
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
        walk(engine, &mut sink, first, |m| {
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
    for group in &to.groups {
        if sink.canceled {
            break;
        }
        let first = engine.graph.group_users(group).await.map_err(graph_err)?;
        walk(engine, &mut sink, first, |u| {
            let user = herald_connector::GraphUser::from_json(u)?;
            let input = user.upn.clone().unwrap_or_else(|| user.id.clone());
            Recipient::from_graph(&input, &user)
        })
        .await?;
    }
    if to.all_installed {
        let mut after = None;
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

/// Every page of a Graph listing, each item turned into a row by `to_recipient`.
async fn walk(
    engine: &Engine,
    sink: &mut Sink<'_>,
    first: Option<Page>,
    to_recipient: impl Fn(&Value) -> Option<Recipient>,
) -> Result<(), String> {
    let mut page = first;
    while let Some(p) = page.take() {
        for item in &p.items {
            if let Some(r) = to_recipient(item) {
                sink.push(row(&r, None)).await?;
            }
        }
        if sink.canceled {
            break;
        }
        if let Some(next) = p.next {
            page = Some(engine.graph.next_page(&next).await.map_err(graph_err)?);
        }
    }
    Ok(())
}

async fn resolve_csv(engine: &Engine, sink: &mut Sink<'_>, csv: &str) -> Result<(), String> {
    let rows = CsvAudience::new(csv, engine.cfg.max_csv_rows).map_err(|e| e.to_string())?;
    let column = rows.kind();
    for line in rows {
        if sink.canceled {
            break;
        }
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
