//! The activity a recipient gets: text or an Adaptive Card, with the notification label and the
//! alert flag when asked.

use crate::request::NotificationRequest;

use serde_json::{json, Value};

/// `card` is the recipient's own card (templated and marked); `None` for a text message.
pub fn activity(req: &NotificationRequest, bot_name: &str, card: Option<&Value>) -> Value {
    let label = format!("Notification via {bot_name}");
    let mut a = match (&req.message.text, card) {
        (Some(text), _) => {
            let text = if req.options.label_as_notification {
                format!("{label}\n\n{text}")
            } else {
                text.clone()
            };
            herald_wire::activity::text_message(&text)
        }
        (None, Some(c)) => {
            let mut c = c.clone();
            if req.options.label_as_notification {
                let block = json!({"type": "TextBlock", "text": label, "isSubtle": true, "size": "Small", "wrap": true});
                match c.get_mut("body").and_then(Value::as_array_mut) {
                    Some(body) => body.insert(0, block),
                    None => c["body"] = json!([block]),
                }
            }
            herald_wire::activity::card_message(c)
        }
        (None, None) => herald_wire::activity::text_message(""),
    };
    if req.options.alert {
        a["channelData"] = json!({"notification": {"alert": true}});
    }
    a
}
