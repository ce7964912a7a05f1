//! POSIX.1e ACLs in the two forms the metadata layer meets: the Linux
//! `system.posix_acl_access` / `system.posix_acl_default` xattr value
//! (version 2 header, then little-endian `u16 tag, u16 perm, u32 id`
//! entries) and libacl's short text form as bup records it
//! (`acl_to_any_text(acl, "", ',', TEXT_ABBREVIATE)`, e.g.
//! `u::rw-,u:nobody:r--,g::r--,m::r--,o::r--`).

use thiserror::Error;

/// Name of the xattr holding the access ACL.
pub const ACCESS_XATTR: &str = "system.posix_acl_access";
/// Name of the xattr holding a directory's default ACL.
pub const DEFAULT_XATTR: &str = "system.posix_acl_default";

/// The xattr format version Linux uses.
const XATTR_VERSION: u32 = 2;
const HEADER_LEN: usize = 4;
const ENTRY_LEN: usize = 8;
/// `e_id` of entries that have no qualifier.
const UNDEFINED_ID: u32 = u32::MAX;

/// Read permission bit of an entry.
pub const PERM_READ: u8 = 4;
/// Write permission bit of an entry.
pub const PERM_WRITE: u8 = 2;
/// Execute/search permission bit of an entry.
pub const PERM_EXECUTE: u8 = 1;

/// Why an ACL xattr value or text could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AclError {
    /// The xattr value is malformed.
    #[error("malformed ACL xattr: {reason}")]
    BadXattr {
        /// What is wrong.
        reason: String,
    },
    /// An entry of the text form is malformed.
    #[error("malformed ACL text entry {entry:?}")]
    BadText {
        /// The offending entry, lossily decoded.
        entry: String,
    },
}

/// An ACL entry's tag. The declaration order is the order the kernel
/// requires entries to be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tag {
    /// The owning user (`u::`).
    UserObj,
    /// A named user (`u:name:`).
    User,
    /// The owning group (`g::`).
    GroupObj,
    /// A named group (`g:name:`).
    Group,
    /// The mask (`m::`).
    Mask,
    /// Everyone else (`o::`).
    Other,
}

impl Tag {
    fn from_raw(raw: u16) -> Option<Tag> {
        Some(match raw {
            0x01 => Tag::UserObj,
            0x02 => Tag::User,
            0x04 => Tag::GroupObj,
            0x08 => Tag::Group,
            0x10 => Tag::Mask,
            0x20 => Tag::Other,
            _ => return None,
        })
    }

    fn raw(self) -> u16 {
        match self {
            Tag::UserObj => 0x01,
            Tag::User => 0x02,
            Tag::GroupObj => 0x04,
            Tag::Group => 0x08,
            Tag::Mask => 0x10,
            Tag::Other => 0x20,
        }
    }

    /// Whether entries with this tag carry a user or group id.
    pub fn has_qualifier(self) -> bool {
        matches!(self, Tag::User | Tag::Group)
    }

    fn abbreviation(self) -> &'static [u8] {
        match self {
            Tag::UserObj | Tag::User => b"u",
            Tag::GroupObj | Tag::Group => b"g",
            Tag::Mask => b"m",
            Tag::Other => b"o",
        }
    }
}

/// One ACL entry with a numeric qualifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Entry {
    /// The tag.
    pub tag: Tag,
    /// User or group id for [`Tag::User`]/[`Tag::Group`]; ignored (and
    /// written as `u32::MAX`) for the others.
    pub id: u32,
    /// Permission bits: [`PERM_READ`] | [`PERM_WRITE`] | [`PERM_EXECUTE`].
    pub perm: u8,
}

/// Parses an ACL xattr value into its entries, in stored order.
pub fn parse_xattr(bytes: &[u8]) -> Result<Vec<Entry>, AclError> {
    let bad = |reason: String| AclError::BadXattr { reason };
    let Some((header, body)) = bytes.split_first_chunk::<HEADER_LEN>() else {
        return Err(bad(format!(
            "{} bytes, shorter than the header",
            bytes.len()
        )));
    };
    let version = u32::from_le_bytes(*header);
    if version != XATTR_VERSION {
        return Err(bad(format!("version {version}, expected {XATTR_VERSION}")));
    }
    if body.len() % ENTRY_LEN != 0 {
        return Err(bad(format!(
            "{} entry bytes, not a multiple of {ENTRY_LEN}",
            body.len()
        )));
    }
    body.chunks_exact(ENTRY_LEN)
        .map(|e| {
            let raw_tag = u16::from_le_bytes([e[0], e[1]]);
            let perm = u16::from_le_bytes([e[2], e[3]]);
            let id = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
            let tag =
                Tag::from_raw(raw_tag).ok_or_else(|| bad(format!("unknown tag {raw_tag:#x}")))?;
            let perm = u8::try_from(perm)
                .ok()
                .filter(|p| *p <= 7)
                .ok_or_else(|| bad(format!("bad permission bits {perm:#x}")))?;
            Ok(Entry { tag, id, perm })
        })
        .collect()
}

