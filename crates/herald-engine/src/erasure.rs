//! Forgetting. `purge`: with `retention_days`, notifications that finished longer ago go, rows,
//! answers and counts with them, a few thousand rows a step so the writer is never held long.
//!
//! Erasing a person for a data-protection request (`DELETE /v1/users/{user}`): the store forgets
//! their reference, opt-outs, sign-in and answers, cancels what was not sent to them yet and
//! strips their name from every delivery row; here, the stored requests that name them (inline,
//! in per-recipient data, in a CSV audience) are rewritten without them.

use crate::recipients;
use crate::resolve::Cursor;
use crate::worker::{self, Round};
use crate::{Engine, StoredRequest};
use herald_core::ids::UserRef;
use herald_store::{Erased, Notification, Person, Purged, StoreError};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Why a person could not be erased.
#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    #[error("the directory did not answer: {0}")]
    DirectoryDown(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Delivery rows removed per purge step: a step holds SQLite's one writer for milliseconds.
const PURGE_STEP_ROWS: u32 = 5_000;

/// The retention worker: each minute (at once again while there is more), removes what finished
/// before `retention_days` ago.
pub(crate) async fn purge(engine: Arc<Engine>, stop: watch::Receiver<bool>) {
    let Some(days) = engine.cfg.retention_days else {
        return;
    };
    worker::run(stop, None, Duration::from_secs(60), || async {
        let before = engine.clock.now_ms().saturating_sub(days * 86_400_000);
        match engine.store.purge_finished(before, PURGE_STEP_ROWS).await {
            Ok(p) if p == Purged::default() => Round::Idle,
            Ok(p) => {
                if p.notifications > 0 {
                    tracing::info!(
                        retention_days = days,
                        "a notification past its retention was purged"
                    );
                }
                Round::Busy
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot purge old notifications");
                Round::Idle
            }
        }
    })
    .await
}

/// Erases the person `input` names (a UPN, an AAD object id or a Teams user id). Someone the
/// directory no longer knows is still erased by the name given.
pub async fn erase(engine: &Engine, input: &str, who: &UserRef) -> Result<Erased, EraseError> {
    let input = input.trim();
    let found = recipients::resolve(engine, input, who)
        .await
        .map_err(|e| EraseError::DirectoryDown(e.to_string()))?;
    let mut names = vec![input.to_lowercase()];
    let mut aad = match who {
        UserRef::AadObjectId(a) => Some(a.clone()),
        _ => None,
    };
    if let Some(r) = found {
        names.extend(r.upn.map(|u| u.as_str().to_lowercase()));
        aad = r.aad_object_id.or(aad);
    }
    names.sort();
    names.dedup();
    let person = Person {
        tenant_id: engine.tenant.clone(),
        aad_object_id: aad.clone(),
        names: names.clone(),
    };
    let now = engine.clock.now_ms();
    let mut erased = engine.store.erase_person(&person, now).await?;
    let mut needles = names;
    needles.extend(aad.as_ref().map(|a| a.to_ascii_lowercase()));
    for n in engine.store.requests_mentioning(&needles).await? {
        if let Some(text) = rewrite(&n, &needles) {
            engine.store.replace_request(&n.id, &text).await?;
            erased.notifications += 1;
        }
    }
    // An edit's per-recipient data may name them too.
    let named = |s: &str| needles.iter().any(|n| n == &s.trim().to_lowercase());
    for (id, version, text) in engine.store.edits_mentioning(&needles).await? {
        let Ok(mut message) = serde_json::from_str::<crate::request::Message>(&text) else {
            continue;
        };
        if without_data_of(&mut message.data, &named) {
            if let Ok(t) = serde_json::to_string(&message) {
                engine.store.replace_edit_message(&id, version, &t).await?;
            }
        }
    }
    // A notification whose last rows were this person's is finished now.
    for id in &erased.touched {
        engine.store.complete_if_done(id, now).await?;
    }
    engine.forget_requests();
    tracing::info!(
        deliveries = erased.deliveries,
        notifications = erased.notifications,
        "a person was erased"
    );
    Ok(erased)
}

/// The stored request without the person (`None`: it did not name them after all, or cannot
/// be read).
fn rewrite(n: &Notification, needles: &[String]) -> Option<String> {
    let mut r = StoredRequest::from_stored(&n.request).ok()?;
    let named = |s: &str| needles.iter().any(|n| n == &s.trim().to_lowercase());
    let mut changed = false;
    let to = &mut r.request.to;
    let before = to.users.len();
    to.users.retain(|u| !named(u));
    changed |= to.users.len() != before;
    let before = r.users.len();
    r.users.retain(|u| {
        !(named(&u.input)
            || u.upn.as_ref().is_some_and(|x| named(x.as_str()))
            || u.aad_object_id.as_ref().is_some_and(|a| named(a.as_str())))
    });
    changed |= r.users.len() != before;
    changed |= without_data_of(&mut r.request.message.data, &named);
    if let Some(csv) = &r.request.to.csv {
        let read = if n.resolved {
            u64::MAX
        } else {
            Cursor::csv_rows_read(n.resolve_cursor.as_deref())
        };
        if let Some(text) = without_rows(csv, &named, read) {
            r.request.to.csv = Some(text);
            changed = true;
        }
    }
    changed.then(|| r.to_stored())
}

/// Per-recipient template data without the person's entry; true if it had one.
fn without_data_of(data: &mut Option<Value>, named: &dyn Fn(&str) -> bool) -> bool {
    let Some(Value::Object(data)) = data else {
        return false;
    };
    let before = data.len();
    data.retain(|k, _| !named(k));
    data.len() != before
}

/// A CSV audience without the rows whose first cell names the person. Rows a resolver has
/// already read (`read` of them, counted after the header) keep their place, as `erased` with
/// empty cells (a row has as many fields as the header), so a resolver that resumes counts the
/// same rows; the others are removed. `None`: none named them.
fn without_rows(csv: &str, named: &dyn Fn(&str) -> bool, read: u64) -> Option<String> {
    let mut out = String::with_capacity(csv.len());
    let mut changed = false;
    let header = csv.lines().next().unwrap_or("");
    let placeholder = format!("erased{}", ",".repeat(header.matches(',').count()));
    for (i, line) in csv.split_inclusive('\n').enumerate() {
        let first = line
            .split(',')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"');
        if i == 0 || !named(first) {
            out.push_str(line);
            continue;
        }
        changed = true;
        if (i as u64) <= read {
            out.push_str(&placeholder);
            if line.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_loses_the_persons_rows_but_read_rows_keep_their_place() {
        let csv = "upn,team\nada@x.example,red\nbob@x.example,blue\n\"ADA@x.example\",green\n";
        let named = |s: &str| s.eq_ignore_ascii_case("ada@x.example");
        assert_eq!(
            without_rows(csv, &named, 0).unwrap(),
            "upn,team\nbob@x.example,blue\n"
        );
        // The first row was read already: it stays a row, without the name.
        assert_eq!(
            without_rows(csv, &named, 1).unwrap(),
            "upn,team\nerased,\nbob@x.example,blue\n"
        );
        assert_eq!(without_rows("upn\nbob@x.example", &named, 0), None);
    }
}
