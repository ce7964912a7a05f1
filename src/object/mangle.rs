//! bup's tree-entry name mangling (bup-format.md §3.3), so that any file name
//! round-trips and chunked files are recognisable by their `.bup` suffix.
//!
//! One addition to bup's rule: names that `git fsck --strict` rejects or
//! inspects in a tree (`.git`, `.gitmodules`, `.gitattributes` and the
//! aliases git treats as them on HFS+ and NTFS) also get `.bupl` appended.
//! bup writes them unchanged, which makes `git fsck --strict` fail on any
//! backup of a git checkout; bup's reader strips `.bupl` from any name, so
//! bup and we both read them back under their real names.

/// What a demangled tree entry name says about the entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mangled {
    /// An ordinary entry (file, dir, symlink, special).
    Normal,
    /// A regular file stored as a chunk tree (`name.bup`, git mode 40000).
    Chunked,
    /// The directory's own `.bupm` metadata file; not a directory member.
    Metadata,
}

/// Name of the per-directory metadata entry.
pub const BUPM: &[u8] = b".bupm";

/// The tree entry name for a real file name. `chunked` is true for a regular
/// file stored as a chunk tree.
pub fn mangle(name: &[u8], chunked: bool) -> Vec<u8> {
    let mut out = name.to_vec();
    if chunked {
        out.extend_from_slice(b".bup");
    } else if needs_bupl(name) {
        out.extend_from_slice(b".bupl");
    }
    out
}

fn needs_bupl(name: &[u8]) -> bool {
    name.ends_with(b".bup")
        || (!name.is_empty() && name[..name.len() - 1].ends_with(b".bup"))
        || git_special(name)
}

/// UTF-8 encodings of the code points HFS+ ignores in names (git's fsck
/// treats `.g\u{200c}it` as `.git`).
const HFS_IGNORED: &[&[u8]] = &[
    "\u{200c}".as_bytes(),
    "\u{200d}".as_bytes(),
    "\u{200e}".as_bytes(),
    "\u{200f}".as_bytes(),
    "\u{202a}".as_bytes(),
    "\u{202b}".as_bytes(),
    "\u{202c}".as_bytes(),
    "\u{202d}".as_bytes(),
    "\u{202e}".as_bytes(),
    "\u{206a}".as_bytes(),
    "\u{206b}".as_bytes(),
    "\u{206c}".as_bytes(),
    "\u{206d}".as_bytes(),
    "\u{206e}".as_bytes(),
    "\u{206f}".as_bytes(),
    "\u{feff}".as_bytes(),
];

/// Whether git would treat `name` as `.git`, `.gitmodules` or
/// `.gitattributes` on some filesystem. Errs on the side of `true`:
/// a false positive only adds a suffix that every reader strips.
pub fn git_special(name: &[u8]) -> bool {
    if !name.iter().any(|c| matches!(c, b'.' | b'~')) {
        return false;
    }
    // HFS+: drop ignorable code points, fold ASCII case.
    let mut n = Vec::with_capacity(name.len());
    let mut i = 0;
    'outer: while i < name.len() {
        for ign in HFS_IGNORED {
            if name[i..].starts_with(ign) {
                i += ign.len();
                continue 'outer;
            }
        }
        n.push(name[i].to_ascii_lowercase());
        i += 1;
    }
    // NTFS: alternate data streams (`.git::$INDEX_ALLOCATION`) and trailing
    // dots and spaces are ignored.
    if let Some(colon) = n.iter().position(|&c| c == b':') {
        n.truncate(colon);
    }
    while n.last().is_some_and(|&c| c == b'.' || c == b' ') {
        n.pop();
    }
    if matches!(&n[..], b".git" | b".gitmodules" | b".gitattributes") {
        return true;
    }
    // NTFS 8.3 short names of those: git~1, gitmod~1, gi7eba~1, gitatt~1, gi7d29~1.
    if let Some(tilde) = n.iter().position(|&c| c == b'~') {
        let (stem, digits) = (&n[..tilde], &n[tilde + 1..]);
        let short = matches!(stem, b"git" | b"gitmod" | b"gi7eba" | b"gitatt" | b"gi7d29");
        return short && !digits.is_empty() && digits.iter().all(u8::is_ascii_digit);
    }
    false
}

/// The real name for a tree entry name, and what kind of entry it is.
pub fn demangle(tree_name: &[u8]) -> (&[u8], Mangled) {
    if let Some(s) = tree_name.strip_suffix(b".bupl") {
        (s, Mangled::Normal)
    } else if let Some(s) = tree_name.strip_suffix(b".bup") {
        (s, Mangled::Chunked)
    } else if tree_name == BUPM {
        (tree_name, Mangled::Metadata)
    } else {
        (tree_name, Mangled::Normal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_example_names() {
        assert_eq!(mangle(b"foo.bup", false), b"foo.bup.bupl");
        assert_eq!(mangle(b".bupm", false), b".bupm.bupl");
        assert_eq!(mangle(b"x.bup", false), b"x.bup.bupl");
        assert_eq!(mangle(b"y.bupq", false), b"y.bupq.bupl");
        assert_eq!(mangle(b"big", true), b"big.bup");
        assert_eq!(mangle(b"x.bup", true), b"x.bup.bup");
        assert_eq!(mangle(b"a b", false), b"a b");
    }

    #[test]
    fn every_name_round_trips() {
        let names: [&[u8]; 9] = [
            b"x",
            b".bupm",
            b"x.bup",
            b"x.bupl",
            b"a.bup.bup",
            b"\xff\xfe",
            b".bup",
            b"bup",
            b"q.bupm",
        ];
        for n in names {
            for chunked in [false, true] {
                let m = mangle(n, chunked);
                let (d, kind) = demangle(&m);
                assert_eq!(d, n, "{:?}", String::from_utf8_lossy(n));
                let want = if chunked {
                    Mangled::Chunked
                } else {
                    Mangled::Normal
                };
                assert_eq!(kind, want);
            }
        }
        assert_eq!(demangle(b".bupm"), (&b".bupm"[..], Mangled::Metadata));
    }

    #[test]
    fn names_git_fsck_rejects_are_mangled_and_round_trip() {
        let special: [&[u8]; 10] = [
            b".git",
            b".GIT",
            b".Git.",
            b".git ",
            b".git::$INDEX_ALLOCATION",
            b"git~1",
            b".gitmodules",
            b"GITMOD~3",
            b".gitattributes",
            ".g\u{200c}it".as_bytes(),
        ];
        for n in special {
            assert!(git_special(n), "{:?}", String::from_utf8_lossy(n));
            let m = mangle(n, false);
            assert!(m.ends_with(b".bupl"));
            assert_eq!(demangle(&m), (n, Mangled::Normal));
        }
        for n in [
            &b".gitignore"[..],
            b".github",
            b"git",
            b"a.git",
            b".gitx",
            b"git~",
            b"git~a",
            b"x~1",
        ] {
            assert!(!git_special(n), "{:?}", String::from_utf8_lossy(n));
        }
    }
}