/// Encodes entries as an ACL xattr value, sorted into the order the kernel
/// requires (by tag, then by id).
pub fn to_xattr(entries: &[Entry]) -> Vec<u8> {
    let mut sorted = entries.to_vec();
    sorted.sort_by_key(|e| (e.tag, if e.tag.has_qualifier() { e.id } else { 0 }));
    let mut out = Vec::with_capacity(HEADER_LEN + ENTRY_LEN * sorted.len());
    out.extend_from_slice(&XATTR_VERSION.to_le_bytes());
    for e in &sorted {
        out.extend_from_slice(&e.tag.raw().to_le_bytes());
        out.extend_from_slice(&u16::from(e.perm).to_le_bytes());
        let id = if e.tag.has_qualifier() {
            e.id
        } else {
            UNDEFINED_ID
        };
        out.extend_from_slice(&id.to_le_bytes());
    }
    out
}

/// The three-entry ACL equivalent to the permission bits of `mode`
/// (what libacl reports for a file that has no ACL xattr).
pub fn from_mode(mode: u32) -> Vec<Entry> {
    let perm = |shift: u32| ((mode >> shift) & 7) as u8;
    vec![
        Entry {
            tag: Tag::UserObj,
            id: UNDEFINED_ID,
            perm: perm(6),
        },
        Entry {
            tag: Tag::GroupObj,
            id: UNDEFINED_ID,
            perm: perm(3),
        },
        Entry {
            tag: Tag::Other,
            id: UNDEFINED_ID,
            perm: perm(0),
        },
    ]
}

/// Formats entries in libacl's short text form: entries in the given
/// order, joined by `,`; qualifiers come from `name_of(tag, id)`, falling
/// back to the decimal id when it returns `None` (pass `|_, _| None` for
/// the numeric variant).
pub fn to_text(entries: &[Entry], mut name_of: impl FnMut(Tag, u32) -> Option<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 8);
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(e.tag.abbreviation());
        out.push(b':');
        if e.tag.has_qualifier() {
            match name_of(e.tag, e.id) {
                Some(name) => out.extend_from_slice(&name),
                None => out.extend_from_slice(e.id.to_string().as_bytes()),
            }
        }
        out.push(b':');
        for (bit, c) in [(PERM_READ, b'r'), (PERM_WRITE, b'w'), (PERM_EXECUTE, b'x')] {
            out.push(if e.perm & bit != 0 { c } else { b'-' });
        }
    }
    out
}

/// One entry of the text form, with its qualifier still unresolved.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TextEntry {
    /// The tag.
    pub tag: Tag,
    /// User/group name or decimal id (empty for unqualified tags).
    pub qualifier: Vec<u8>,
    /// Permission bits.
    pub perm: u8,
}

