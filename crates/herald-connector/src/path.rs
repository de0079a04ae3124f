//! Ids put into URL paths and queries, one segment each.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986's unreserved characters is escaped (conversation ids: `:` and `@`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// The same, keeping `@` as Graph shows it in UPNs and mail filters.
const GRAPH: &AsciiSet = &SEGMENT.remove(b'@');

pub fn segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

pub fn graph_segment(s: &str) -> String {
    utf8_percent_encode(s, GRAPH).to_string()
}
