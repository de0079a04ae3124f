//! The delivery report: each row as the API shows it (with the reactions on its message), and as
//! CSV (`Accept: text/csv` on `GET /v1/notifications/{id}/deliveries`): the columns of a delivery
//! row, in a fixed order, with cells a spreadsheet would run as formulas written as text.

use crate::dto::DeliveryRow;
use herald_store::{Delivery, Outcome};

/// A page of rows as the report shows them, with the reactions on each row's message.
pub(crate) async fn report_rows(
    store: &dyn herald_store::Store,
    rows: &[Delivery],
) -> Result<Vec<DeliveryRow>, herald_store::StoreError> {
    let mut out: Vec<DeliveryRow> = rows.iter().map(delivery_row).collect();
    let messages: Vec<(String, String)> = rows
        .iter()
        .filter_map(|d| {
            Some((
                d.conversation_id.as_ref()?.to_string(),
                d.activity_id.clone()?,
            ))
        })
        .collect();
    if messages.is_empty() {
        return Ok(out);
    }
    let mut on: std::collections::HashMap<
        (String, String),
        std::collections::BTreeMap<String, u64>,
    > = std::collections::HashMap::new();
    for r in store.reactions_on(&messages).await? {
        on.entry((r.conversation_id, r.activity_id))
            .or_default()
            .insert(r.kind, r.n);
    }
    for (row, d) in out.iter_mut().zip(rows) {
        if let (Some(c), Some(a)) = (&d.conversation_id, &d.activity_id) {
            if let Some(r) = on.remove(&(c.to_string(), a.clone())) {
                row.reactions = r;
            }
        }
    }
    Ok(out)
}

pub(crate) fn delivery_row(d: &Delivery) -> DeliveryRow {
    let (outcome, code, reason) = match &d.result {
        Some(r) => (
            r.outcome.as_str(),
            r.status_code,
            r.reason.map(|r| r.as_str().to_owned()),
        ),
        None => ("pending", None, None),
    };
    DeliveryRow {
        recipient: d.recipient.clone(),
        status_code: code,
        succeeded: code == Some(200)
            && d.result
                .as_ref()
                .is_some_and(|r| r.outcome == Outcome::Delivered),
        outcome: outcome.to_owned(),
        reason,
        attempts: d.attempts,
        activity_id: d.activity_id.clone(),
        conversation_id: d.conversation_id.as_ref().map(ToString::to_string),
        detail: d.detail.clone(),
        possible_duplicate: d.possible_duplicate,
        read_at: d.read_at.map(herald_core::clock::rfc3339_ms),
        reactions: Default::default(),
        reminded_at: d.reminded_at.map(herald_core::clock::rfc3339_ms),
        recalled_at: d.recalled_at.map(herald_core::clock::rfc3339_ms),
        recalled_by: d.recalled_by.clone(),
        edited_at: d.edited_at.map(herald_core::clock::rfc3339_ms),
        edited_by: d.edited_by.clone(),
        due_at: d.due_at.map(herald_core::clock::rfc3339_ms),
        notification_id: None,
    }
}

/// The header line; columns added later go at the end.
pub const CSV_HEADER: &str = "recipient,statusCode,succeeded,outcome,reason,attempts,activityId,conversationId,detail,possibleDuplicate,readAt,reactions,recalledAt,recalledBy,editedAt,editedBy,remindedAt,dueAt\n";

/// A text cell a spreadsheet will not run: one that starts like a formula (`=`, `+`, `-`, `@`, a
/// tab or a carriage return) gets a leading `'`, as OWASP advises for CSV exports. Recipients are
/// named by whoever created the notification, and `detail` quotes expressions and errors.
fn cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

/// The rows as CSV lines, in `CSV_HEADER`'s order.
pub fn csv_rows(rows: &[DeliveryRow]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    for r in rows {
        let opt = |v: &Option<String>| cell(v.as_deref().unwrap_or_default());
        let _ = w.write_record([
            cell(&r.recipient),
            r.status_code.map(|c| c.to_string()).unwrap_or_default(),
            r.succeeded.to_string(),
            cell(&r.outcome),
            opt(&r.reason),
            r.attempts.to_string(),
            opt(&r.activity_id),
            opt(&r.conversation_id),
            opt(&r.detail),
            r.possible_duplicate.to_string(),
            opt(&r.read_at),
            cell(
                &r.reactions
                    .iter()
                    .map(|(k, n)| format!("{k}:{n}"))
                    .collect::<Vec<_>>()
                    .join(";"),
            ),
            opt(&r.recalled_at),
            opt(&r.recalled_by),
            opt(&r.edited_at),
            opt(&r.edited_by),
            opt(&r.reminded_at),
            opt(&r.due_at),
        ]);
    }
    w.into_inner().unwrap_or_default()
}