/// Parses the text form: entries separated by `,` or newlines, each
/// `tag:qualifier:perms` with tag `u`/`user`, `g`/`group`, `m`/`mask` or
/// `o`/`other` (the qualifier may be omitted for mask and other), perms
/// from `rwx-`; whitespace around entries and `#` comments are ignored.
pub fn parse_text(text: &[u8]) -> Result<Vec<TextEntry>, AclError> {
    let mut entries = Vec::new();
    for raw in text.split(|b| *b == b',' || *b == b'\n') {
        let without_comment = raw.split(|b| *b == b'#').next().unwrap_or_default();
        let entry = without_comment.trim_ascii();
        if entry.is_empty() {
            continue;
        }
        let bad = || AclError::BadText {
            entry: String::from_utf8_lossy(entry).into_owned(),
        };
        let fields: Vec<&[u8]> = entry.split(|b| *b == b':').collect();
        let (tag_name, qualifier, perms) = match fields.as_slice() {
            [t, q, p] => (*t, *q, *p),
            [t, p] => (*t, &b""[..], *p),
            _ => return Err(bad()),
        };
        let qualified = !qualifier.is_empty();
        let tag = match (tag_name, qualified) {
            (b"u" | b"user", false) => Tag::UserObj,
            (b"u" | b"user", true) => Tag::User,
            (b"g" | b"group", false) => Tag::GroupObj,
            (b"g" | b"group", true) => Tag::Group,
            (b"m" | b"mask", false) => Tag::Mask,
            (b"o" | b"other", false) => Tag::Other,
            _ => return Err(bad()),
        };
        if fields.len() == 2 && !matches!(tag, Tag::Mask | Tag::Other) {
            return Err(bad());
        }
        let mut perm = 0u8;
        for c in perms {
            perm |= match c {
                b'r' => PERM_READ,
                b'w' => PERM_WRITE,
                b'x' => PERM_EXECUTE,
                b'-' => 0,
                _ => return Err(bad()),
            };
        }
        entries.push(TextEntry {
            tag,
            qualifier: qualifier.to_vec(),
            perm,
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 44-byte `system.posix_acl_access` value of the spec's §4.6 ACL
    /// example (`setfacl -m u:nobody:r`, texts
    /// `u::rw-,u:nobody:r--,g::r--,m::r--,o::r--`), as bup 0.33.7 stored it
    /// in the xattr field of that record (read back with
    /// `bup cat-file --bupm`).
    const NOBODY_ACL: [u8; 44] = [
        0x02, 0x00, 0x00, 0x00, // version 2
        0x01, 0x00, 0x06, 0x00, 0xff, 0xff, 0xff, 0xff, // u::rw-
        0x02, 0x00, 0x04, 0x00, 0xfe, 0xff, 0x00, 0x00, // u:65534:r--
        0x04, 0x00, 0x04, 0x00, 0xff, 0xff, 0xff, 0xff, // g::r--
        0x10, 0x00, 0x04, 0x00, 0xff, 0xff, 0xff, 0xff, // m::r--
        0x20, 0x00, 0x04, 0x00, 0xff, 0xff, 0xff, 0xff, // o::r--
    ];

    #[test]
    fn xattr_to_text_matches_spec_example() {
        let entries = parse_xattr(&NOBODY_ACL).expect("valid ACL");
        assert_eq!(entries.len(), 5);
        let numeric = to_text(&entries, |_, _| None);
        assert_eq!(numeric, b"u::rw-,u:65534:r--,g::r--,m::r--,o::r--");
        let named = to_text(&entries, |tag, id| {
            (tag == Tag::User && id == 65534).then(|| b"nobody".to_vec())
        });
        assert_eq!(named, b"u::rw-,u:nobody:r--,g::r--,m::r--,o::r--");
    }

    #[test]
    fn text_to_xattr_round_trip() {
        let parsed = parse_text(b"u::rw-,u:65534:r--,g::r--,m::r--,o::r--").expect("valid text");
        let entries: Vec<Entry> = parsed
            .iter()
            .map(|t| Entry {
                tag: t.tag,
                id: std::str::from_utf8(&t.qualifier)
                    .ok()
                    .and_then(|q| q.parse().ok())
                    .unwrap_or(UNDEFINED_ID),
                perm: t.perm,
            })
            .collect();
        assert_eq!(to_xattr(&entries), NOBODY_ACL);
    }

    #[test]
    fn to_xattr_sorts_into_kernel_order() {
        let e = |tag, id, perm| Entry { tag, id, perm };
        let shuffled = [
            e(Tag::Other, 0, 4),
            e(Tag::User, 65534, 4),
            e(Tag::Mask, 0, 4),
            e(Tag::GroupObj, 0, 4),
            e(Tag::UserObj, 0, 6),
        ];
        assert_eq!(to_xattr(&shuffled), NOBODY_ACL);
    }

    #[test]
    fn mode_acl_text() {
        assert_eq!(
            to_text(&from_mode(0o40755), |_, _| None),
            b"u::rwx,g::r-x,o::r-x"
        );
        assert_eq!(
            to_text(&from_mode(0o100640), |_, _| None),
            b"u::rw-,g::r--,o::---"
        );
    }

    #[test]
    fn long_tag_names_and_comments_parse() {
        let parsed =
            parse_text(b"user::rwx\ngroup:staff:r-x #effective:r--\nmask::r-x\nother:---\n")
                .expect("valid text");
        assert_eq!(
            parsed,
            vec![
                TextEntry {
                    tag: Tag::UserObj,
                    qualifier: vec![],
                    perm: 7
                },
                TextEntry {
                    tag: Tag::Group,
                    qualifier: b"staff".to_vec(),
                    perm: 5
                },
                TextEntry {
                    tag: Tag::Mask,
                    qualifier: vec![],
                    perm: 5
                },
                TextEntry {
                    tag: Tag::Other,
                    qualifier: vec![],
                    perm: 0
                },
            ]
        );
    }

    #[test]
    fn malformed_inputs_are_errors() {
        assert!(parse_xattr(&[2, 0, 0]).is_err());
        assert!(parse_xattr(&[1, 0, 0, 0]).is_err());
        assert!(parse_xattr(&NOBODY_ACL[..43]).is_err());
        let mut bad_tag = NOBODY_ACL;
        bad_tag[4] = 0x40;
        assert!(parse_xattr(&bad_tag).is_err());
        assert!(parse_text(b"u::rwz").is_err());
        assert!(parse_text(b"q::rwx").is_err());
        assert!(parse_text(b"m:x:rwx").is_err());
        assert!(parse_text(b"u:rwx").is_err());
        assert!(parse_text(b"u:a:b:c").is_err());
    }
}
