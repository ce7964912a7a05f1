//! Git commit objects as bup writes and parses them.
//!
//! bup parses commits with a strict pattern (bup-format.md §2.1): one bad
//! branch tip breaks `bup ls` for every branch. [`Signature::bup_safe`] makes
//! identities that satisfy it, and [`Commit::encode`] writes no headers bup
//! does not expect.

use crate::oid::ObjectId;

/// Author or committer line: `Name <email> seconds +hhmm`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// Display name.
    pub name: Vec<u8>,
    /// E-mail, without the angle brackets.
    pub email: Vec<u8>,
    /// Seconds since the epoch.
    pub time: i64,
    /// Offset from UTC in minutes (e.g. -240 for `-0400`).
    pub tz_minutes: i32,
}

impl Signature {
    /// A signature whose name and email satisfy bup's commit pattern: bytes
    /// bup rejects (`<`, `>`, NUL, LF) are dropped and unsafe edge characters
    /// are trimmed; empty results fall back to `fallback`.
    pub fn bup_safe(name: &[u8], email: &[u8], time: i64, tz_minutes: i32) -> Signature {
        Signature {
            name: bup_safe_field(name, b"user"),
            email: bup_safe_field(email, b"user@localhost"),
            time,
            tz_minutes,
        }
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.name);
        out.extend_from_slice(b" <");
        out.extend_from_slice(&self.email);
        out.extend_from_slice(b"> ");
        out.extend_from_slice(self.time.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(format_tz(self.tz_minutes).as_bytes());
    }
}

/// `+hhmm` / `-hhmm` for an offset in minutes.
pub fn format_tz(tz_minutes: i32) -> String {
    let sign = if tz_minutes < 0 { '-' } else { '+' };
    let m = tz_minutes.unsigned_abs();
    format!("{sign}{:02}{:02}", m / 60, m % 60)
}

/// Bytes that may not start or end a name/email in bup's commit pattern.
fn is_edge_forbidden(c: u8) -> bool {
    matches!(
        c,
        b' ' | b'.' | b',' | b':' | b';' | b'<' | b'>' | b'"' | b'\'' | 0 | b'\n'
    )
}

fn bup_safe_field(raw: &[u8], fallback: &[u8]) -> Vec<u8> {
    let mut v: Vec<u8> = raw
        .iter()
        .copied()
        .filter(|&c| !matches!(c, b'<' | b'>' | 0 | b'\n'))
        .collect();
    while v.first().is_some_and(|&c| is_edge_forbidden(c)) {
        v.remove(0);
    }
    while v.last().is_some_and(|&c| is_edge_forbidden(c)) {
        v.pop();
    }
    if v.is_empty() { fallback.to_vec() } else { v }
}

/// A commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    /// Root tree.
    pub tree: ObjectId,
    /// Parents, in order (bup writes at most one).
    pub parents: Vec<ObjectId>,
    /// Author line.
    pub author: Signature,
    /// Committer line.
    pub committer: Signature,
    /// Message (everything after the blank line).
    pub message: Vec<u8>,
}

impl Commit {
    /// Encode as a commit object body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.message.len());
        out.extend_from_slice(b"tree ");
        out.extend_from_slice(self.tree.to_hex().as_bytes());
        out.push(b'\n');
        for p in &self.parents {
            out.extend_from_slice(b"parent ");
            out.extend_from_slice(p.to_hex().as_bytes());
            out.push(b'\n');
        }
        out.extend_from_slice(b"author ");
        self.author.encode_into(&mut out);
        out.push(b'\n');
        out.extend_from_slice(b"committer ");
        self.committer.encode_into(&mut out);
        out.push(b'\n');
        out.push(b'\n');
        out.extend_from_slice(&self.message);
        out
    }

    /// Parse a commit body. Unknown headers (encoding, gpgsig, mergetag, and
    /// their continuation lines) are skipped.
    pub fn parse(body: &[u8]) -> Result<Commit, ParseCommitError> {
        let (head, message) = match find(body, b"\n\n") {
            Some(i) => (&body[..i + 1], &body[i + 2..]),
            None => return Err(ParseCommitError::NoMessage),
        };
        let mut tree = None;
        let mut parents = Vec::new();
        let mut author = None;
        let mut committer = None;
        for line in head.split(|&c| c == b'\n') {
            if line.is_empty() || line[0] == b' ' {
                continue;
            }
            let (key, val) = match line.iter().position(|&c| c == b' ') {
                Some(i) => (&line[..i], &line[i + 1..]),
                None => (line, &b""[..]),
            };
            match key {
                b"tree" if tree.is_none() => {
                    tree = Some(ObjectId::from_hex(val).map_err(|_| ParseCommitError::BadTree)?)
                }
                b"parent" => {
                    parents.push(ObjectId::from_hex(val).map_err(|_| ParseCommitError::BadParent)?)
                }
                b"author" if author.is_none() => author = Some(parse_signature(val)?),
                b"committer" if committer.is_none() => committer = Some(parse_signature(val)?),
                _ => {}
            }
        }
        Ok(Commit {
            tree: tree.ok_or(ParseCommitError::Missing("tree"))?,
            parents,
            author: author.ok_or(ParseCommitError::Missing("author"))?,
            committer: committer.ok_or(ParseCommitError::Missing("committer"))?,
            message: message.to_vec(),
        })
    }
}

