//! Git object ids (SHA-1) and the object kinds of a pack.
//!
//! Owns: the 20-byte [`ObjectId`], its hex form, and hashing a git object
//! (`"<kind> <len>\0" + body`). SHA-1 is dictated by git and bup; see
//! `docs/design.md` ("Why SHA-1 and zlib") for why no faster hash is used here.

use sha1::{Digest, Sha1};
use std::fmt;

/// The kinds of git object a pack may hold (pack type codes 1–4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// A commit (pack type 1).
    Commit,
    /// A tree (pack type 2).
    Tree,
    /// A blob (pack type 3).
    Blob,
    /// An annotated tag (pack type 4); bup never writes these but may read them.
    Tag,
}

impl ObjectKind {
    /// The name git uses in object headers and `cat-file -t`.
    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::Commit => "commit",
            ObjectKind::Tree => "tree",
            ObjectKind::Blob => "blob",
            ObjectKind::Tag => "tag",
        }
    }

    /// The 3-bit type code used in pack entry headers.
    pub fn pack_code(self) -> u8 {
        match self {
            ObjectKind::Commit => 1,
            ObjectKind::Tree => 2,
            ObjectKind::Blob => 3,
            ObjectKind::Tag => 4,
        }
    }

    /// The kind for a pack type code, if it names a whole (non-delta) object.
    pub fn from_pack_code(code: u8) -> Option<ObjectKind> {
        match code {
            1 => Some(ObjectKind::Commit),
            2 => Some(ObjectKind::Tree),
            3 => Some(ObjectKind::Blob),
            4 => Some(ObjectKind::Tag),
            _ => None,
        }
    }

    /// The kind named by a git object header word (`"blob"`, ...).
    pub fn from_name(name: &[u8]) -> Option<ObjectKind> {
        match name {
            b"commit" => Some(ObjectKind::Commit),
            b"tree" => Some(ObjectKind::Tree),
            b"blob" => Some(ObjectKind::Blob),
            b"tag" => Some(ObjectKind::Tag),
            _ => None,
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A git object id: the SHA-1 of the object's header and body.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ObjectId(pub [u8; 20]);

/// A string that is not 40 hex digits.
#[derive(Debug, thiserror::Error)]
#[error("not a 40-digit hex object id: {0:?}")]
pub struct ParseIdError(pub String);

impl ObjectId {
    /// Length of an id in bytes.
    pub const LEN: usize = 20;

    /// The id of `body` stored as an object of `kind`.
    pub fn hash_object(kind: ObjectKind, body: &[u8]) -> ObjectId {
        let mut h = Sha1::new();
        h.update(object_header(kind, body.len() as u64).as_slice());
        h.update(body);
        ObjectId(h.finalize().into())
    }

    /// The id from exactly 20 raw bytes, or `None` for any other length.
    pub fn from_slice(raw: &[u8]) -> Option<ObjectId> {
        let arr: [u8; 20] = raw.try_into().ok()?;
        Some(ObjectId(arr))
    }

    /// Parse 40 hex digits (either case).
    pub fn from_hex(hex: &[u8]) -> Result<ObjectId, ParseIdError> {
        let bad = || ParseIdError(String::from_utf8_lossy(hex).into_owned());
        if hex.len() != 40 {
            return Err(bad());
        }
        let mut out = [0u8; 20];
        for (i, pair) in hex.chunks_exact(2).enumerate() {
            let hi = hex_val(pair[0]).ok_or_else(bad)?;
            let lo = hex_val(pair[1]).ok_or_else(bad)?;
            out[i] = (hi << 4) | lo;
        }
        Ok(ObjectId(out))
    }

    /// The raw 20 bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// Lowercase 40-digit hex.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(40);
        for b in self.0 {
            s.push(HEX[(b >> 4) as usize] as char);
            s.push(HEX[(b & 15) as usize] as char);
        }
        s
    }

    /// The id of the empty blob, which bup uses for empty files and special files.
    pub fn empty_blob() -> ObjectId {
        ObjectId::hash_object(ObjectKind::Blob, b"")
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The `"<kind> <len>\0"` prefix that is hashed before an object's body.
pub fn object_header(kind: ObjectKind, len: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(32);
    v.extend_from_slice(kind.name().as_bytes());
    v.push(b' ');
    v.extend_from_slice(len.to_string().as_bytes());
    v.push(0);
    v
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.to_hex())
    }
}

impl std::str::FromStr for ObjectId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ObjectId::from_hex(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_blob_id_matches_git() {
        assert_eq!(
            ObjectId::empty_blob().to_hex(),
            "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
        );
    }

    #[test]
    fn hello_blob_id_matches_worked_example() {
        // bup-format.md §9: hello.txt ("hello\n") is blob ce013625...
        let id = ObjectId::hash_object(ObjectKind::Blob, b"hello\n");
        assert!(id.to_hex().starts_with("ce013625"));
    }

    #[test]
    fn hex_round_trip_and_rejects_garbage() {
        let id = ObjectId::hash_object(ObjectKind::Blob, b"x");
        assert_eq!(ObjectId::from_hex(id.to_hex().as_bytes()).unwrap(), id);
        assert_eq!(
            ObjectId::from_hex(id.to_hex().to_uppercase().as_bytes()).unwrap(),
            id
        );
        assert!(ObjectId::from_hex(b"zz").is_err());
        assert!(ObjectId::from_hex(&[b'g'; 40]).is_err());
    }
}
