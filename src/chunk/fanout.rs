//! bup's chunk tree ("fanout") for one chunked file or stream
//! (bup-format.md §3.6).
//!
//! Owns: grouping chunks into git trees by their levels, the 256-entry cap,
//! promotion of single entries, and the hex-offset entry names. It stores
//! nothing itself: every tree body goes through the caller's `store_tree`.

use crate::object::tree::{MODE_FILE, MODE_TREE, TreeEntry, encode_sorted};
use crate::oid::ObjectId;

/// The most entries bup puts into one chunk tree before packing it.
const MAX_PER_TREE: usize = 256;

/// One pending entry of a level: a chunk blob or a finished subtree.
#[derive(Clone, Copy, Debug)]
struct Item {
    mode: u32,
    id: ObjectId,
    size: u64,
}

/// Builds bup's chunk tree for one file/stream (§3.6).
///
/// Push the chunks in order with their levels; [`FanoutBuilder::finish`]
/// gives the file's git mode, id and size. Trees are handed to the caller as
/// they are completed, so memory stays bounded (at most 255 entries per level).
#[derive(Debug)]
pub struct FanoutBuilder {
    /// `levels[i]`: entries waiting to be grouped at level `i`.
    levels: Vec<Vec<Item>>,
    /// Tree body buffer, reused between trees.
    scratch: Vec<TreeEntry>,
}

impl Default for FanoutBuilder {
    fn default() -> Self {
        FanoutBuilder::new()
    }
}

impl FanoutBuilder {
    /// An empty builder (no chunks yet).
    pub fn new() -> FanoutBuilder {
        FanoutBuilder {
            levels: vec![Vec::new()],
            scratch: Vec::new(),
        }
    }

    /// Append the next chunk (its blob id, length, level). `store_tree` is
    /// called with the body of each tree object the layout needs and must
    /// store it and return its id.
    ///
    /// Chunks are expected to be non-empty (`len > 0`): two entries of one
    /// tree would otherwise get the same offset name.
    pub fn push<E>(
        &mut self,
        id: ObjectId,
        len: u64,
        level: u8,
        store_tree: &mut dyn FnMut(Vec<u8>) -> Result<ObjectId, E>,
    ) -> Result<(), E> {
        self.levels[0].push(Item {
            mode: MODE_FILE,
            id,
            size: len,
        });
        self.collapse(usize::from(level), store_tree)
    }

    /// Finish: (git mode, id, total size) of the whole file: `MODE_FILE` + the
    /// blob if exactly one chunk, `MODE_TREE` + the top chunk tree if more,
    /// `MODE_FILE` + the empty-blob id with size 0 if no chunks (the caller
    /// stores the empty blob).
    pub fn finish<E>(
        mut self,
        store_tree: &mut dyn FnMut(Vec<u8>) -> Result<ObjectId, E>,
    ) -> Result<(u32, ObjectId, u64), E> {
        let top = self.levels.len() - 1;
        self.collapse(top, store_tree)?;
        let last = self.levels.pop().unwrap_or_default();
        match last.as_slice() {
            [] => Ok((MODE_FILE, ObjectId::empty_blob(), 0)),
            [only] => Ok((only.mode, only.id, only.size)),
            items => {
                let (id, size) = make_tree(items, &mut self.scratch, store_tree)?;
                Ok((MODE_TREE, id, size))
            }
        }
    }

    /// Close the lowest `n` levels, and any level that is full, moving each
    /// closed group one level up (as a tree, or promoted if it is alone).
    fn collapse<E>(
        &mut self,
        n: usize,
        store_tree: &mut dyn FnMut(Vec<u8>) -> Result<ObjectId, E>,
    ) -> Result<(), E> {
        let mut i = 0;
        while i < n || self.levels[i].len() >= MAX_PER_TREE {
            if self.levels.len() <= i + 1 {
                self.levels.push(Vec::new());
            }
            let mut group = std::mem::take(&mut self.levels[i]);
            let up = match group.as_slice() {
                [] => None,
                [only] => Some(*only),
                items => {
                    let (id, size) = make_tree(items, &mut self.scratch, store_tree)?;
                    Some(Item {
                        mode: MODE_TREE,
                        id,
                        size,
                    })
                }
            };
            if let Some(item) = up {
                self.levels[i + 1].push(item);
            }
            group.clear();
            self.levels[i] = group;
            i += 1;
        }
        Ok(())
    }
}

