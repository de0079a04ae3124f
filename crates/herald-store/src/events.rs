//! Events (`options.events`): webhooks about delivery rows — delivered, read, reacted, opted out —
//! queued in the callback outbox in the same transaction as the change they report, so one is
//! never lost nor sent for a change that did not happen. The callback sender signs and retries
//! them like answers' callbacks.

use crate::*;
use herald_core::ids::NotificationId;
use sqlx::Row as _;

impl CallbackEvent {
    /// Its bit in a notification's `events` (`options.events`); answers have none (they go to
    /// `waitForResponse.callbackUrl`).
    pub fn bit(self) -> u32 {
        match self {
            CallbackEvent::Delivered => 1,
            CallbackEvent::Read => 2,
            CallbackEvent::Reacted => 4,
            CallbackEvent::OptedOut => 8,
            CallbackEvent::Answered | CallbackEvent::NoResponse => 0,
        }
    }

    /// About an answer to a card (the body is the response), not about a delivery row.
    pub fn is_answer(self) -> bool {
        matches!(self, CallbackEvent::Answered | CallbackEvent::NoResponse)
    }
}

/// What a recorded outcome sets going for `options.events`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutcomeEvents {
    /// A webhook to queue with the outcome, to this URL (`delivered`, `opted_out`).
    pub callback: Option<(String, CallbackEvent)>,
    /// Reactions to the message are to be reported (`reacted`): the row is watched.
    pub watch_reactions: bool,
}

/// Queues a webhook about row `seq` of `n`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn queue<'c, DB>(
    tx: &mut sqlx::Transaction<'c, DB>,
    postgres: bool,
    n: &NotificationId,
    seq: i64,
    url: &str,
    event: CallbackEvent,
    detail: Option<&str>,
    now: u64,
) -> Result<()>
where
    DB: sqlx::Database,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'a> &'a mut <DB as sqlx::Database>::Connection: sqlx::Executor<'a, Database = DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let sql = if postgres {
        "INSERT INTO callbacks (notification_id, seq, url, event, state, attempts, next_at, created_at, detail) \
         VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5, $6)"
    } else {
        "INSERT INTO callbacks (notification_id, seq, url, event, state, attempts, next_at, created_at, detail) \
         VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5, ?6)"
    };
    sqlx::query(sql)
        .bind(n.as_str())
        .bind(seq)
        .bind(url)
        .bind(event.as_str())
        .bind(now.min(i64::MAX as u64) as i64)
        .bind(detail)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Where `n`'s `event`s go, if it asked for them.
pub(crate) async fn wanted<'c, DB>(
    tx: &mut sqlx::Transaction<'c, DB>,
    postgres: bool,
    n: &str,
    event: CallbackEvent,
) -> Result<Option<String>>
where
    DB: sqlx::Database,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'a> &'a mut <DB as sqlx::Database>::Connection: sqlx::Executor<'a, Database = DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'r> String: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'r> i64: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'r> Option<String>: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'a> &'a str: sqlx::ColumnIndex<<DB as sqlx::Database>::Row>,
{
    let sql = if postgres {
        "SELECT events, events_url FROM notifications WHERE id = $1"
    } else {
        "SELECT events, events_url FROM notifications WHERE id = ?1"
    };
    let Some(row) = sqlx::query(sql).bind(n).fetch_optional(&mut **tx).await? else {
        return Ok(None);
    };
    let bits: i64 = row.try_get("events")?;
    let url: Option<String> = row.try_get("events_url")?;
    Ok(url.filter(|_| bits & i64::from(event.bit()) != 0))
}
