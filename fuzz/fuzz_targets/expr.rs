//! The expression language: any text between `${` and `}`, parsed and evaluated against a
//! fixed recipient on a small budget. It must not panic, overflow the stack, or outrun the
//! budget (libFuzzer's -timeout catches a loop the budget misses).
#![no_main]

use herald_cards::expr::{eval, parse, Budget, Scope};
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use std::sync::LazyLock;

static DATA: LazyLock<serde_json::Value> = LazyLock::new(|| {
    json!({
        "givenName": "Ada", "n": 7, "f": 2.5, "s": "héllo wörld", "t": true, "z": null,
        "items": [1, "two", {"three": 3}, [4], null],
        "people": [{"name": "Ada", "age": 36}, {"name": "Kim", "age": 29}],
        "nested": {"a": {"b": {"c": "deep"}}},
        "json": "{\"k\": [1, 2, 3]}"
    })
});

fuzz_target!(|src: &str| {
    let Ok(e) = parse(src) else { return };
    let scope = Scope {
        root: &DATA,
        data: &DATA,
        index: Some(1),
    };
    let mut budget = Budget::new(100_000, 1 << 20);
    let _ = eval(&e, &scope, &mut budget);
});
