//! Git tree objects: encoding in git's canonical order, and a parser that
//! never panics on malformed bytes.

use crate::oid::ObjectId;
use std::cmp::Ordering;

/// Git mode of a regular file entry (bup uses it for every non-symlink file).
pub const MODE_FILE: u32 = 0o100644;
/// Git mode of an executable file; bup never writes it but git users may.
pub const MODE_EXEC: u32 = 0o100755;
/// Git mode of a sub-tree (written without a leading zero: `40000`).
pub const MODE_TREE: u32 = 0o40000;
/// Git mode of a symlink (blob holds the target).
pub const MODE_SYMLINK: u32 = 0o120000;
/// Git mode of a submodule commit link; never valid in a backup tree.
pub const MODE_GITLINK: u32 = 0o160000;

/// One entry of a tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeEntry {
    /// Git mode (one of the `MODE_*` constants).
    pub mode: u32,
    /// Entry name as stored (already mangled for bup trees).
    pub name: Vec<u8>,
    /// Object the entry points at.
    pub id: ObjectId,
}

impl TreeEntry {
    /// A new entry.
    pub fn new(mode: u32, name: impl Into<Vec<u8>>, id: ObjectId) -> TreeEntry {
        TreeEntry {
            mode,
            name: name.into(),
            id,
        }
    }

    /// Whether the entry is a sub-tree.
    pub fn is_tree(&self) -> bool {
        self.mode == MODE_TREE
    }
}

/// Compare two entries in git's tree order: bytewise by name, where a tree's
/// name is compared as if it ended with `/`.
pub fn git_order(a_name: &[u8], a_tree: bool, b_name: &[u8], b_tree: bool) -> Ordering {
    let common = a_name.len().min(b_name.len());
    match a_name[..common].cmp(&b_name[..common]) {
        Ordering::Equal => {}
        other => return other,
    }
    let next = |name: &[u8], tree: bool| -> Option<u8> {
        match name.get(common) {
            Some(&c) => Some(c),
            None if tree => Some(b'/'),
            None => None,
        }
    };
    next(a_name, a_tree).cmp(&next(b_name, b_tree))
}

/// Sort entries into git's canonical tree order.
pub fn sort_entries(entries: &mut [TreeEntry]) {
    entries.sort_by(|a, b| git_order(&a.name, a.is_tree(), &b.name, b.is_tree()));
}

/// Encode entries (sorted here) as the body of a git tree object.
pub fn encode_tree(entries: &mut [TreeEntry]) -> Vec<u8> {
    sort_entries(entries);
    encode_sorted(entries)
}

/// Encode entries that are already in git order.
pub fn encode_sorted(entries: &[TreeEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 48);
    for e in entries {
        out.extend_from_slice(format!("{:o}", e.mode).as_bytes());
        out.push(b' ');
        out.extend_from_slice(&e.name);
        out.push(0);
        out.extend_from_slice(e.id.as_bytes());
    }
    out
}

/// A tree object that does not parse.
#[derive(Debug, thiserror::Error)]
pub enum ParseTreeError {
    /// The bytes end in the middle of an entry.
    #[error("tree is truncated at byte {0}")]
    Truncated(usize),
    /// The mode field is not octal digits.
    #[error("tree has a bad mode at byte {0}")]
    BadMode(usize),
    /// An entry has an empty name.
    #[error("tree has an empty entry name at byte {0}")]
    EmptyName(usize),
}

/// Parse the body of a tree object.
pub fn parse_tree(body: &[u8]) -> Result<Vec<TreeEntry>, ParseTreeError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < body.len() {
        let start = pos;
        let sp = body[pos..]
            .iter()
            .position(|&c| c == b' ')
            .ok_or(ParseTreeError::Truncated(start))?;
        let mode_bytes = &body[pos..pos + sp];
        if mode_bytes.is_empty() || mode_bytes.len() > 7 {
            return Err(ParseTreeError::BadMode(start));
        }
        let mut mode = 0u32;
        for &c in mode_bytes {
            if !(b'0'..=b'7').contains(&c) {
                return Err(ParseTreeError::BadMode(start));
            }
            mode = mode * 8 + u32::from(c - b'0');
        }
        pos += sp + 1;
        let nul = body[pos..]
            .iter()
            .position(|&c| c == 0)
            .ok_or(ParseTreeError::Truncated(start))?;
        if nul == 0 {
            return Err(ParseTreeError::EmptyName(start));
        }
        let name = body[pos..pos + nul].to_vec();
        pos += nul + 1;
        let id = body
            .get(pos..pos + 20)
            .and_then(ObjectId::from_slice)
            .ok_or(ParseTreeError::Truncated(start))?;
        pos += 20;
        out.push(TreeEntry { mode, name, id });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oid::ObjectKind;

    #[test]
    fn tree_sorts_like_git() {
        let id = ObjectId::empty_blob();
        let mut v = vec![
            TreeEntry::new(MODE_TREE, "foo.bup", id),
            TreeEntry::new(MODE_FILE, "foo-bar", id),
            TreeEntry::new(MODE_FILE, "foo.bup.bupl", id),
            TreeEntry::new(MODE_FILE, ".bupm", id),
            TreeEntry::new(MODE_FILE, "-x", id),
        ];
        sort_entries(&mut v);
        let names: Vec<_> = v.iter().map(|e| String::from_utf8_lossy(&e.name)).collect();
        assert_eq!(names, ["-x", ".bupm", "foo-bar", "foo.bup.bupl", "foo.bup"]);
    }

    #[test]
    fn worked_example_root_tree_bytes() {
        // bup-format.md §9 hex dump: the commit tree is `.bupm` + `tmp/`.
        let bupm = ObjectId::from_hex(b"56deb411c9c564eb00d33beb3936f639c0d3432b").unwrap();
        let tmp = ObjectId::from_hex(b"79527507e62a72d135098d5bd4318758e1408340").unwrap();
        let mut v = vec![
            TreeEntry::new(MODE_TREE, "tmp", tmp),
            TreeEntry::new(MODE_FILE, ".bupm", bupm),
        ];
        let body = encode_tree(&mut v);
        let mut want = b"100644 .bupm\0".to_vec();
        want.extend_from_slice(bupm.as_bytes());
        want.extend_from_slice(b"40000 tmp\0");
        want.extend_from_slice(tmp.as_bytes());
        assert_eq!(body, want);
        assert_eq!(parse_tree(&body).unwrap(), v);
        let _ = ObjectId::hash_object(ObjectKind::Tree, &body);
    }

    #[test]
    fn parse_rejects_malformed() {
        assert!(parse_tree(b"100644 x\0short").is_err());
        assert!(parse_tree(b"10064x x\0aaaaaaaaaaaaaaaaaaaa").is_err());
        assert!(parse_tree(b"100644 \0aaaaaaaaaaaaaaaaaaaa").is_err());
        assert!(parse_tree(b"100644").is_err());
        assert!(parse_tree(b"").unwrap().is_empty());
    }
}
