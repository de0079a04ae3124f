//! Where a PostgreSQL claim starts looking in a notification's pending rows.
//!
//! A row leaves the partial index of pending rows when it is claimed, but on PostgreSQL its old
//! index entry stays until `VACUUM` removes it: a claim that starts at the notification's first
//! row walks every entry of the rows already sent before it finds a pending one (measured on a
//! million rows with 900,000 sent: 3,460 index pages and 12 ms a claim, against 15 pages and
//! 0.4 ms from the right place). So the store remembers, per notification and partition, the
//! row after the last one it claimed, and claims from there. Rows can go back to pending behind
//! it (an expired lease, a local-time row whose hour came): this store forgets every floor
//! when it does that itself, a claim that finds fewer rows than it wanted forgets its floor
//! (the next one looks from the start), and a floor older than [`REFRESH`] is not used, so rows
//! put back by another node are claimed within that time. SQLite removes index entries at once
//! and does not use floors.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// A floor is trusted this long; then a claim looks from the notification's first row again.
pub(crate) const REFRESH: Duration = Duration::from_secs(30);

/// (notification, partition count, partition index).
type Key = (String, i64, i64);

#[derive(Default)]
pub(crate) struct ClaimFloors {
    floors: Mutex<HashMap<Key, (i64, Instant)>>,
}

impl ClaimFloors {
    fn lock(&self) -> MutexGuard<'_, HashMap<Key, (i64, Instant)>> {
        self.floors.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The seq a claim of `id` in this partition starts at.
    pub(crate) fn get(&self, id: &str, count: i64, index: i64) -> i64 {
        let key = (id.to_owned(), count, index);
        let mut floors = self.lock();
        match floors.get(&key) {
            Some(&(seq, set)) if set.elapsed() < REFRESH => seq,
            Some(_) => {
                floors.remove(&key);
                0
            }
            None => 0,
        }
    }

    /// Every usable floor of this partition, for the listing of active notifications: a JSON
    /// object {notification: seq}.
    pub(crate) fn of_partition(&self, count: i64, index: i64) -> String {
        let floors = self.lock();
        let map: serde_json::Map<String, serde_json::Value> = floors
            .iter()
            .filter(|((_, c, i), (_, set))| *c == count && *i == index && set.elapsed() < REFRESH)
            .map(|((id, _, _), (seq, _))| (id.clone(), serde_json::Value::from(*seq)))
            .collect();
        serde_json::Value::Object(map).to_string()
    }

    /// A claim of `want` rows of `id` got these seqs: the next starts after the last, or from
    /// the start if this one found fewer than it wanted.
    pub(crate) fn claimed(&self, id: &str, count: i64, index: i64, want: usize, seqs: &[i64]) {
        let key = (id.to_owned(), count, index);
        let mut floors = self.lock();
        match seqs.iter().max() {
            Some(&last) if seqs.len() >= want => {
                let set = floors.get(&key).map_or(Instant::now(), |f| f.1);
                floors.insert(key, (last + 1, set));
            }
            _ => {
                floors.remove(&key);
            }
        }
        // Bounded: notifications that ended leave theirs here until they expire.
        if floors.len() > 10_000 {
            floors.retain(|_, (_, set)| set.elapsed() < REFRESH);
        }
    }

    /// Rows went back to pending somewhere: every claim looks from the start again.
    pub(crate) fn forget_all(&self) {
        self.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_floor_follows_full_claims_and_is_forgotten_when_a_claim_runs_short() {
        let f = ClaimFloors::default();
        assert_eq!(f.get("n", 1, 0), 0);
        f.claimed("n", 1, 0, 3, &[1, 2, 3]);
        assert_eq!(f.get("n", 1, 0), 4);
        assert_eq!(f.get("n", 2, 0), 0, "per partition");
        assert_eq!(f.of_partition(1, 0), r#"{"n":4}"#);
        assert_eq!(f.of_partition(2, 1), "{}");
        f.claimed("n", 1, 0, 3, &[7, 5, 6]);
        assert_eq!(f.get("n", 1, 0), 8);
        f.claimed("n", 1, 0, 3, &[9]);
        assert_eq!(f.get("n", 1, 0), 0, "short: from the start again");
        f.claimed("n", 1, 0, 1, &[2]);
        f.forget_all();
        assert_eq!(f.get("n", 1, 0), 0);
    }
}
