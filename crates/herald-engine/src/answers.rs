//! Answers to cards that wait for a response: `Action.Submit` (a message with `value` and
//! `replyToId`) and `Action.Execute` (an `adaptiveCard/action` invoke, answered in the HTTP
//! response). An answer counts only from the user the card was sent to, in that conversation;
//! the first counts, later ones are history, a replay (the same activity again) changes nothing.
//! After the first answer the card is replaced by the update message.

use crate::render::ANSWER_MARKER;
use crate::request::WaitForResponse;
use crate::{BotReply, Engine, EngineError};
use herald_store::{Answer, AnswerOutcome, Response, ResponseState, UpdateState};
use herald_wire::activity::{kinds, Activity, INVOKE_ADAPTIVE_CARD_ACTION};
use herald_wire::card;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// How long a pending card update may wait before the sweeper takes it again (a crash between the
/// answer and the update).
pub const STALE_UPDATE_MS: u64 = 60_000;

/// Is this activity an answer to a card (Submit or Execute)?
pub fn is_answer(a: &Activity) -> bool {
    let card_reply = a.reply_to_id.as_deref().is_some_and(|r| !r.is_empty());
    match a.kind.as_str() {
        kinds::MESSAGE => {
            card_reply && a.value.is_some() && a.text.as_deref().unwrap_or("").trim().is_empty()
        }
        kinds::INVOKE => a.name.as_deref() == Some(INVOKE_ADAPTIVE_CARD_ACTION),
        _ => false,
    }
}

fn invoke_error(code: u16, message: &str) -> BotReply {
    BotReply::Invoke(json!({
        "statusCode": code,
        "type": "application/vnd.microsoft.error",
        "value": {"code": if code == 403 { "Forbidden" } else { "BadRequest" }, "message": message},
    }))
}

fn refused(a: &Activity, why: &str) -> BotReply {
    if a.kind == kinds::INVOKE {
        invoke_error(403, why)
    } else {
        BotReply::Refused(why.to_owned())
    }
}

/// The update message as the activity that replaces the card.
fn update_activity(update: &Value) -> Value {
    match update {
        Value::String(text) => herald_wire::activity::text_message(text),
        card_json => herald_wire::activity::card_message(card_json.clone()),
    }
}

/// The update message as a card (what an Execute answer returns to Teams).
fn update_card(update: &Value) -> Value {
    match update {
        Value::String(text) => json!({
            "type": "AdaptiveCard", "version": "1.5",
            "body": [{"type": "TextBlock", "text": text, "wrap": true}]
        }),
        card_json => card_json.clone(),
    }
}

/// Splits what Teams sent back into the button (title, id, verb) and the inputs.
fn parse_answer(
    a: &Activity,
    template: Option<&Value>,
) -> (
    Option<String>,
    Option<String>,
    Option<String>,
    Map<String, Value>,
) {
    let (data, mut title, id, verb) = if a.kind == kinds::INVOKE {
        let action = a
            .value
            .as_ref()
            .map(|v| v["action"].clone())
            .unwrap_or(Value::Null);
        let s = |k: &str| action[k].as_str().map(str::to_owned);
        (action["data"].clone(), s("title"), s("id"), s("verb"))
    } else {
        (a.value.clone().unwrap_or(Value::Null), None, None, None)
    };
    let mut inputs = match data {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => {
            let mut m = Map::new();
            m.insert("data".into(), other);
            m
        }
    };
    if let Some(Value::String(marker)) = inputs.remove(ANSWER_MARKER) {
        title = title.or(Some(marker));
    }
    // The button's own data is not an input: drop the keys its template gave it.
    let actions = template
        .map(herald_cards::validate::answer_action_data)
        .unwrap_or_default();
    if let Some((_, Value::Object(d))) = actions.iter().find(|(t, _)| t.is_some() && *t == title) {
        for (k, v) in d {
            if inputs.get(k) == Some(v) {
                inputs.remove(k);
            }
        }
    }
    (title, id, verb, inputs)
}

