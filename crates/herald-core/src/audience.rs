//! The CSV audience of a notification (`to.csv`): a header row whose first column names the
//! recipient (`upn`, `aadObjectId` or `id`, any case), the other columns that recipient's
//! template data. One parser for both moments that read it: when the notification is accepted
//! (every row checked and counted, none kept) and when its audience is resolved (row by row).
//!
//! Spreadsheets write a byte-order mark before the header; it is skipped. Every row must have as
//! many fields as the header, and at most `max_rows` rows are read.

use std::fmt;

/// The longest recipient id a row may hold (UPNs are at most 113 characters).
pub use crate::ids::MAX_ID_LEN;

/// The column names that may name the recipient, as the API documents them.
pub const ID_COLUMNS: [&str; 3] = ["upn", "aadObjectId", "id"];

/// What the first column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdColumn {
    Upn,
    AadObjectId,
    /// A Teams user id (`29:…`).
    TeamsId,
}

/// One recipient row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRecipient {
    /// The first column, trimmed.
    pub id: String,
    /// The other columns, by header name, in order.
    pub columns: Vec<(String, String)>,
}

/// What is wrong with a CSV, and on which line (1 is the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvError {
    pub line: Option<u64>,
    pub message: String,
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "CSV line {l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for CsvError {}

/// A CSV audience, read row by row.
pub struct CsvAudience<'a> {
    kind: IdColumn,
    headers: csv::StringRecord,
    records: csv::StringRecordsIntoIter<&'a [u8]>,
    rows: u64,
    max_rows: u64,
}

impl<'a> CsvAudience<'a> {
    /// Reads the header; rows come from the iterator.
    pub fn new(text: &'a str, max_rows: u64) -> Result<Self, CsvError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(false)
            .from_reader(text.as_bytes());
        let headers = rdr
            .headers()
            .map_err(|e| CsvError {
                line: Some(1),
                message: format!("the header cannot be read: {}", reason(&e)),
            })?
            .clone();
        let first = headers.get(0).unwrap_or("").trim();
        let kind = match first.to_ascii_lowercase().as_str() {
            "upn" => IdColumn::Upn,
            "aadobjectid" => IdColumn::AadObjectId,
            "id" => IdColumn::TeamsId,
            _ => {
                return Err(CsvError {
                    line: Some(1),
                    message: format!(
                        "the first column is `{}`; it must be named upn, aadObjectId or id",
                        shorten(first)
                    ),
                })
            }
        };
        Ok(Self {
            kind,
            headers,
            records: rdr.into_records(),
            rows: 0,
            max_rows,
        })
    }

    pub fn kind(&self) -> IdColumn {
        self.kind
    }

    /// Reads every row, keeping none: how many recipients the CSV names.
    pub fn count(text: &str, max_rows: u64) -> Result<u64, CsvError> {
        let mut audience = CsvAudience::new(text, max_rows)?;
        for row in audience.by_ref() {
            row?;
        }
        Ok(audience.rows)
    }
}

impl Iterator for CsvAudience<'_> {
    type Item = Result<CsvRecipient, CsvError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rec = match self.records.next()? {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line());
                return Some(Err(CsvError {
                    line,
                    message: reason(&e),
                }));
            }
        };
        let line = rec.position().map(|p| p.line());
        self.rows += 1;
        if self.rows > self.max_rows {
            return Some(Err(CsvError {
                line,
                message: format!(
                    "the CSV names more than {} recipients (max_csv_rows); split it, or send to a group",
                    self.max_rows
                ),
            }));
        }
        let id = rec.get(0).unwrap_or("").trim();
        if id.is_empty() {
            return Some(Err(CsvError {
                line,
                message: "the row names no recipient".into(),
            }));
        }
        if id.len() > MAX_ID_LEN {
            return Some(Err(CsvError {
                line,
                message: format!(
                    "the recipient is {} bytes long; ids and UPNs are at most {MAX_ID_LEN}",
                    id.len()
                ),
            }));
        }
        let columns = self
            .headers
            .iter()
            .zip(rec.iter())
            .skip(1)
            .map(|(h, v)| (h.to_owned(), v.to_owned()))
            .collect();
        Some(Ok(CsvRecipient {
            id: id.to_owned(),
            columns,
        }))
    }
}

/// The csv crate's error without its own position prefix (the line is reported apart).
fn reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("the row has {len} fields; the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "the row is not valid UTF-8".into(),
        _ => e.to_string(),
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Result<Vec<CsvRecipient>, CsvError> {
        CsvAudience::new(text, 100)?.collect()
    }

    #[test]
    fn shapes_and_columns() {
        let r = rows("upn,team\na@x,Eng\n b@x ,Ops\n").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].id, "b@x");
        assert_eq!(r[1].columns, vec![("team".into(), "Ops".into())]);
        let a = CsvAudience::new("AADOBJECTID\nd6c5e9a2-3b1f-4c8e-9f7a-2b4d6e8f0a1c", 10).unwrap();
        assert_eq!(a.kind(), IdColumn::AadObjectId);
        assert_eq!(CsvAudience::count("id\n29:1\n29:2\n", 10).unwrap(), 2);
        // Excel's byte-order mark, and CRLF line ends.
        assert_eq!(
            CsvAudience::count("\u{feff}upn,x\r\na@x,1\r\n", 10).unwrap(),
            1
        );
        // Quoted fields with commas and new lines.
        let r = rows("upn,note\na@x,\"one, two\nthree\"\n").unwrap();
        assert_eq!(r[0].columns[0].1, "one, two\nthree");
    }

    #[test]
    fn errors_name_the_line_and_the_limit() {
        let e = CsvAudience::new("name,upn\nAda,a@x", 10).err().unwrap();
        assert_eq!(e.line, Some(1));
        assert!(e.message.contains("`name`"), "{e}");
        let e = rows("upn,team\na@x,Eng\nb@x,Ops,extra\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("3 fields"), "{e}");
        let e = rows("upn,team\n,Eng\n").unwrap_err();
        assert!(e.message.contains("no recipient"), "{e}");
        let e = CsvAudience::count("upn\na\nb\nc\n", 2).unwrap_err();
        assert!(e.message.contains("max_csv_rows"), "{e}");
        assert_eq!(e.line, Some(4));
        assert!(CsvAudience::new("", 10).is_err());
        let e = CsvAudience::count(&format!("upn\n{}@x\n", "a".repeat(300)), 10).unwrap_err();
        assert!(e.message.contains("at most 256"), "{e}");
        let long = format!("{}\nx", "y".repeat(10_000));
        assert!(CsvAudience::new(&long, 10).err().unwrap().message.len() < 200);
    }
}
