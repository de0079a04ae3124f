//! Card templates: `{"template": …, "data": …}` (the shape of tests/cards/templating/*.json) is
//! compiled, tried without data (as at accept time) and expanded with the data (as at send time).
#![no_main]

use herald_cards::template::{Limits, Template};
use libfuzzer_sys::fuzz_target;

/// Smaller than the production budget, so that a slow input shows as a timeout sooner.
const LIMITS: Limits = Limits {
    steps: 200_000,
    scratch_bytes: 1 << 20,
    card_bytes: 28 * 1024,
};

fuzz_target!(|bytes: &[u8]| {
    let Ok(case) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return;
    };
    let template = case.get("template").unwrap_or(&case);
    let Ok(t) = Template::compile(template) else {
        return;
    };
    let empty = serde_json::Value::Object(Default::default());
    let _ = t.expand_with(&empty, LIMITS, true);
    let data = case.get("data").unwrap_or(&empty);
    if let Ok(card) = t.expand_with(data, LIMITS, false) {
        let _ = herald_cards::validate(&card, herald_cards::Mode::Card);
    }
});