/// Handles an answer; the HTTP response is what Teams gets back.
pub async fn handle(engine: &Arc<Engine>, a: &Activity) -> Result<BotReply, EngineError> {
    let now = engine.clock.now_ms();
    let Some(card_id) = a.reply_to_id.clone().filter(|r| !r.is_empty()) else {
        return Ok(invoke_error(
            400,
            "an answer names the card it answers (replyToId)",
        ));
    };
    let conv = a.conversation.as_ref().map(|c| c.id.as_str()).unwrap_or("");
    let from = a
        .from
        .as_ref()
        .and_then(|f| f.aad_object_id.clone())
        .unwrap_or_default();
    let rows = engine.store.responses_for_activity(&card_id).await?;
    if rows.is_empty() {
        // Not a card Herald waits on: an ordinary card action.
        return Ok(match a.kind.as_str() {
            kinds::INVOKE => BotReply::Invoke(json!({
                "statusCode": 200,
                "type": card::INVOKE_RESPONSE_MESSAGE,
                "value": "Thanks, your response was received.",
            })),
            _ => BotReply::Accepted,
        });
    }
    // Teams may suffix the conversation id (`;messageid=…`) on replies.
    let base_conv = conv.split(';').next().unwrap_or(conv);
    let Some(row) = rows
        .into_iter()
        .find(|r| r.conversation_id == base_conv || r.conversation_id == conv)
    else {
        tracing::warn!(card = %card_id, "refused an answer from another conversation than the card's");
        engine
            .metrics
            .answers_refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Ok(refused(a, "this card was not sent to this conversation"));
    };
    let owner = row.aad_object_id.as_deref().unwrap_or("");
    if from.is_empty() || !owner.eq_ignore_ascii_case(&from) {
        tracing::warn!(
            notification = %row.notification_id,
            card = %card_id,
            "refused an answer from a user the card was not sent to"
        );
        engine
            .metrics
            .answers_refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Ok(refused(a, "this card was sent to someone else"));
    }
    let Some(req) = engine.stored_request(&row.notification_id).await else {
        return Err(EngineError::Internal(format!(
            "an answered card's notification `{}` cannot be read",
            row.notification_id
        )));
    };
    let wait = req.wait();
    let (title, id, verb, inputs) = parse_answer(a, req.request.message.card.as_ref());
    let execute = a.kind == kinds::INVOKE;
    let answer = Answer {
        inbound_id: a.id.clone().unwrap_or_else(|| format!("{card_id}:{now}")),
        action_title: title,
        action_id: id,
        verb,
        inputs: Value::Object(inputs).to_string(),
        at: now,
        // An Execute's card is replaced by the HTTP response itself.
        wants_update: wait.update_message.is_some() && !execute,
    };
    let outcome = engine
        .store
        .record_answer(&row.notification_id, row.seq, &answer)
        .await?;
    tracing::debug!(
        notification = %row.notification_id,
        seq = row.seq,
        outcome = ?outcome,
        "answer recorded"
    );
    engine.answered(outcome);
    if outcome == AnswerOutcome::First && answer.wants_update {
        let (engine, row, service_url, wait) = (
            engine.clone(),
            row.clone(),
            a.service_url.clone(),
            wait.clone(),
        );
        tokio::spawn(async move { apply_update(&engine, &row, &wait, service_url).await });
    }
    if execute {
        return Ok(execute_reply(&wait, outcome, &row));
    }
    Ok(BotReply::Accepted)
}

/// What an Execute gets back: the update card (again on a replay), or a short message.
fn execute_reply(wait: &WaitForResponse, outcome: AnswerOutcome, row: &Response) -> BotReply {
    let text = match outcome {
        AnswerOutcome::Late => "This request is closed; your answer was not counted.",
        AnswerOutcome::Later if row.state == ResponseState::Answered => {
            "You have already answered; your first answer counts."
        }
        _ => "Thanks, your response was recorded.",
    };
    match (&wait.update_message, outcome) {
        (Some(update), AnswerOutcome::First | AnswerOutcome::Replay) => BotReply::Invoke(json!({
            "statusCode": 200,
            "type": card::INVOKE_RESPONSE_CARD,
            "value": update_card(update),
        })),
        _ => BotReply::Invoke(
            json!({"statusCode": 200, "type": card::INVOKE_RESPONSE_MESSAGE, "value": text}),
        ),
    }
}

/// Replaces an answered card with the update message (UpdateActivity), and records it.
pub async fn apply_update(
    engine: &Arc<Engine>,
    row: &Response,
    wait: &WaitForResponse,
    service_url: Option<String>,
) {
    let Some(update) = &wait.update_message else {
        return;
    };
    let service_url = match service_url {
        Some(s) => s,
        None => {
            let tenant = &engine.tenant;
            let found = match &row.aad_object_id {
                Some(aad) => engine.store.get_reference(tenant, aad).await,
                None => Ok(None),
            };
            match found {
                Ok(Some(r)) => r.reference.service_url,
                _ => engine.cfg.service_url.clone(),
            }
        }
    };
    let sent = engine
        .connector
        .update_activity(
            &service_url,
            &row.conversation_id,
            &row.activity_id,
            &update_activity(update),
        )
        .await;
    let state = match &sent.result {
        Ok(()) => UpdateState::Done,
        Err(e)
            if e.unreachable_reason().is_some()
                || e.status == Some(404)
                || e.status == Some(400) =>
        {
            tracing::warn!(notification = %row.notification_id, error = %e, "the answered card cannot be updated");
            UpdateState::Failed
        }
        Err(e) => {
            // Left pending: the sweeper tries again.
            tracing::warn!(notification = %row.notification_id, error = %e, "card update failed; it will be retried");
            return;
        }
    };
    // Recorded in batches (see `responses::run`); a crash before that only repeats the update.
    engine
        .updates_done
        .lock()
        .push((row.notification_id.clone(), row.seq, state));
}

/// Re-drives card updates left pending (a crash, or Teams failing for a while).
pub async fn retry_stale_updates(engine: &Arc<Engine>) {
    let now = engine.clock.now_ms();
    let Ok(rows) = engine
        .store
        .stale_updates(now.saturating_sub(STALE_UPDATE_MS), 200)
        .await
    else {
        return;
    };
    for row in rows {
        let Some(req) = engine.stored_request(&row.notification_id).await else {
            continue;
        };
        let wait = req.wait();
        // Touch it first so that a slow update is not started twice.
        let _ = engine
            .store
            .set_update_state(&row.notification_id, row.seq, UpdateState::Pending, now)
            .await;
        apply_update(engine, &row, &wait, None).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
