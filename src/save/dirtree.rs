//! Turning saved entries into bup directory trees: each directory is a git
//! tree holding its (mangled) entries plus a `.bupm` whose first record is the
//! directory's own metadata, followed by one record per non-directory entry
//! in bytewise order of the real names (bup-format.md §4.1).
//!
//! Also owns where each saved root lands in the commit tree ([`Placement`]):
//! plain saves mirror absolute paths; `--strip`, `--strip-path` and `--graft`
//! are all expressed as one graft `OLD=NEW` per root.

use super::stream::{self, Stored};
use crate::meta::{Capturer, encode_empty_record};
use crate::object::mangle::{BUPM, mangle};
use crate::object::{MODE_TREE, TreeEntry, tree};
use crate::oid::{ObjectId, ObjectKind};
use crate::repo::sink::{ObjectSink, SinkError, store};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One finished directory member.
#[derive(Clone, Debug)]
pub struct Finished {
    /// Real (unmangled) name.
    pub name: Vec<u8>,
    /// The tree entry (name mangled, git mode, object).
    pub entry: TreeEntry,
    /// Encoded `.bupm` record; `None` for directories (their record lives
    /// in their own `.bupm`).
    pub record: Option<Vec<u8>>,
}

/// Build and store one directory tree; returns its id. Entries with a name
/// seen before are dropped and their names pushed to `dups`.
pub fn build_dir(
    sink: &dyn ObjectSink,
    record0: &[u8],
    mut entries: Vec<Finished>,
    dups: &mut Vec<Vec<u8>>,
) -> Result<ObjectId, stream::Error> {
    // Stable sort by real name, then drop later duplicates (first wins).
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries.dedup_by(|later, first| {
        let dup = later.name == first.name;
        if dup {
            dups.push(later.name.clone());
        }
        dup
    });
    let mut bupm = Vec::with_capacity(record0.len() + entries.len() * 64);
    bupm.extend_from_slice(record0);
    for e in &entries {
        if let Some(r) = &e.record {
            bupm.extend_from_slice(r);
        }
    }
    let mut tree_entries: Vec<TreeEntry> = entries.into_iter().map(|e| e.entry).collect();
    let stored = store_bupm(sink, &bupm)?;
    tree_entries.push(TreeEntry::new(stored.git_mode, BUPM, stored.id));
    let body = tree::encode_tree(&mut tree_entries);
    Ok(store(sink, ObjectKind::Tree, &body)?)
}

/// Store a `.bupm` body with the repository's chunker, as bup does: one
/// blob, or a chunk tree (entry still named `.bupm`, mode 40000) when the
/// chunker cuts it (with fastcdc, never below its 4 KiB minimum).
fn store_bupm(sink: &dyn ObjectSink, bupm: &[u8]) -> Result<Stored, stream::Error> {
    let mut cursor = std::io::Cursor::new(bupm);
    stream::store_sized(
        sink,
        sink.chunker(),
        &mut cursor,
        Some(bupm.len() as u64),
        &|_| {},
    )
}

/// A directory finished into a member of its parent.
pub fn finish_dir(
    sink: &dyn ObjectSink,
    name: Vec<u8>,
    record0: &[u8],
    entries: Vec<Finished>,
    dups: &mut Vec<Vec<u8>>,
) -> Result<Finished, stream::Error> {
    let id = build_dir(sink, record0, entries, dups)?;
    Ok(Finished {
        entry: TreeEntry::new(MODE_TREE, mangle(&name, false), id),
        name,
        record: None,
    })
}

/// Where a directory's first `.bupm` record comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetaSource {
    /// The metadata of a real directory, read at save time.
    Real(PathBuf),
    /// The empty record (graft prefixes, strip collisions).
    Empty,
}

