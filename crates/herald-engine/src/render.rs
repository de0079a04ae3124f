//! A recipient's card: the template bound to their data, checked again as a card, and each
//! answer button marked so that an answer says which button it was.

use crate::request::NotificationRequest;
use herald_cards::template::{ErrorKind, Template};
use herald_cards::{validate, Mode, Rule};
use herald_store::Delivery;
use serde_json::{Map, Value};

/// The key Herald adds to every Action.Submit / Action.Execute's `data` when it waits for answers:
/// Teams sends the data back with the inputs, and a Submit says nothing else about its button.
pub const ANSWER_MARKER: &str = "heraldAction";

/// Why a recipient's card cannot be sent.
#[derive(Debug)]
pub enum RenderError {
    /// The delivery fails with `template_error`: a missing value, a failed expression, the
    /// templating budget spent, or a card that is not valid once bound.
    Template(String),
    /// The delivery fails with `message_too_big`: the bound card is over Teams' size.
    TooBig(String),
}

/// `$root` for one recipient: the built-in fields, then the CSV's columns, then `message.data`'s
/// entry for them (later ones win).
/// `given`: the directory's given name, when known; else the display name's first word.
pub fn recipient_data(req: &NotificationRequest, d: &Delivery, given: Option<&str>) -> Value {
    let mut root = Map::new();
    let display = d.display_name.clone().unwrap_or_default();
    let given = given
        .map(str::to_owned)
        .unwrap_or_else(|| display.split_whitespace().next().unwrap_or("").to_owned());
    root.insert("displayName".into(), Value::String(display));
    root.insert("givenName".into(), Value::String(given));
    root.insert(
        "upn".into(),
        Value::String(d.upn.as_deref().unwrap_or_default().to_owned()),
    );
    root.insert(
        "aadObjectId".into(),
        Value::String(d.aad_object_id.as_deref().unwrap_or_default().to_owned()),
    );
    root.insert("recipient".into(), Value::String(d.recipient.clone()));
    if let Some(cols) = &d.data {
        root.extend(cols.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    if let Some(Value::Object(by_recipient)) = &req.message.data {
        let keys = [
            Some(d.recipient.as_str()),
            d.upn.as_deref(),
            d.aad_object_id.as_deref(),
        ];
        let entry = keys.iter().flatten().find_map(|k| {
            by_recipient
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(k))
                .map(|(_, v)| v)
        });
        if let Some(Value::Object(extra)) = entry {
            root.extend(extra.clone());
        }
    }
    Value::Object(root)
}

/// The card to send to `d`, or why there is none.
pub fn card_for(
    req: &NotificationRequest,
    template: &Template,
    d: &Delivery,
    given: Option<&str>,
) -> Result<Value, RenderError> {
    let mut card = if template.is_dynamic() {
        template
            .expand(&recipient_data(req, d, given))
            .map_err(|e| match e.kind {
                ErrorKind::TooBig => RenderError::TooBig(e.to_string()),
                ErrorKind::Invalid | ErrorKind::Budget => RenderError::Template(e.to_string()),
            })?
    } else {
        req.message.card.clone().unwrap_or(Value::Null)
    };
    if template.is_dynamic() {
        validate(&card, Mode::Card).map_err(|e| match e.rule {
            Rule::Size => RenderError::TooBig(e.to_string()),
            _ => RenderError::Template(format!(
                "the card bound for this recipient is not valid: {e}"
            )),
        })?;
    }
    if req.options.wait_for_response.is_some() {
        mark_answers(&mut card);
    }
    Ok(card)
}

/// Adds `heraldAction: <title, else id, else verb>` to each answer button's object data.
pub fn mark_answers(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if herald_cards::validate::is_answer_action(o) {
                let label = herald_cards::validate::answer_label(o)
                    .unwrap_or("")
                    .to_owned();
                match o.get_mut("data") {
                    None | Some(Value::Null) => {
                        let mut d = Map::new();
                        d.insert(ANSWER_MARKER.into(), Value::String(label));
                        o.insert("data".into(), Value::Object(d));
                    }
                    Some(Value::Object(d)) => {
                        d.insert(ANSWER_MARKER.into(), Value::String(label));
                    }
                    // Text data comes back as it is; the button is found by it.
                    Some(_) => {}
                }
            }
            for x in o.values_mut() {
                mark_answers(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(mark_answers),
        _ => {}
    }
}
