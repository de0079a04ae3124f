//! The delivery report as CSV (`Accept: text/csv` on `GET /v1/notifications/{id}/deliveries`):
//! the columns of a delivery row, in a fixed order, with cells a spreadsheet would run as
//! formulas written as text.

use crate::dto::DeliveryRow;

/// The header line; columns added later go at the end.
pub const CSV_HEADER: &str = "recipient,statusCode,succeeded,outcome,reason,attempts,activityId,conversationId,detail,possibleDuplicate,readAt\n";

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
        ]);
    }
    w.into_inner().unwrap_or_default()
}
