//! The small part of OData that Herald's Graph calls use: `$filter=field eq 'value'`, `$top`,
//! and paging with `$skiptoken` / `@odata.nextLink`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const DEFAULT_PAGE: usize = 100;
pub const MAX_PAGE: usize = 999;

pub struct Query {
    params: BTreeMap<String, String>,
    pub top: usize,
    pub skip: usize,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Result<Self, String> {
        let params: BTreeMap<String, String> = serde_urlencoded::from_str(raw.unwrap_or(""))
            .map_err(|e| format!("the query string is not valid: {e}"))?;
        let top = match params.get("$top") {
            None => DEFAULT_PAGE,
            Some(t) => match t.parse::<usize>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
                _ => {
                    return Err(format!(
                        "Invalid value '{t}' for $top; it must be between 1 and {MAX_PAGE}."
                    ))
                }
            },
        };
        let skip = match params.get("$skiptoken") {
            None => 0,
            Some(t) => URL_SAFE_NO_PAD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.strip_prefix("skip:").and_then(|n| n.parse().ok()))
                .ok_or_else(|| "The $skiptoken is not valid.".to_owned())?,
        };
        Ok(Self { params, top, skip })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }

    /// `field eq 'value'` → (field, value); `None` without a filter.
    pub fn eq_filter(&self) -> Result<Option<(String, String)>, String> {
        let Some(f) = self.get("$filter") else {
            return Ok(None);
        };
        parse_eq(f).map(Some).ok_or_else(|| {
            format!("Invalid filter clause: '{f}'. Supported: <property> eq '<value>'.")
        })
    }

    /// One page of `items` in Graph's shape, with a `nextLink` to `base` when more remain.
    pub fn page(&self, items: Vec<Value>, base: &str) -> Value {
        self.page_by(items.len(), base, |r| items[r].to_vec())
    }

    /// A page of a listing of `len` items of which only this page's are built (`make` gets
    /// their range), so paging through a 300,000-member group costs each page its own size.
    pub fn page_by(
        &self,
        len: usize,
        base: &str,
        make: impl FnOnce(std::ops::Range<usize>) -> Vec<Value>,
    ) -> Value {
        let start = self.skip.min(len);
        let end = (start + self.top).min(len);
        let mut out = json!({"value": make(start..end)});
        if end < len {
            let mut params = self.params.clone();
            params.insert("$top".into(), self.top.to_string());
            params.insert(
                "$skiptoken".into(),
                URL_SAFE_NO_PAD.encode(format!("skip:{end}")),
            );
            let qs = serde_urlencoded::to_string(&params).unwrap_or_default();
            out["@odata.nextLink"] = json!(format!("{base}?{qs}"));
        }
        out
    }
}

fn parse_eq(f: &str) -> Option<(String, String)> {
    let (field, rest) = f.trim().split_once(" eq ")?;
    let rest = rest.trim();
    let inner = rest.strip_prefix('\'')?.strip_suffix('\'')?;
    Some((field.trim().to_owned(), inner.replace("''", "'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eq_filters() {
        assert_eq!(
            parse_eq("mail eq 'o''brien@x.example'"),
            Some(("mail".into(), "o'brien@x.example".into()))
        );
        assert_eq!(
            parse_eq("teamsApp/id eq 'abc'"),
            Some(("teamsApp/id".into(), "abc".into()))
        );
        assert_eq!(parse_eq("mail ne 'x'"), None);
        assert_eq!(parse_eq("mail eq x"), None);
    }

    #[test]
    fn pages_link_to_the_rest() {
        let q = Query::parse(Some("$top=2")).unwrap();
        let items: Vec<Value> = (0..5).map(|i| json!(i)).collect();
        let p = q.page(items.clone(), "http://h/v1.0/x");
        assert_eq!(p["value"], json!([0, 1]));
        let next = p["@odata.nextLink"].as_str().unwrap();
        let q2 = Query::parse(Some(next.split_once('?').unwrap().1)).unwrap();
        assert_eq!(q2.page(items, "b")["value"], json!([2, 3]));
        assert!(Query::parse(Some("$top=0")).is_err());
        assert!(Query::parse(Some("$skiptoken=nonsense")).is_err());
    }
}
