//! Herald's card validation and templating, checked against Microsoft's own npm packages
//! (`adaptivecards` 3.0.6 and `adaptivecards-templating` 2.3.1) on the corpora in `tests/cards/`.
//! Every disagreement must be listed, with its reason, in the corpus's `known-differences.json`;
//! a listed entry that no longer disagrees fails too, so the list stays true.
//!
//! Microsoft's verdicts come from running the packages with Node (`npm ci` in `tests/cards`).
//! Without them the saved snapshots are used and the test says so loudly; with
//! `HERALD_CROSSCHECK_LIVE=1` (CI sets it) a missing Node or package fails instead.

use herald_cards::{validate, Mode, Rule};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn cards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cards")
}

fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Microsoft's results: live from Node when the packages are installed, else the snapshot.
fn microsoft(script: &str, corpus: &str, snapshot: &str) -> Map<String, Value> {
    let dir = cards_dir();
    let live = dir.join("node_modules/adaptivecards").exists()
        && dir.join("node_modules/adaptivecards-templating").exists();
    if live {
        let out = Command::new("node")
            .arg(dir.join(script))
            .arg(dir.join(corpus))
            .output();
        match out {
            Ok(o) if o.status.success() => {
                let v: Value = serde_json::from_slice(&o.stdout).expect("the script prints JSON");
                eprintln!("cross-check: Microsoft's verdicts computed live with Node ({script})");
                return v.as_object().cloned().expect("an object");
            }
            Ok(o) => panic!("{script} failed: {}", String::from_utf8_lossy(&o.stderr)),
            Err(e) if std::env::var("HERALD_CROSSCHECK_LIVE").as_deref() == Ok("1") => {
                panic!("HERALD_CROSSCHECK_LIVE=1 but node cannot run: {e}")
            }
            Err(e) => eprintln!("node cannot run ({e})"),
        }
    } else if std::env::var("HERALD_CROSSCHECK_LIVE").as_deref() == Ok("1") {
        panic!("HERALD_CROSSCHECK_LIVE=1 but Microsoft's packages are not installed: run `npm ci --prefix tests/cards`");
    }
    eprintln!(
        "CROSS-CHECK NOT LIVE: comparing with the saved {snapshot}; run `npm ci --prefix tests/cards` to compare with Microsoft's packages themselves"
    );
    read_json(&dir.join(snapshot))
        .as_object()
        .cloned()
        .expect("an object")
}

fn known(corpus: &str) -> BTreeMap<String, String> {
    let p = cards_dir().join(corpus).join("known-differences.json");
    if !p.exists() {
        return BTreeMap::new();
    }
    serde_json::from_value(read_json(&p)).expect("known-differences.json maps file → reason")
}

fn corpus(dir: &str) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(cards_dir().join(dir))
        .expect("the corpus exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| p.file_name().is_some_and(|n| n != "known-differences.json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                read_json(&p),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Lists disagreements that are not explained, and explanations that are stale.
fn judge(what: &str, disagreements: &BTreeMap<String, String>, known: &BTreeMap<String, String>) {
    let unexplained: Vec<_> = disagreements
        .iter()
        .filter(|(f, _)| !known.contains_key(*f))
        .map(|(f, why)| format!("  {f}: {why}"))
        .collect();
    let stale: Vec<_> = known
        .keys()
        .filter(|f| !disagreements.contains_key(*f))
        .cloned()
        .collect();
    assert!(
        unexplained.is_empty() && stale.is_empty(),
        "{what}: Herald and Microsoft disagree on files not in known-differences.json:\n{}\nlisted but no longer different: {stale:?}",
        unexplained.join("\n")
    );
    eprintln!(
        "{what}: {} listed differences, none unexplained",
        known.len()
    );
}

#[test]
fn validation_agrees_with_microsofts_parser_or_says_why() {
    let cards = corpus("validation");
    assert!(cards.len() >= 50, "the corpus has {} cards", cards.len());
    let ms = microsoft("ms-validate.js", "validation", "ms-validate.snapshot.json");
    let mut rules_seen = std::collections::BTreeSet::new();
    let mut disagreements = BTreeMap::new();
    for (file, card) in &cards {
        let ours = validate(card, Mode::Card);
        // Herald's own verdict is what the file's name says.
        match (file.strip_prefix("bad-"), &ours) {
            (None, Ok(())) => {}
            (None, Err(e)) => panic!("{file} should pass: {e}"),
            (Some(rest), Err(e)) => {
                assert!(
                    rest.starts_with(&format!("{}-", e.rule.as_str())),
                    "{file} failed another rule: {:?} {e}",
                    e.rule
                );
                rules_seen.insert(e.rule.as_str());
            }
            (Some(_), Ok(())) => panic!("{file} should fail"),
        }
        let verdict = &ms[file.as_str()];
        let ms_valid = verdict["valid"].as_bool().expect("a verdict per file");
        if ms_valid != ours.is_ok() {
            disagreements.insert(
                file.clone(),
                format!(
                    "Herald {}, Microsoft {} {}",
                    ours.as_ref()
                        .map_or_else(|e| format!("refuses ({e})"), |_| "accepts".into()),
                    if ms_valid { "accepts" } else { "refuses" },
                    verdict["events"]
                ),
            );
        }
    }
    for rule in [
        Rule::Root,
        Rule::Version,
        Rule::UnknownElement,
        Rule::UnknownAction,
        Rule::Required,
        Rule::Type,
        Rule::Enum,
        Rule::Nesting,
        Rule::DuplicateId,
        Rule::Size,
    ] {
        assert!(
            rules_seen.contains(rule.as_str()),
            "no broken card for rule {}",
            rule.as_str()
        );
    }
    judge("validation", &disagreements, &known("validation"));
}

/// JSON equality with numbers compared by value (3 and 3.0 are one number in JavaScript).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn templating_agrees_with_microsofts_engine_or_says_why() {
    let cases = corpus("templating");
    assert!(cases.len() >= 30, "the corpus has {} cases", cases.len());
    let ms = microsoft("ms-expand.js", "templating", "ms-expand.snapshot.json");
    let mut disagreements = BTreeMap::new();
    let mut agreed = 0;
    for (file, case) in &cases {
        let ours = herald_cards::expand(&case["template"], &case["data"]);
        let theirs = &ms[file.as_str()];
        let agree = match (&ours, theirs.get("output")) {
            (Ok(v), Some(o)) => same(v, o),
            (Err(_), None) => true,
            _ => false,
        };
        if agree {
            agreed += 1;
        } else {
            disagreements.insert(
                file.clone(),
                format!(
                    "Herald {}, Microsoft {}",
                    ours.as_ref()
                        .map_or_else(|e| format!("error: {e}"), Value::to_string),
                    theirs
                ),
            );
        }
    }
    eprintln!("templating: {agreed} of {} cases agree", cases.len());
    judge("templating", &disagreements, &known("templating"));
}