/// Where a saved root lands in the commit tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Directories from the commit root down to the root's parent: names
    /// (empty for the commit root) and metadata sources.
    pub parents: Vec<(Vec<u8>, MetaSource)>,
    /// The root's name in its parent; `None` when it *is* the last parent
    /// (its contents merge into it, e.g. `--strip` of a directory).
    pub name: Option<Vec<u8>>,
}

fn components(p: &[u8]) -> Vec<Vec<u8>> {
    p.split(|&c| c == b'/')
        .filter(|c| !c.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn join(base: &[u8], rel: &[Vec<u8>]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let mut p = base.to_vec();
    for c in rel {
        if p.last() != Some(&b'/') {
            p.push(b'/');
        }
        p.extend_from_slice(c);
    }
    PathBuf::from(std::ffi::OsStr::from_bytes(&p))
}

/// Place `root` (absolute) under the graft `old` → `new` (`root` must be
/// `old` or below it). A plain save is the graft `/` → `/`.
pub fn place(root: &[u8], old: &[u8], new: &[u8]) -> Placement {
    let newc = components(new);
    let rel = components(&root[old.len().min(root.len())..]);
    let full: Vec<Vec<u8>> = newc.iter().chain(rel.iter()).cloned().collect();
    let meta = |depth: usize| -> MetaSource {
        if depth < newc.len() {
            MetaSource::Empty
        } else {
            MetaSource::Real(join(old, &rel[..depth - newc.len()]))
        }
    };
    let mut parents = vec![(Vec::new(), meta(0))];
    if full.is_empty() {
        return Placement {
            parents,
            name: None,
        };
    }
    for (d, c) in full[..full.len() - 1].iter().enumerate() {
        parents.push((c.clone(), meta(d + 1)));
    }
    Placement {
        parents,
        name: full.last().cloned(),
    }
}

/// What one saved root produced.
pub enum RootResult {
    /// A directory: its own record and its finished members.
    Dir {
        /// Encoded record of the directory itself.
        record0: Vec<u8>,
        /// Its members.
        entries: Vec<Finished>,
    },
    /// A single non-directory.
    Leaf(Finished),
}

#[derive(Default)]
struct SkelDir {
    record0: Option<Vec<u8>>,
    claimed: bool,
    dirs: BTreeMap<Vec<u8>, SkelDir>,
    done: Vec<Finished>,
}

/// The commit tree above the saved roots, assembled after each root is done.
#[derive(Default)]
pub struct Skeleton {
    root: SkelDir,
}

/// Encoded record for a directory that has no real counterpart or whose
/// metadata cannot be read.
fn empty_record() -> Vec<u8> {
    let mut v = Vec::new();
    encode_empty_record(&mut v);
    v
}

impl Skeleton {
    /// Add a finished root. Metadata of real ancestor directories is read
    /// now; failures are reported through `warn` and give the empty record.
    pub fn insert(
        &mut self,
        placement: &Placement,
        result: RootResult,
        capturer: &Capturer,
        warn: &mut dyn FnMut(&Path, String),
    ) {
        let mut node = &mut self.root;
        for (i, (name, src)) in placement.parents.iter().enumerate() {
            if i > 0 {
                node = node.dirs.entry(name.clone()).or_default();
            }
            if node.record0.is_none() {
                node.record0 = Some(resolve(src, capturer, warn));
            }
        }
        match (result, &placement.name) {
            (RootResult::Leaf(f), _) => node.done.push(f),
            (RootResult::Dir { record0, entries }, None) => merge_into(node, record0, entries),
            (RootResult::Dir { record0, entries }, Some(name)) => {
                let child = node.dirs.entry(name.clone()).or_default();
                merge_into(child, record0, entries);
            }
        }
    }

    /// Store every tree of the skeleton; returns the commit's root tree.
    pub fn build(
        self,
        sink: &dyn ObjectSink,
        dups: &mut Vec<Vec<u8>>,
    ) -> Result<ObjectId, stream::Error> {
        build_skel(sink, self.root, dups)
    }
}

fn merge_into(node: &mut SkelDir, record0: Vec<u8>, entries: Vec<Finished>) {
    if node.claimed {
        // Two roots land on one directory (e.g. `--strip /a/x /b/y`): bup
        // gives it the empty record and merges the contents.
        node.record0 = Some(empty_record());
    } else {
        node.record0 = Some(record0);
        node.claimed = true;
    }
    node.done.extend(entries);
}

fn resolve(src: &MetaSource, capturer: &Capturer, warn: &mut dyn FnMut(&Path, String)) -> Vec<u8> {
    match src {
        MetaSource::Empty => empty_record(),
        MetaSource::Real(p) => {
            let got = std::fs::symlink_metadata(p)
                .map_err(|e| e.to_string())
                .and_then(|st| capturer.capture(p, &st).map_err(|e| e.to_string()));
            match got {
                Ok(m) => {
                    let mut v = Vec::new();
                    m.encode(&mut v);
                    v
                }
                Err(e) => {
                    warn(p, format!("cannot read metadata of parent directory: {e}"));
                    empty_record()
                }
            }
        }
    }
}

fn build_skel(
    sink: &dyn ObjectSink,
    node: SkelDir,
    dups: &mut Vec<Vec<u8>>,
) -> Result<ObjectId, stream::Error> {
    let mut entries = node.done;
    for (name, child) in node.dirs {
        let id = build_skel(sink, child, dups)?;
        entries.push(Finished {
            entry: TreeEntry::new(MODE_TREE, mangle(&name, false), id),
            name,
            record: None,
        });
    }
    let record0 = node.record0.unwrap_or_else(empty_record);
    build_dir(sink, &record0, entries, dups)
}

/// Errors that are not about one file: used by callers that need `SinkError`.
pub fn sink_error(e: stream::Error) -> SinkError {
    match e {
        stream::Error::Sink(s) => s,
        stream::Error::Read(io) => SinkError::Other(io.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn real(p: &str) -> MetaSource {
        MetaSource::Real(PathBuf::from(p))
    }

    #[test]
    fn plain_save_mirrors_the_absolute_path() {
        let p = place(b"/srv/ex/src", b"/", b"/");
        assert_eq!(
            p.parents,
            vec![
                (b"".to_vec(), real("/")),
                (b"srv".to_vec(), real("/srv")),
                (b"ex".to_vec(), real("/srv/ex")),
            ]
        );
        assert_eq!(p.name, Some(b"src".to_vec()));
    }

    #[test]
    fn strip_puts_the_root_at_the_top() {
        let p = place(b"/srv/ex/src", b"/srv/ex/src", b"/");
        assert_eq!(p.parents, vec![(b"".to_vec(), real("/srv/ex/src"))]);
        assert_eq!(p.name, None);
    }

    #[test]
    fn strip_path_gives_the_root_the_prefix_metadata() {
        let p = place(b"/srv/ex/src/foo.bup", b"/srv/ex", b"/");
        assert_eq!(
            p.parents,
            vec![
                (b"".to_vec(), real("/srv/ex")),
                (b"src".to_vec(), real("/srv/ex/src"))
            ]
        );
        assert_eq!(p.name, Some(b"foo.bup".to_vec()));
    }

    #[test]
    fn graft_prefix_dirs_get_empty_records() {
        // bup-format.md §2.4: --graft /srv/ex/src=/x/y → / and /x empty, /x/y = src.
        let p = place(b"/srv/ex/src", b"/srv/ex/src", b"/x/y");
        assert_eq!(
            p.parents,
            vec![
                (b"".to_vec(), MetaSource::Empty),
                (b"x".to_vec(), MetaSource::Empty)
            ]
        );
        assert_eq!(p.name, Some(b"y".to_vec()));
        let p = place(b"/srv/ex/src/d", b"/srv/ex/src", b"/x/y");
        assert_eq!(p.parents[2], (b"y".to_vec(), real("/srv/ex/src")));
        assert_eq!(p.name, Some(b"d".to_vec()));
    }
}