/// A commit object that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseCommitError {
    /// No blank line separates headers from the message.
    #[error("commit has no blank line before its message")]
    NoMessage,
    /// A required header is missing.
    #[error("commit has no {0} header")]
    Missing(&'static str),
    /// The tree header is not a hex id.
    #[error("commit has a malformed tree id")]
    BadTree,
    /// A parent header is not a hex id.
    #[error("commit has a malformed parent id")]
    BadParent,
    /// An author/committer line is malformed.
    #[error("commit has a malformed author or committer line")]
    BadSignature,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_signature(val: &[u8]) -> Result<Signature, ParseCommitError> {
    let lt = val
        .iter()
        .position(|&c| c == b'<')
        .ok_or(ParseCommitError::BadSignature)?;
    let gt = val[lt..]
        .iter()
        .position(|&c| c == b'>')
        .map(|i| i + lt)
        .ok_or(ParseCommitError::BadSignature)?;
    let name = val[..lt].strip_suffix(b" ").unwrap_or(&val[..lt]).to_vec();
    let email = val[lt + 1..gt].to_vec();
    let rest = std::str::from_utf8(&val[gt + 1..]).map_err(|_| ParseCommitError::BadSignature)?;
    let mut parts = rest.split_whitespace();
    let time: i64 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or(ParseCommitError::BadSignature)?;
    let tz = parts.next().ok_or(ParseCommitError::BadSignature)?;
    let tz_minutes = parse_tz(tz).ok_or(ParseCommitError::BadSignature)?;
    Ok(Signature {
        name,
        email,
        time,
        tz_minutes,
    })
}

fn parse_tz(tz: &str) -> Option<i32> {
    let b = tz.as_bytes();
    if b.len() != 5 || !(b[0] == b'+' || b[0] == b'-') {
        return None;
    }
    // `get`, not indexing: a multi-byte character may straddle the split.
    let hh: i32 = tz.get(1..3)?.parse().ok()?;
    let mm: i32 = tz.get(3..5)?.parse().ok()?;
    let m = hh * 60 + mm;
    Some(if b[0] == b'-' { -m } else { m })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oid::ObjectKind;

    #[test]
    fn commit_bytes_match_bup_layout() {
        // bup-format.md §2.1 and §9: exact bytes of a real bup commit.
        let c = Commit {
            tree: ObjectId::from_hex(b"5c61fc841d47e984756633a5a2a07645d8f6c58c").unwrap(),
            parents: vec![],
            author: Signature::bup_safe(b"root", b"root@vm", 1400000000, 0),
            committer: Signature::bup_safe(b"root", b"root@vm", 1400000000, 0),
            message: b"bup save\n\nGenerated by command:\n['save', '-n', 'test', '--date', '1400000000', '/srv/ex/src']\n".to_vec(),
        };
        let body = c.encode();
        let want = b"tree 5c61fc841d47e984756633a5a2a07645d8f6c58c\n\
author root <root@vm> 1400000000 +0000\n\
committer root <root@vm> 1400000000 +0000\n\
\n\
bup save\n\nGenerated by command:\n['save', '-n', 'test', '--date', '1400000000', '/srv/ex/src']\n";
        assert_eq!(
            String::from_utf8_lossy(&body),
            String::from_utf8_lossy(want)
        );
        assert_eq!(Commit::parse(&body).unwrap(), c);
        let _ = ObjectId::hash_object(ObjectKind::Commit, &body);
    }

    #[test]
    fn timezones_format_and_parse() {
        assert_eq!(format_tz(-240), "-0400");
        assert_eq!(format_tz(330), "+0530");
        assert_eq!(parse_tz("+0530"), Some(330));
        assert_eq!(parse_tz("-0400"), Some(-240));
        assert_eq!(parse_tz("0400"), None);
    }

    #[test]
    fn bup_safe_trims_forbidden_edges() {
        let s = Signature::bup_safe(b"Bad Name.", b"<x@y>", 0, 0);
        assert_eq!(s.name, b"Bad Name");
        assert_eq!(s.email, b"x@y");
        let s = Signature::bup_safe(b"...", b"", 0, 0);
        assert_eq!(s.name, b"user");
    }

    #[test]
    fn parse_skips_unknown_headers_and_rejects_junk() {
        let body = b"tree 5c61fc841d47e984756633a5a2a07645d8f6c58c\nauthor a <b> 1 +0000\ncommitter a <b> 1 +0000\nencoding UTF-8\ngpgsig x\n y\n\nmsg";
        let c = Commit::parse(body).unwrap();
        assert_eq!(c.message, b"msg");
        assert!(Commit::parse(b"tree zz\n\n").is_err());
        assert!(Commit::parse(b"garbage").is_err());
        assert!(Commit::parse(b"tree 5c61fc841d47e984756633a5a2a07645d8f6c58c\n\n").is_err());
    }
}
