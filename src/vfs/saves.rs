//! The dated saves of a branch, named as bup names them (bup-format.md
//! §2.3): the commit's **author** time in the reader's local time zone as
//! `%Y-%m-%d-%H%M%S`; adjacent saves (in history order, newest first) with
//! the same name get `-N` suffixes counting down to 0 (newest = highest),
//! zero-padded to the width of the largest N.

use crate::object::Commit;
use crate::oid::{ObjectId, ObjectKind};
use crate::repo::source::{ObjectSource, ReadError, read_kind};
use chrono::{Local, TimeZone};
use std::collections::{BinaryHeap, HashSet};

/// One save of a branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Save {
    /// Its name in the branch directory.
    pub name: String,
    /// The commit.
    pub commit: ObjectId,
    /// The commit's tree.
    pub tree: ObjectId,
    /// Author time (seconds since the epoch).
    pub author_time: i64,
}

/// `%Y-%m-%d-%H%M%S` of `secs` in the local time zone (`TZ` honoured).
pub fn save_name(secs: i64) -> String {
    match Local.timestamp_opt(secs, 0).earliest() {
        Some(t) => t.format("%Y-%m-%d-%H%M%S").to_string(),
        None => "1970-01-01-000000".into(),
    }
}

/// Commits reachable from `tip`, newest first, as `git rev-list` orders
/// them by default (by committer date; ties in the order they were found).
fn history(src: &dyn ObjectSource, tip: ObjectId) -> Result<Vec<(ObjectId, Commit)>, ReadError> {
    // Max-heap on (committer time, -discovery order).
    let mut heap: BinaryHeap<(i64, std::cmp::Reverse<u64>, ObjectId)> = BinaryHeap::new();
    let mut seen = HashSet::new();
    let mut order = 0u64;
    let mut out = Vec::new();
    let parse = |id: &ObjectId| -> Result<Commit, ReadError> {
        let body = read_kind(src, id, ObjectKind::Commit)?;
        Commit::parse(&body).map_err(|e| ReadError::Corrupt {
            id: *id,
            detail: e.to_string(),
        })
    };
    let first = parse(&tip)?;
    seen.insert(tip);
    heap.push((first.committer.time, std::cmp::Reverse(order), tip));
    let mut pending = std::collections::HashMap::new();
    pending.insert(tip, first);
    while let Some((_, _, id)) = heap.pop() {
        let Some(c) = pending.remove(&id) else {
            continue;
        };
        for p in &c.parents {
            if seen.insert(*p) {
                let pc = parse(p)?;
                order += 1;
                heap.push((pc.committer.time, std::cmp::Reverse(order), *p));
                pending.insert(*p, pc);
            }
        }
        out.push((id, c));
    }
    Ok(out)
}

/// The saves of the branch whose tip is `tip`, sorted by name, and the name
/// of the tip's save (what `latest` points at).
pub fn saves(src: &dyn ObjectSource, tip: ObjectId) -> Result<(Vec<Save>, String), ReadError> {
    let hist = history(src, tip)?;
    let base: Vec<String> = hist.iter().map(|(_, c)| save_name(c.author.time)).collect();
    let mut named: Vec<Save> = Vec::with_capacity(hist.len());
    let mut i = 0;
    while i < hist.len() {
        let mut j = i + 1;
        while j < hist.len() && base[j] == base[i] {
            j += 1;
        }
        let run = j - i;
        let width = (run - 1).to_string().len();
        for (k, (id, c)) in hist[i..j].iter().enumerate() {
            let name = if run == 1 {
                base[i].clone()
            } else {
                format!("{}-{:0width$}", base[i], run - 1 - k)
            };
            named.push(Save {
                name,
                commit: *id,
                tree: c.tree,
                author_time: c.author.time,
            });
        }
        i = j;
    }
    let latest = named.first().map(|s| s.name.clone()).unwrap_or_default();
    // A name given twice (non-adjacent, dates going backwards) refers to the
    // older commit, as in bup: keep the last one seen in history order.
    let mut by_name: std::collections::BTreeMap<String, Save> = std::collections::BTreeMap::new();
    for s in named {
        by_name.insert(s.name.clone(), s);
    }
    Ok((by_name.into_values().collect(), latest))
}

/// Whether `name` looks like a save name (`YYYY-MM-DD-HHMMSS[-N]`).
pub fn is_save_name(name: &[u8]) -> bool {
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    let parts: Vec<&[u8]> = name.split(|&c| c == b'-').collect();
    matches!(parts.len(), 4 | 5)
        && parts[0].len() == 4
        && parts[1].len() == 2
        && parts[2].len() == 2
        && parts[3].len() == 6
        && parts.iter().all(|p| digits(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_local_time_zone() {
        // The exact names in several time zones are compared with real
        // `bup ls` in tests/integration/ls.rs; here only the shape.
        let name = save_name(1_400_000_000);
        assert_eq!(name.len(), "2014-05-13-165320".len());
        assert!(is_save_name(name.as_bytes()));
        assert!(is_save_name(b"2014-05-13-165320-2"));
        assert!(!is_save_name(b"latest"));
        assert!(!is_save_name(b"2014-05-13"));
    }
}
