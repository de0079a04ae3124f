//! The card validator, in both modes, on any JSON.
#![no_main]

use herald_cards::{validate, Mode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(card) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return;
    };
    let _ = validate(&card, Mode::Card);
    let _ = validate(&card, Mode::Template);
    let _ = herald_cards::validate::answer_action_data(&card);
    let _ = herald_cards::validate::input_ids(&card);
});
