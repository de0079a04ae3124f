//! What `/api/messages` parses before anything else: an activity, from bytes. A parsed activity
//! must serialize again, and parse to the same value. Its text is then read as the bot reads a
//! person's message (`stop CATEGORY`, `start all`, …).
#![no_main]

use herald_wire::activity::Activity;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(a) = serde_json::from_slice::<Activity>(bytes) else {
        return;
    };
    let again = serde_json::to_vec(&a).expect("a parsed activity serializes");
    let b: Activity = serde_json::from_slice(&again).expect("and parses again");
    assert_eq!(a.kind, b.kind);
    assert_eq!(a.conversation.map(|c| c.id), b.conversation.map(|c| c.id));
    if let Some(text) = a.text.as_deref() {
        let _ = herald_core::category::Command::parse(text);
    }
});
