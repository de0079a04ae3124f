//! The recipient's hour (`options.recipientLocalTime`): a `sendAt` whose date and time (its offset
//! ignored) happen in each recipient's own time zone. Zones are IANA names, read from the time
//! zone database built into the binary (no dependence on the host's `/usr/share/zoneinfo`).
//!
//! A local time that does not exist (the hour skipped when clocks go forward) moves to the next
//! minute that does; one that happens twice (the hour repeated when they go back) is the first.

use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};

/// The furthest ahead of UTC any zone is (Kiribati's Line Islands, UTC+14): a local time has
/// happened there first.
pub const MAX_AHEAD_MS: u64 = 14 * 3_600_000;
/// The longest time zone name accepted (IANA's are at most about 32 characters).
pub const MAX_ZONE_LEN: usize = 64;
/// The most minutes a skipped stretch of local time is searched past (Samoa skipped a whole day
/// in 2011).
const MAX_GAP_MINUTES: i64 = 26 * 60;

/// A time zone by its IANA name (`Europe/Berlin`), or why not.
pub fn zone(name: &str) -> Result<TimeZone, String> {
    if name.is_empty() || name.len() > MAX_ZONE_LEN {
        return Err(format!(
            "a time zone is an IANA name of 1 to {MAX_ZONE_LEN} characters, like Europe/Berlin"
        ));
    }
    TimeZone::get(name).map_err(|_| {
        format!("`{name}` is not a time zone Herald knows: use an IANA name, like Europe/Berlin")
    })
}

/// The local date and time of an RFC 3339 `sendAt`, its offset ignored.
pub fn wall_clock(send_at: &str) -> Option<DateTime> {
    let t = time::OffsetDateTime::parse(send_at, &time::format_description::well_known::Rfc3339)
        .ok()?;
    DateTime::new(
        i16::try_from(t.year()).ok()?,
        t.month() as i8,
        t.day() as i8,
        t.hour() as i8,
        t.minute() as i8,
        t.second() as i8,
        0,
    )
    .ok()
}

/// When `wall` happens in `tz` (Unix milliseconds): the next valid minute when it falls in a gap,
/// the first occurrence when it falls in a fold; `None` past the calendar's range.
pub fn instant(wall: DateTime, tz: &TimeZone) -> Option<u64> {
    let mut at = wall;
    for _ in 0..=MAX_GAP_MINUTES {
        let ambiguous = tz.to_ambiguous_timestamp(at);
        let offset = match ambiguous.offset() {
            AmbiguousOffset::Unambiguous { offset } => offset,
            AmbiguousOffset::Fold { before, .. } => before,
            AmbiguousOffset::Gap { .. } => {
                // Into the next whole minute, seconds dropped.
                at = at
                    .with()
                    .second(0)
                    .build()
                    .ok()?
                    .checked_add(jiff::Span::new().minutes(1))
                    .ok()?;
                continue;
            }
        };
        let ts = offset.to_timestamp(at).ok()?;
        return u64::try_from(ts.as_millisecond()).ok();
    }
    None
}

/// When `wall` happens in UTC (Unix milliseconds).
pub fn in_utc(wall: DateTime) -> Option<u64> {
    instant(wall, &TimeZone::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime {
        s.parse().unwrap()
    }

    fn utc(ms: u64) -> String {
        herald_core::clock::rfc3339_ms(ms)
    }

    #[test]
    fn a_local_time_happens_in_each_zone() {
        let wall = wall_clock("2026-12-01T09:00:00+05:00").unwrap();
        assert_eq!(wall, at("2026-12-01T09:00:00"), "the offset is ignored");
        let berlin = zone("Europe/Berlin").unwrap();
        assert_eq!(
            utc(instant(wall, &berlin).unwrap()),
            "2026-12-01T08:00:00.000Z"
        );
        let kiritimati = zone("Pacific/Kiritimati").unwrap();
        assert_eq!(
            utc(instant(wall, &kiritimati).unwrap()),
            "2026-11-30T19:00:00.000Z"
        );
        assert_eq!(
            in_utc(wall).unwrap() - instant(wall, &kiritimati).unwrap(),
            MAX_AHEAD_MS
        );
    }

    #[test]
    fn a_skipped_time_moves_to_the_next_valid_minute_and_a_repeated_one_is_the_first() {
        let ny = zone("America/New_York").unwrap();
        // 2026-03-08: 02:00 EST jumps to 03:00 EDT.
        assert_eq!(
            utc(instant(at("2026-03-08T02:30:00"), &ny).unwrap()),
            "2026-03-08T07:00:00.000Z",
            "03:00 EDT"
        );
        assert_eq!(
            utc(instant(at("2026-03-08T02:59:30"), &ny).unwrap()),
            "2026-03-08T07:00:00.000Z"
        );
        // 2026-11-01: 01:30 happens twice; the first is EDT.
        assert_eq!(
            utc(instant(at("2026-11-01T01:30:00"), &ny).unwrap()),
            "2026-11-01T05:30:00.000Z"
        );
        // Samoa skipped 2011-12-30 entirely.
        let apia = zone("Pacific/Apia").unwrap();
        assert_eq!(
            utc(instant(at("2011-12-30T09:00:00"), &apia).unwrap()),
            "2011-12-30T10:00:00.000Z",
            "00:00 on the 31st, UTC+14"
        );
    }

    #[test]
    fn unknown_and_hostile_zone_names_are_refused() {
        for bad in [
            "",
            "Mars/Olympus",
            "../../etc/passwd",
            &"A".repeat(65),
            "Europe/Berlin\0",
        ] {
            assert!(zone(bad).is_err(), "{bad:?}");
        }
        assert!(zone("UTC").is_ok());
        assert!(zone("Etc/GMT-14").is_ok());
    }
}
