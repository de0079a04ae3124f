//! The welcome message, exactly once per user. Install events only queue it in the store; this
//! worker claims due welcomes with a lease and sends them through the same connector, throttle
//! and retries as every other send. A crash leaves the lease to expire and the welcome to be
//! taken again; repeated or concurrent install events find it already queued or sent.

use crate::worker::{self, Round};
use crate::Engine;
use herald_store::{StoredReference, WelcomeOutcome};

use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};

/// How long a claimed welcome is ours before another worker may take it.
const LEASE_MS: u64 = 120_000;
/// How often to look for due welcomes without being told.
const POLL: Duration = Duration::from_secs(2);
/// After a failure that is Herald's configuration or Teams' service, try again this much later.
const RETRY_LATER_MS: u64 = 60_000;

pub async fn run(engine: Arc<Engine>, stop: watch::Receiver<bool>) {
    let in_flight = Arc::new(Semaphore::new(engine.cfg.max_in_flight as usize));
    worker::run(stop, Some(&engine.welcome_due), POLL, || {
        round(&engine, &in_flight)
    })
    .await;
    // Let in-flight welcomes finish (bounded) so their outcome is recorded.
    let all = engine.cfg.max_in_flight;
    let _ = tokio::time::timeout(Duration::from_secs(10), in_flight.acquire_many(all)).await;
}

/// Claims as many due welcomes as can be sent now and starts them.
async fn round(engine: &Arc<Engine>, in_flight: &Arc<Semaphore>) -> Round {
    let now = engine.clock.now_ms();
    let free = in_flight.available_permits().max(1) as u32;
    let claimed = match engine
        .store
        .claim_welcomes(now, LEASE_MS, free.min(256))
        .await
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot claim welcomes; retrying");
            return Round::Idle;
        }
    };
    if claimed.is_empty() {
        return Round::Idle;
    }
    for r in claimed {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
        let engine = engine.clone();
        tokio::spawn(async move {
            send(&engine, &r).await;
            drop(permit);
        });
    }
    Round::Busy
}

/// The welcome activity for one user: the configured card, else the text with `{user}` and
/// `{bot}` filled in.
fn activity(engine: &Arc<Engine>, r: &StoredReference) -> Value {
    if let Some(c) = &engine.cfg.welcome_card {
        return herald_wire::activity::card_message(c.clone());
    }
    let first = r
        .reference
        .user_name
        .as_deref()
        .and_then(|n| n.split_whitespace().next())
        .unwrap_or("there");
    let bot = r
        .reference
        .bot_name
        .as_deref()
        .unwrap_or("your notification bot");
    let text = welcome_text(&engine.cfg, r.reference.locale.as_deref())
        .replace("{user}", first)
        .replace("{bot}", bot);
    herald_wire::activity::text_message(&text)
}

/// The welcome in the person's language: the `[manifest.localization]` entry whose tag is their
/// locale (`fr-FR` ~ `fr-fr`), else one of the same language (`fr-ca` for `fr-FR`, the first by
/// tag), else `welcome_text`.
fn welcome_text<'a>(cfg: &'a crate::Config, locale: Option<&str>) -> &'a str {
    let Some(locale) = locale.filter(|l| !l.is_empty()) else {
        return &cfg.welcome_text;
    };
    let language = |tag: &str| tag.split('-').next().unwrap_or("").to_ascii_lowercase();
    let texts = || {
        cfg.manifest
            .localization
            .iter()
            .filter_map(|(tag, l)| l.welcome_text.as_deref().map(|t| (tag, t)))
    };
    texts()
        .find(|(tag, _)| tag.eq_ignore_ascii_case(locale))
        .or_else(|| texts().find(|(tag, _)| language(tag) == language(locale)))
        .map_or(cfg.welcome_text.as_str(), |(_, t)| t)
}

async fn send(engine: &Arc<Engine>, r: &StoredReference) {
    let re = &r.reference;
    let Some(conv) = re.conversation_id.as_deref() else {
        return;
    };
    let sent = engine
        .connector
        .send(&re.service_url, conv, &activity(engine, r))
        .await;
    let now = engine.clock.now_ms();
    let outcome = match sent.result {
        Ok(activity_id) => {
            tracing::debug!(tenant = %re.tenant_id, attempts = sent.attempts, "welcome sent");
            WelcomeOutcome::Sent { activity_id }
        }
        Err(e) => {
            if let Some(reason) = e.unreachable_reason() {
                // They never got it: it stays due for when they install again.
                if let Err(se) = engine
                    .store
                    .mark_unreachable(&re.tenant_id, &re.aad_object_id, reason.as_str(), now)
                    .await
                {
                    tracing::warn!(error = %se, "cannot mark a reference unreachable");
                }
                WelcomeOutcome::Retry { not_before: now }
            } else {
                use herald_connector::ErrorKind::*;
                match e.kind {
                    // They deleted the chat before the welcome came: it is moot.
                    ConversationNotFound => WelcomeOutcome::Failed {
                        reason: "the user deleted the chat before the welcome was sent".into(),
                    },
                    BadRequest | TooBig => {
                        tracing::error!(error = %e, "the welcome message is refused by Teams; fix welcome_text / welcome_card");
                        WelcomeOutcome::Failed {
                            reason: e.to_string(),
                        }
                    }
                    _ => {
                        tracing::warn!(error = %e, attempts = sent.attempts, "welcome not sent; will retry");
                        WelcomeOutcome::Retry {
                            not_before: now + RETRY_LATER_MS,
                        }
                    }
                }
            }
        }
    };
    if let Err(e) = engine
        .store
        .finish_welcome(&re.tenant_id, &re.aad_object_id, &outcome, now)
        .await
    {
        tracing::warn!(error = %e, "cannot record a welcome's outcome; its lease will expire and it may be sent again");
    }
}

#[cfg(test)]
mod tests {
    use super::welcome_text;
    use crate::config::{Config, Localized};

    #[test]
    fn the_welcome_is_in_the_persons_language_when_there_is_one() {
        let env = |k: &str| match k {
            "HERALD_WELCOME_TEXT" => Some("Hi {user}".to_owned()),
            _ => None,
        };
        let mut cfg = Config::load(None, &env, false).unwrap();
        let fr = |t: &str| Localized {
            welcome_text: Some(t.to_owned()),
            ..Localized::default()
        };
        cfg.manifest
            .localization
            .insert("fr-ca".into(), fr("Allô {user}"));
        cfg.manifest
            .localization
            .insert("fr-fr".into(), fr("Bonjour {user}"));
        cfg.manifest
            .localization
            .insert("de-de".into(), Localized::default());
        assert_eq!(welcome_text(&cfg, Some("fr-FR")), "Bonjour {user}");
        assert_eq!(welcome_text(&cfg, Some("FR-CA")), "Allô {user}");
        // The language alone: the first of its tags.
        assert_eq!(welcome_text(&cfg, Some("fr-BE")), "Allô {user}");
        // A language with no welcome of its own, or none known: the default.
        assert_eq!(welcome_text(&cfg, Some("de-DE")), "Hi {user}");
        assert_eq!(welcome_text(&cfg, Some("en-US")), "Hi {user}");
        assert_eq!(welcome_text(&cfg, None), "Hi {user}");
    }
}
