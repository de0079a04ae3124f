//! Answers to cards that wait for a response, and the callbacks that report them. Written once
//! for both backends, like the rest of the store.

use crate::store::{db, id, ms, opt_id, HasPool, PgStore, SqliteStore};
use crate::*;
use async_trait::async_trait;
use herald_core::ids::NotificationId;
use sqlx::Row as _;

/// The responses side of the store (a supertrait of [`Store`]).
#[async_trait]
pub trait Responses: Send + Sync {
    /// The response rows of a card, by the card's activity id.
    async fn responses_for_activity(&self, activity_id: &str) -> Result<Vec<Response>>;

    /// Keeps an answer in one transaction: history, the first answer, its callback.
    async fn record_answer(
        &self,
        notification_id: &NotificationId,
        seq: i64,
        a: &Answer,
    ) -> Result<AnswerOutcome>;

    /// Waits that have ended become `no_response` (with their callbacks); returns how many.
    async fn expire_responses(&self, now: u64) -> Result<u64>;

    async fn list_responses(
        &self,
        id: &NotificationId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<Response>>;

    async fn get_response(&self, id: &NotificationId, seq: i64) -> Result<Option<Response>>;

    async fn response_tally(&self, id: &NotificationId) -> Result<Tally>;

    /// Card updates still pending since before `older_than` (a crash between answer and update).
    async fn stale_updates(&self, older_than: u64, limit: u32) -> Result<Vec<Response>>;

    async fn set_update_state(
        &self,
        id: &NotificationId,
        seq: i64,
        state: UpdateState,
        now: u64,
    ) -> Result<()> {
        self.set_update_states(&[(id.to_owned(), seq, state)], now)
            .await
    }

    /// Many update states in one transaction.
    async fn set_update_states(
        &self,
        items: &[(NotificationId, i64, UpdateState)],
        now: u64,
    ) -> Result<()>;

    /// Callbacks due, leased until `now + lease_ms` (a crashed sender's return after it).
    async fn claim_callbacks(&self, now: u64, lease_ms: u64, limit: u32) -> Result<Vec<Callback>>;

    async fn finish_callback(&self, id: i64, r: &CallbackResult, now: u64) -> Result<()>;

    /// Callbacks by state, for tests and metrics: (pending or sending, delivered, failed).
    async fn callback_counts(&self) -> Result<(u64, u64, u64)>;
}

const RESPONSE_COLS: &str = "notification_id, seq, recipient, aad_object_id, conversation_id, activity_id, \
    state, deadline, callback_url, action_title, action_id, verb, inputs, responded_at, answers, update_state";

struct Sql {
    /// PostgreSQL only: history, first answer and callback in one statement (one round trip).
    answer_pg: String,
    by_activity: String,
    insert_event: String,
    first_answer: String,
    later_answer: String,
    state_of: String,
    callback_for: String,
    expire: String,
    list: String,
    get: String,
    tally_states: String,
    tally_actions: String,
    stale_updates: String,
    set_update: String,
    claim_callbacks: String,
    callback_done: String,
    callback_retry: String,
    callback_failed: String,
    callback_counts: String,
}

fn sql(postgres: bool) -> Sql {
    let q = |s: &str| {
        let s = s.replace("{cols}", RESPONSE_COLS).replace(
            "{lock}",
            if postgres {
                "FOR UPDATE SKIP LOCKED"
            } else {
                ""
            },
        );
        if postgres {
            s
        } else {
            s.replace('$', "?")
        }
    };
    Sql {
        answer_pg: q(
            "WITH e AS (INSERT INTO response_events (notification_id, seq, inbound_id, action_title, action_id, verb, inputs, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (notification_id, seq, inbound_id) DO NOTHING RETURNING 1), \
             u AS (UPDATE responses SET state = 'answered', action_title = $4, action_id = $5, verb = $6, inputs = $7, \
             responded_at = $8, answers = answers + 1, update_state = $9, updated_at = $8 \
             WHERE notification_id = $1 AND seq = $2 AND state = 'waiting' AND EXISTS (SELECT 1 FROM e) RETURNING callback_url), \
             c AS (INSERT INTO callbacks (notification_id, seq, url, event, state, attempts, next_at, created_at) \
             SELECT $1, $2, callback_url, 'answered', 'pending', 0, $8, $8 FROM u WHERE callback_url IS NOT NULL RETURNING 1) \
             SELECT (SELECT COUNT(*) FROM e) AS fresh, (SELECT COUNT(*) FROM u) AS first, (SELECT COUNT(*) FROM c) AS callbacks",
        ),
        by_activity: q("SELECT {cols} FROM responses WHERE activity_id = $1"),
        insert_event: q(
            "INSERT INTO response_events (notification_id, seq, inbound_id, action_title, action_id, verb, inputs, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (notification_id, seq, inbound_id) DO NOTHING",
        ),
        first_answer: q(
            "UPDATE responses SET state = 'answered', action_title = $3, action_id = $4, verb = $5, inputs = $6, \
             responded_at = $7, answers = answers + 1, update_state = $8, updated_at = $7 \
             WHERE notification_id = $1 AND seq = $2 AND state = 'waiting'",
        ),
        later_answer: q(
            "UPDATE responses SET answers = answers + 1 WHERE notification_id = $1 AND seq = $2",
        ),
        state_of: q("SELECT state FROM responses WHERE notification_id = $1 AND seq = $2"),
        callback_for: q(
            "INSERT INTO callbacks (notification_id, seq, url, event, state, attempts, next_at, created_at) \
             SELECT notification_id, seq, callback_url, $3, 'pending', 0, $4, $4 FROM responses \
             WHERE notification_id = $1 AND seq = $2 AND callback_url IS NOT NULL",
        ),
        expire: q(
            "UPDATE responses SET state = 'no_response', updated_at = $1 WHERE state = 'waiting' AND deadline <= $1 \
             RETURNING notification_id, seq",
        ),
        list: q(
            "SELECT {cols} FROM responses WHERE notification_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        ),
        get: q("SELECT {cols} FROM responses WHERE notification_id = $1 AND seq = $2"),
        tally_states: q(
            "SELECT state, COUNT(*) AS n FROM responses WHERE notification_id = $1 GROUP BY state",
        ),
        tally_actions: q(
            "SELECT COALESCE(action_title, action_id, verb, '') AS title, COUNT(*) AS n FROM responses \
             WHERE notification_id = $1 AND state = 'answered' GROUP BY COALESCE(action_title, action_id, verb, '') \
             ORDER BY n DESC, title",
        ),
        stale_updates: q(
            "SELECT {cols} FROM responses WHERE update_state = 'pending' AND updated_at < $1 ORDER BY updated_at LIMIT $2",
        ),
        set_update: q(
            "UPDATE responses SET update_state = $3, updated_at = $4 WHERE notification_id = $1 AND seq = $2",
        ),
        claim_callbacks: q(if postgres {
            "WITH picked AS (SELECT id FROM callbacks WHERE state IN ('pending', 'sending') AND next_at <= $1 \
             ORDER BY next_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
             UPDATE callbacks SET state = 'sending', next_at = $2, attempts = callbacks.attempts + 1 FROM picked \
             WHERE callbacks.id = picked.id \
             RETURNING callbacks.id, callbacks.notification_id, callbacks.seq, callbacks.url, callbacks.event, callbacks.attempts, callbacks.detail"
        } else {
            "UPDATE callbacks SET state = 'sending', next_at = $2, attempts = attempts + 1 WHERE id IN \
             (SELECT id FROM callbacks WHERE state IN ('pending', 'sending') AND next_at <= $1 ORDER BY next_at LIMIT $3) \
             RETURNING id, notification_id, seq, url, event, attempts, detail"
        }),
        callback_done: q("UPDATE callbacks SET state = 'delivered', last_error = NULL WHERE id = $1"),
        callback_retry: q(
            "UPDATE callbacks SET state = 'pending', next_at = $2, last_error = $3 WHERE id = $1",
        ),
        callback_failed: q(
            "UPDATE callbacks SET state = 'failed', last_error = $2 WHERE id = $1",
        ),
        callback_counts: q("SELECT state, COUNT(*) AS n FROM callbacks GROUP BY state"),
    }
}

macro_rules! impl_responses {
    ($store:ty, $postgres:literal) => {
        impl $store {
            fn response(
                row: &<<$store as HasPool>::Db as sqlx::Database>::Row,
            ) -> Result<Response> {
                let state: String = row.try_get("state")?;
                let update: String = row.try_get("update_state")?;
                Ok(Response {
                    notification_id: id(row, "notification_id")?,
                    seq: row.try_get("seq")?,
                    recipient: row.try_get("recipient")?,
                    aad_object_id: opt_id(row, "aad_object_id")?,
                    conversation_id: id(row, "conversation_id")?,
                    activity_id: row.try_get("activity_id")?,
                    state: ResponseState::parse(&state)
                        .ok_or_else(|| StoreError::Corrupt(format!("response state `{state}`")))?,
                    deadline: ms(row.try_get("deadline")?),
                    callback_url: row.try_get("callback_url")?,
                    action_title: row.try_get("action_title")?,
                    action_id: row.try_get("action_id")?,
                    verb: row.try_get("verb")?,
                    inputs: row.try_get("inputs")?,
                    responded_at: row.try_get::<Option<i64>, _>("responded_at")?.map(ms),
                    answers: ms(row.try_get("answers")?) as u32,
                    update_state: UpdateState::parse(&update)
                        .ok_or_else(|| StoreError::Corrupt(format!("update state `{update}`")))?,
                })
            }

            fn sql(&self) -> &'static Sql {
                static SQL: std::sync::OnceLock<Sql> = std::sync::OnceLock::new();
                SQL.get_or_init(|| sql($postgres))
            }
        }

        #[async_trait]
        impl Responses for $store {
            async fn responses_for_activity(&self, activity_id: &str) -> Result<Vec<Response>> {
                let rows = sqlx::query(&self.sql().by_activity)
                    .bind(activity_id)
                    .fetch_all(self.readers())
                    .await?;
                rows.iter().map(Self::response).collect()
            }

            async fn record_answer(
                &self,
                nid: &NotificationId,
                seq: i64,
                a: &Answer,
            ) -> Result<AnswerOutcome> {
                let s = self.sql();
                let update = if a.wants_update {
                    UpdateState::Pending
                } else {
                    UpdateState::None
                };
                if $postgres {
                    let row = sqlx::query(&s.answer_pg)
                        .bind(nid.as_str())
                        .bind(seq)
                        .bind(&a.inbound_id)
                        .bind(&a.action_title)
                        .bind(&a.action_id)
                        .bind(&a.verb)
                        .bind(&a.inputs)
                        .bind(db(a.at))
                        .bind(update.as_str())
                        .fetch_one(&self.pool)
                        .await?;
                    if row.try_get::<i64, _>("fresh")? == 0 {
                        return Ok(AnswerOutcome::Replay);
                    }
                    if row.try_get::<i64, _>("first")? > 0 {
                        return Ok(AnswerOutcome::First);
                    }
                    // A later answer: its history row is in; count it and say whether the wait had ended.
                    sqlx::query(&s.later_answer)
                        .bind(nid.as_str())
                        .bind(seq)
                        .execute(&self.pool)
                        .await?;
                    let state: Option<String> = sqlx::query_scalar(&s.state_of)
                        .bind(nid.as_str())
                        .bind(seq)
                        .fetch_optional(&self.pool)
                        .await?;
                    return Ok(
                        if state.as_deref() == Some(ResponseState::NoResponse.as_str()) {
                            AnswerOutcome::Late
                        } else {
                            AnswerOutcome::Later
                        },
                    );
                }
                let mut tx = self.pool.begin().await?;
                let fresh = sqlx::query(&s.insert_event)
                    .bind(nid.as_str())
                    .bind(seq)
                    .bind(&a.inbound_id)
                    .bind(&a.action_title)
                    .bind(&a.action_id)
                    .bind(&a.verb)
                    .bind(&a.inputs)
                    .bind(db(a.at))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if fresh == 0 {
                    tx.commit().await?;
                    return Ok(AnswerOutcome::Replay);
                }
                let first = sqlx::query(&s.first_answer)
                    .bind(nid.as_str())
                    .bind(seq)
                    .bind(&a.action_title)
                    .bind(&a.action_id)
                    .bind(&a.verb)
                    .bind(&a.inputs)
                    .bind(db(a.at))
                    .bind(update.as_str())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let outcome = if first > 0 {
                    sqlx::query(&s.callback_for)
                        .bind(nid.as_str())
                        .bind(seq)
                        .bind(CallbackEvent::Answered.as_str())
                        .bind(db(a.at))
                        .execute(&mut *tx)
                        .await?;
                    AnswerOutcome::First
                } else {
                    sqlx::query(&s.later_answer)
                        .bind(nid.as_str())
                        .bind(seq)
                        .execute(&mut *tx)
                        .await?;
                    let state: Option<String> = sqlx::query_scalar(&s.state_of)
                        .bind(nid.as_str())
                        .bind(seq)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if state.as_deref() == Some(ResponseState::NoResponse.as_str()) {
                        AnswerOutcome::Late
                    } else {
                        AnswerOutcome::Later
                    }
                };
                tx.commit().await?;
                Ok(outcome)
            }

            async fn expire_responses(&self, now: u64) -> Result<u64> {
                let s = self.sql();
                let mut tx = self.pool.begin().await?;
                let rows = sqlx::query(&s.expire)
                    .bind(db(now))
                    .fetch_all(&mut *tx)
                    .await?;
                for row in &rows {
                    let nid: String = row.try_get("notification_id")?;
                    let seq: i64 = row.try_get("seq")?;
                    sqlx::query(&s.callback_for)
                        .bind(&nid)
                        .bind(seq)
                        .bind(CallbackEvent::NoResponse.as_str())
                        .bind(db(now))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(rows.len() as u64)
            }

            async fn list_responses(
                &self,
                id: &NotificationId,
                after_seq: i64,
                limit: u32,
            ) -> Result<Vec<Response>> {
                let rows = sqlx::query(&self.sql().list)
                    .bind(id.as_str())
                    .bind(after_seq)
                    .bind(i64::from(limit.clamp(1, 10_000)))
                    .fetch_all(self.readers())
                    .await?;
                rows.iter().map(Self::response).collect()
            }

            async fn get_response(
                &self,
                id: &NotificationId,
                seq: i64,
            ) -> Result<Option<Response>> {
                let row = sqlx::query(&self.sql().get)
                    .bind(id.as_str())
                    .bind(seq)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::response).transpose()
            }

            async fn response_tally(&self, id: &NotificationId) -> Result<Tally> {
                let s = self.sql();
                let mut t = Tally::default();
                for row in sqlx::query(&s.tally_states)
                    .bind(id.as_str())
                    .fetch_all(self.readers())
                    .await?
                {
                    let state: String = row.try_get("state")?;
                    let n = ms(row.try_get("n")?);
                    match ResponseState::parse(&state) {
                        Some(ResponseState::Waiting) => t.waiting += n,
                        Some(ResponseState::Answered) => t.answered += n,
                        Some(ResponseState::NoResponse) => t.no_response += n,
                        None => {
                            return Err(StoreError::Corrupt(format!("response state `{state}`")))
                        }
                    }
                }
                for row in sqlx::query(&s.tally_actions)
                    .bind(id.as_str())
                    .fetch_all(self.readers())
                    .await?
                {
                    t.by_action
                        .push((row.try_get("title")?, ms(row.try_get("n")?)));
                }
                Ok(t)
            }

            async fn stale_updates(&self, older_than: u64, limit: u32) -> Result<Vec<Response>> {
                let rows = sqlx::query(&self.sql().stale_updates)
                    .bind(db(older_than))
                    .bind(i64::from(limit.clamp(1, 10_000)))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::response).collect()
            }

            async fn set_update_states(
                &self,
                items: &[(NotificationId, i64, UpdateState)],
                now: u64,
            ) -> Result<()> {
                let mut tx = self.pool.begin().await?;
                for (id, seq, state) in items {
                    sqlx::query(&self.sql().set_update)
                        .bind(id.as_str())
                        .bind(*seq)
                        .bind(state.as_str())
                        .bind(db(now))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn claim_callbacks(
                &self,
                now: u64,
                lease_ms: u64,
                limit: u32,
            ) -> Result<Vec<Callback>> {
                let rows = sqlx::query(&self.sql().claim_callbacks)
                    .bind(db(now))
                    .bind(db(now + lease_ms))
                    .bind(i64::from(limit.clamp(1, 1_000)))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|row| {
                        let event: String = row.try_get("event")?;
                        Ok(Callback {
                            id: row.try_get("id")?,
                            notification_id: id(row, "notification_id")?,
                            seq: row.try_get("seq")?,
                            url: row.try_get("url")?,
                            event: CallbackEvent::parse(&event).ok_or_else(|| {
                                StoreError::Corrupt(format!("callback event `{event}`"))
                            })?,
                            attempts: ms(row.try_get("attempts")?) as u32,
                            detail: row.try_get("detail")?,
                        })
                    })
                    .collect()
            }

            async fn finish_callback(&self, id: i64, r: &CallbackResult, _now: u64) -> Result<()> {
                let s = self.sql();
                let q = match r {
                    CallbackResult::Delivered => sqlx::query(&s.callback_done).bind(id),
                    CallbackResult::Retry { next_at, error } => sqlx::query(&s.callback_retry)
                        .bind(id)
                        .bind(db(*next_at))
                        .bind(error.clone()),
                    CallbackResult::Failed { error } => {
                        sqlx::query(&s.callback_failed).bind(id).bind(error.clone())
                    }
                };
                q.execute(&self.pool).await?;
                Ok(())
            }

            async fn callback_counts(&self) -> Result<(u64, u64, u64)> {
                let mut c = (0, 0, 0);
                for row in sqlx::query(&self.sql().callback_counts)
                    .fetch_all(&self.pool)
                    .await?
                {
                    let state: String = row.try_get("state")?;
                    let n = ms(row.try_get("n")?);
                    match state.as_str() {
                        "delivered" => c.1 += n,
                        "failed" => c.2 += n,
                        _ => c.0 += n,
                    }
                }
                Ok(c)
            }
        }
    };
}

impl_responses!(SqliteStore, false);
impl_responses!(PgStore, true);
