//! The CSV audience: counted (as at accept time) and read row by row (as at resolution).
//! Both must agree on how many recipients there are.
#![no_main]

use herald_core::audience::CsvAudience;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let counted = CsvAudience::count(text, 10_000);
    let Ok(rows) = CsvAudience::new(text, 10_000) else {
        assert!(counted.is_err());
        return;
    };
    let read: Result<Vec<_>, _> = rows.collect();
    match (counted, read) {
        (Ok(n), Ok(rows)) => assert_eq!(n as usize, rows.len()),
        (Err(_), Err(_)) => {}
        (c, r) => panic!("count {c:?} and rows {:?} disagree", r.map(|r| r.len())),
    }
});