/// Store one chunk tree over `items`: entries named by their byte offset in
/// lowercase hex, zero-padded to the number of hex digits of the total size.
fn make_tree<E>(
    items: &[Item],
    scratch: &mut Vec<TreeEntry>,
    store_tree: &mut dyn FnMut(Vec<u8>) -> Result<ObjectId, E>,
) -> Result<(ObjectId, u64), E> {
    let total: u64 = items.iter().map(|it| it.size).sum();
    let width = hex_digits(total);
    scratch.clear();
    let mut offset = 0u64;
    for it in items {
        let name = format!("{offset:0width$x}");
        scratch.push(TreeEntry::new(it.mode, name, it.id));
        offset += it.size;
    }
    // Equal-width hex names of increasing offsets are already in git order.
    let id = store_tree(encode_sorted(scratch))?;
    Ok((id, total))
}

/// Number of lowercase hex digits of `n` (`0` has one).
fn hex_digits(n: u64) -> usize {
    (64 - n.leading_zeros()).div_ceil(4).max(1) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::tree::parse_tree;
    use crate::oid::ObjectKind;
    use std::collections::HashMap;
    use std::convert::Infallible;

    /// Collects trees in memory, keyed by their git id.
    #[derive(Default)]
    struct Store {
        trees: HashMap<ObjectId, Vec<u8>>,
    }

    impl Store {
        fn put(&mut self, body: Vec<u8>) -> Result<ObjectId, Infallible> {
            let id = ObjectId::hash_object(ObjectKind::Tree, &body);
            self.trees.insert(id, body);
            Ok(id)
        }

        /// Walk a chunk tree as a reader does (§3.8), checking the layout
        /// rules on the way; returns the blob ids in order and the size.
        fn walk(
            &self,
            id: &ObjectId,
            sizes: &HashMap<ObjectId, u64>,
            out: &mut Vec<ObjectId>,
        ) -> u64 {
            let body = &self.trees[id];
            let entries = parse_tree(body).unwrap();
            assert!(entries.len() >= 2, "subtree with {} entries", entries.len());
            assert!(entries.len() <= MAX_PER_TREE);
            let mut offset = 0u64;
            let width = entries[0].name.len();
            for e in &entries {
                assert_eq!(e.name.len(), width);
                let name = std::str::from_utf8(&e.name).unwrap();
                assert_eq!(u64::from_str_radix(name, 16).unwrap(), offset);
                assert_eq!(name, name.to_lowercase());
                offset += if e.mode == MODE_TREE {
                    self.walk(&e.id, sizes, out)
                } else {
                    assert_eq!(e.mode, MODE_FILE);
                    out.push(e.id);
                    sizes[&e.id]
                };
            }
            assert_eq!(width, hex_digits(offset), "width for total {offset:#x}");
            offset
        }
    }

    fn blob(i: u64) -> ObjectId {
        ObjectId::hash_object(ObjectKind::Blob, &i.to_le_bytes())
    }

    fn build(chunks: &[(u64, u8)], store: &mut Store) -> (u32, ObjectId, u64) {
        let mut f = FanoutBuilder::new();
        let mut put = |b: Vec<u8>| store.put(b);
        for (i, &(len, level)) in chunks.iter().enumerate() {
            f.push(blob(i as u64), len, level, &mut put).unwrap();
        }
        f.finish(&mut put).unwrap()
    }

    #[test]
    fn hex_widths() {
        assert_eq!(hex_digits(0), 1);
        assert_eq!(hex_digits(15), 1);
        assert_eq!(hex_digits(16), 2);
        assert_eq!(hex_digits(300_000), 5);
        assert_eq!(hex_digits(u64::MAX), 16);
    }

    #[test]
    fn no_chunks_is_the_empty_blob() {
        let mut s = Store::default();
        assert_eq!(build(&[], &mut s), (MODE_FILE, ObjectId::empty_blob(), 0));
        assert!(s.trees.is_empty());
    }

    #[test]
    fn one_chunk_is_the_blob_itself_whatever_its_level() {
        for level in [0, 1, 3] {
            let mut s = Store::default();
            assert_eq!(build(&[(10, level)], &mut s), (MODE_FILE, blob(0), 10));
            assert!(s.trees.is_empty());
        }
    }

    #[test]
    fn two_level_zero_chunks_make_one_flat_tree() {
        let mut s = Store::default();
        let (mode, id, size) = build(&[(16, 0), (5, 0)], &mut s);
        assert_eq!((mode, size), (MODE_TREE, 21));
        let mut expect = vec![
            TreeEntry::new(MODE_FILE, "00", blob(0)),
            TreeEntry::new(MODE_FILE, "10", blob(1)),
        ];
        assert_eq!(s.trees[&id], crate::object::tree::encode_tree(&mut expect));
    }

    #[test]
    fn level_one_chunk_closes_a_subtree_and_single_groups_are_promoted() {
        // [a b(level 1)] [c] -> top: subtree(a, b) and the blob c promoted.
        let mut s = Store::default();
        let (mode, id, size) = build(&[(3, 0), (4, 1), (5, 0)], &mut s);
        assert_eq!((mode, size), (MODE_TREE, 12));
        let top = parse_tree(&s.trees[&id]).unwrap();
        assert_eq!(top.len(), 2);
        assert_eq!((top[0].mode, &top[0].name[..]), (MODE_TREE, &b"0"[..]));
        assert_eq!(
            (top[1].mode, &top[1].name[..], top[1].id),
            (MODE_FILE, &b"7"[..], blob(2))
        );
        // A single level-1 group becomes the whole file (no 1-entry trees).
        let mut s = Store::default();
        let (mode, id, _) = build(&[(3, 0), (4, 1)], &mut s);
        assert_eq!(mode, MODE_TREE);
        assert_eq!(parse_tree(&s.trees[&id]).unwrap().len(), 2);
        assert_eq!(s.trees.len(), 1);
    }

    #[test]
    fn full_levels_are_capped_at_256() {
        let mut s = Store::default();
        let chunks = vec![(1u64, 0u8); 600];
        let (mode, id, size) = build(&chunks, &mut s);
        assert_eq!((mode, size), (MODE_TREE, 600));
        let top = parse_tree(&s.trees[&id]).unwrap();
        let names: Vec<&[u8]> = top.iter().map(|e| &e.name[..]).collect();
        assert_eq!(names, [&b"000"[..], b"100", b"200"]);
        assert_eq!(parse_tree(&s.trees[&top[0].id]).unwrap().len(), 256);
        assert_eq!(parse_tree(&s.trees[&top[2].id]).unwrap().len(), 88);
    }

    proptest::proptest! {
        #[test]
        fn layout_rules_hold_and_reading_gives_back_the_chunks(
            chunks in proptest::collection::vec(
                (1u64..100_000, proptest::sample::select(vec![0u8, 0, 0, 0, 0, 0, 1, 1, 2, 3])),
                0..1500,
            )
        ) {
            let mut s = Store::default();
            let (mode, id, size) = build(&chunks, &mut s);
            let total: u64 = chunks.iter().map(|c| c.0).sum();
            proptest::prop_assert_eq!(size, total);
            let sizes: HashMap<ObjectId, u64> =
                chunks.iter().enumerate().map(|(i, c)| (blob(i as u64), c.0)).collect();
            let expect: Vec<ObjectId> = (0..chunks.len() as u64).map(blob).collect();
            match chunks.len() {
                0 => proptest::prop_assert_eq!((mode, id), (MODE_FILE, ObjectId::empty_blob())),
                1 => proptest::prop_assert_eq!((mode, id), (MODE_FILE, blob(0))),
                _ => {
                    proptest::prop_assert_eq!(mode, MODE_TREE);
                    let mut got = Vec::new();
                    proptest::prop_assert_eq!(s.walk(&id, &sizes, &mut got), total);
                    proptest::prop_assert_eq!(got, expect);
                }
            }
        }
    }
}
