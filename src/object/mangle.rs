//! bup's tree-entry name mangling (bup-format.md §3.3), so that any file name
//! round-trips and chunked files are recognisable by their `.bup` suffix.

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
    name.ends_with(b".bup") || (!name.is_empty() && name[..name.len() - 1].ends_with(b".bup"))
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
}
