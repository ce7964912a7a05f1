//! The repository as bup shows it: `/` lists branches, `/NAME` lists dated
//! saves plus `latest`, a save is the root of its commit's tree, and
//! directories list their demangled entries with metadata from `.bupm`.
//!
//! Owns path resolution and listing for `ls`, `cat-file` and `restore`, and
//! reading a file's content (a blob, or a chunk tree concatenated in order).
//! Reads only through [`ObjectSource`]. Handles trees written by bup as well
//! as by us: missing `.bupm` (defaults from the git mode), too few records
//! (defaults), chunked `.bupm`, old record versions (see `meta`).

pub mod ls;
pub mod saves;

use crate::meta::{self, FileType, Metadata};
use crate::object::mangle::{BUPM, Mangled, demangle};
use crate::object::{MODE_SYMLINK, MODE_TREE, TreeEntry, tree};
use crate::oid::{ObjectId, ObjectKind};
use crate::repo::source::{ObjectSource, ReadError, read_kind};
use std::io::Write;

pub use saves::{Save, save_name};

/// Errors resolving paths or reading entries.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such entry.
    #[error("{path}: no such file or directory in the repository")]
    NotFound {
        /// The path as given.
        path: String,
    },
    /// A path goes through something that is not a directory.
    #[error("{path}: not a directory")]
    NotADirectory {
        /// The path up to the offending entry.
        path: String,
    },
    /// An object could not be read.
    #[error("{path}: {source}")]
    Read {
        /// Where in the repository.
        path: String,
        /// The cause.
        source: ReadError,
    },
    /// A tree or `.bupm` is malformed.
    #[error("{path}: damaged {what} ({detail})")]
    Malformed {
        /// Where in the repository.
        path: String,
        /// Which object kind.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// Writing content out failed.
    #[error("writing {path}: {source}")]
    Output {
        /// The repository path being written.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `/`: the branches.
    Root,
    /// `/.tag`: the tags.
    Tags,
    /// A branch: its saves.
    Branch {
        /// The branch tip.
        tip: ObjectId,
    },
    /// One save (or a tagged commit): the root of its tree.
    Save {
        /// The commit.
        commit: ObjectId,
        /// Its tree.
        tree: ObjectId,
    },
    /// `latest` in a branch: a link to the newest save.
    Latest {
        /// The save name it points at.
        target: String,
    },
    /// A directory.
    Dir {
        /// Its tree.
        tree: ObjectId,
    },
    /// A regular file (or device, fifo, socket: see the metadata).
    File {
        /// Blob, or chunk tree when `chunked`.
        id: ObjectId,
        /// Stored as a chunk tree (`name.bup`).
        chunked: bool,
    },
    /// A symlink; the blob holds the target.
    Symlink {
        /// The blob.
        id: ObjectId,
    },
}

/// One entry of the repository view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// Demangled name (empty for `/`).
    pub name: Vec<u8>,
    /// What it is.
    pub kind: Kind,
    /// Recorded metadata, if any (directories listed without
    /// `want_dir_meta` have none).
    pub meta: Option<Metadata>,
}

impl Item {
    /// Whether it can be listed (has children).
    pub fn is_dir(&self) -> bool {
        matches!(
            self.kind,
            Kind::Root | Kind::Tags | Kind::Branch { .. } | Kind::Save { .. } | Kind::Dir { .. }
        )
    }

    /// The object id shown by `ls -s`: tree, blob or chunk tree.
    pub fn object_id(&self) -> Option<ObjectId> {
        match &self.kind {
            Kind::Save { tree, .. } | Kind::Dir { tree } => Some(*tree),
            Kind::File { id, .. } | Kind::Symlink { id } => Some(*id),
            Kind::Branch { tip } => Some(*tip),
            _ => None,
        }
    }

    /// The file type: from the metadata when recorded, else from the kind.
    pub fn file_type(&self) -> FileType {
        match (&self.kind, &self.meta) {
            (Kind::Latest { .. } | Kind::Symlink { .. }, _) => FileType::Symlink,
            (Kind::File { chunked: true, .. }, _) => FileType::File,
            (Kind::File { .. }, Some(m)) => match m.file_type() {
                FileType::Dir | FileType::Symlink | FileType::Unknown => FileType::File,
                t => t,
            },
            (Kind::File { .. }, None) => FileType::File,
            _ => FileType::Dir,
        }
    }
}

/// Which links `resolve` follows in the last path component (`latest` is
/// always followed in the middle of a path; other symlinks never are).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Follow {
    /// Nothing: a final `latest` or symlink is returned as the link.
    Nothing,
    /// A final `latest` resolves to its save (as `restore` treats it).
    Latest,
    /// A final `latest`, and a final symlink whose relative target resolves
    /// inside the same save (as `bup ls` treats them).
    Links,
}

/// A read-only view of a repository.
pub struct Vfs<'a> {
    src: &'a dyn ObjectSource,
}

fn show(path: &[Vec<u8>]) -> String {
    let mut s = String::new();
    for c in path {
        s.push('/');
        s.push_str(&String::from_utf8_lossy(c));
    }
    if s.is_empty() { "/".into() } else { s }
}

impl<'a> Vfs<'a> {
    /// A view reading through `src`.
    pub fn new(src: &'a dyn ObjectSource) -> Vfs<'a> {
        Vfs { src }
    }

    /// The object source.
    pub fn source(&self) -> &'a dyn ObjectSource {
        self.src
    }

    fn read_err(&self, path: &[Vec<u8>]) -> impl Fn(ReadError) -> Error {
        let p = show(path);
        move |source| Error::Read {
            path: p.clone(),
            source,
        }
    }

    /// The root item.
    pub fn root(&self) -> Item {
        Item {
            name: Vec::new(),
            kind: Kind::Root,
            meta: None,
        }
    }

    /// Resolve `path` (`/`, `NAME`, `NAME/SAVE`, `NAME/latest/dir/file`...),
    /// following links in the last component as `follow` says. With
    /// [`Follow::Links`], absolute and dangling links, and links that would
    /// leave the save, resolve to the link itself.
    pub fn resolve(&self, path: &[u8], follow: Follow) -> Result<(Vec<Vec<u8>>, Item), Error> {
        let (names, item) = self.resolve_no_links(path, follow != Follow::Nothing)?;
        if follow != Follow::Links {
            return Ok((names, item));
        }
        let mut cur = (names.clone(), item.clone());
        for _ in 0..40 {
            let Kind::Symlink { .. } = cur.1.kind else {
                return Ok((
                    names,
                    Item {
                        name: item.name.clone(),
                        ..cur.1
                    },
                ));
            };
            let target = self.link_target(&cur.1, &cur.0)?;
            // Inside a save only: NAME/SAVE/... and never above SAVE.
            if target.starts_with(b"/") || cur.0.len() < 3 {
                break;
            }
            let mut comps: Vec<Vec<u8>> = cur.0[..cur.0.len() - 1].to_vec();
            let mut escaped = false;
            for c in target
                .split(|&b| b == b'/')
                .filter(|c| !c.is_empty() && *c != b".")
            {
                if c == b".." {
                    if comps.len() <= 2 {
                        escaped = true;
                        break;
                    }
                    comps.pop();
                } else {
                    comps.push(c.to_vec());
                }
            }
            if escaped {
                break;
            }
            let mut joined = Vec::new();
            for c in &comps {
                joined.push(b'/');
                joined.extend_from_slice(c);
            }
            match self.resolve_no_links(&joined, true) {
                Ok(next) => cur = next,
                Err(Error::NotFound { .. }) | Err(Error::NotADirectory { .. }) => break,
                Err(e) => return Err(e),
            }
        }
        Ok((names, item))
    }

    fn resolve_no_links(
        &self,
        path: &[u8],
        follow_last: bool,
    ) -> Result<(Vec<Vec<u8>>, Item), Error> {
        let comps: Vec<&[u8]> = path
            .split(|&c| c == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
            .collect();
        let mut stack: Vec<Item> = vec![self.root()];
        let mut names: Vec<Vec<u8>> = Vec::new();
        for (i, comp) in comps.iter().enumerate() {
            let last = i + 1 == comps.len();
            if *comp == b".." {
                if stack.len() > 1 {
                    stack.pop();
                    names.pop();
                }
                continue;
            }
            let here = stack.last().cloned().unwrap_or_else(|| self.root());
            if !here.is_dir() {
                return Err(Error::NotADirectory { path: show(&names) });
            }
            names.push(comp.to_vec());
            let mut child = self.child(&here, comp, &names)?;
            if let Kind::Latest { target } = &child.kind
                && (!last || follow_last)
            {
                child = self.child(&here, target.as_bytes(), &names)?;
                child.name = comp.to_vec();
            }
            stack.push(child);
        }
        let item = stack.pop().unwrap_or_else(|| self.root());
        Ok((names, item))
    }

    fn child(&self, dir: &Item, name: &[u8], path: &[Vec<u8>]) -> Result<Item, Error> {
        let not_found = || Error::NotFound { path: show(path) };
        match &dir.kind {
            Kind::Root if name == b".tag" => Ok(Item {
                name: name.to_vec(),
                kind: Kind::Tags,
                meta: None,
            }),
            Kind::Root => {
                let refname = format!("refs/heads/{}", String::from_utf8_lossy(name));
                match self.src.read_ref(&refname).map_err(self.read_err(path))? {
                    Some(tip) => Ok(Item {
                        name: name.to_vec(),
                        kind: Kind::Branch { tip },
                        meta: None,
                    }),
                    None => Err(not_found()),
                }
            }
            _ => {
                let want_meta = true;
                self.list(dir, path, want_meta)?
                    .into_iter()
                    .find(|c| c.name == name)
                    .ok_or_else(not_found)
            }
        }
    }

    /// The children of `dir`, sorted by name. `want_dir_meta` also reads each
    /// sub-directory's own metadata (one more tree and `.bupm` read each), as
    /// `ls -l` needs.
    pub fn list(
        &self,
        dir: &Item,
        path: &[Vec<u8>],
        want_dir_meta: bool,
    ) -> Result<Vec<Item>, Error> {
        match &dir.kind {
            Kind::Root => {
                let mut out = vec![Item {
                    name: b".tag".to_vec(),
                    kind: Kind::Tags,
                    meta: None,
                }];
                for (name, tip) in self.src.refs("refs/heads/").map_err(self.read_err(path))? {
                    // A branch shows the metadata of its newest save's root.
                    let meta = if want_dir_meta {
                        self.tip_meta(&tip, path)?
                    } else {
                        None
                    };
                    out.push(Item {
                        name: name.into_bytes(),
                        kind: Kind::Branch { tip },
                        meta,
                    });
                }
                out.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(out)
            }
            Kind::Tags => {
                let mut out = Vec::new();
                for (name, id) in self.src.refs("refs/tags/").map_err(self.read_err(path))? {
                    out.push(self.tag_item(name.into_bytes(), id, path, want_dir_meta)?);
                }
                Ok(out)
            }
            Kind::Branch { tip } => {
                let (saves, latest) = saves::saves(self.src, *tip).map_err(self.read_err(path))?;
                let mut out = Vec::with_capacity(saves.len() + 1);
                for s in saves {
                    let meta = if want_dir_meta {
                        self.dir_meta(&s.tree, path)?
                    } else {
                        None
                    };
                    out.push(Item {
                        name: s.name.into_bytes(),
                        kind: Kind::Save {
                            commit: s.commit,
                            tree: s.tree,
                        },
                        meta,
                    });
                }
                out.push(Item {
                    name: b"latest".to_vec(),
                    kind: Kind::Latest { target: latest },
                    meta: None,
                });
                out.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(out)
            }
            Kind::Save { tree, .. } | Kind::Dir { tree } => {
                let (_, items) = self.read_dir(tree, path, want_dir_meta)?;
                Ok(items)
            }
            _ => Err(Error::NotADirectory { path: show(path) }),
        }
    }

    fn tag_item(
        &self,
        name: Vec<u8>,
        id: ObjectId,
        path: &[Vec<u8>],
        want_meta: bool,
    ) -> Result<Item, Error> {
        let (kind, body) = self.src.read(&id).map_err(self.read_err(path))?;
        let kind = match kind {
            ObjectKind::Commit => {
                let c = crate::object::Commit::parse(&body).map_err(|e| Error::Malformed {
                    path: show(path),
                    what: "commit",
                    detail: e.to_string(),
                })?;
                Kind::Save {
                    commit: id,
                    tree: c.tree,
                }
            }
            ObjectKind::Tree => Kind::Dir { tree: id },
            _ => Kind::File { id, chunked: false },
        };
        let meta = match (&kind, want_meta) {
            (Kind::Save { tree, .. } | Kind::Dir { tree }, true) => self.dir_meta(tree, path)?,
            _ => None,
        };
        Ok(Item { name, kind, meta })
    }

    /// `item` with its own metadata filled in when it has none yet: a
    /// directory's or save's record 0, a branch's newest save's.
    pub fn with_meta(&self, mut item: Item, path: &[Vec<u8>]) -> Result<Item, Error> {
        if item.meta.is_none() {
            item.meta = match &item.kind {
                Kind::Dir { tree } | Kind::Save { tree, .. } => self.dir_meta(tree, path)?,
                Kind::Branch { tip } => self.tip_meta(tip, path)?,
                _ => None,
            };
        }
        Ok(item)
    }

    fn tip_meta(&self, tip: &ObjectId, path: &[Vec<u8>]) -> Result<Option<Metadata>, Error> {
        let body = read_kind(self.src, tip, ObjectKind::Commit).map_err(self.read_err(path))?;
        let c = crate::object::Commit::parse(&body).map_err(|e| Error::Malformed {
            path: show(path),
            what: "commit",
            detail: e.to_string(),
        })?;
        self.dir_meta(&c.tree, path)
    }

    /// The metadata of the directory whose tree is `tree` (record 0 of its
    /// `.bupm`), if recorded.
    pub fn dir_meta(&self, tree: &ObjectId, path: &[Vec<u8>]) -> Result<Option<Metadata>, Error> {
        let entries = self.read_tree(tree, path)?;
        match entries.iter().find(|e| e.name == BUPM) {
            None => Ok(None),
            Some(e) => {
                let bupm = self.read_bupm(e, path)?;
                let mut input = &bupm[..];
                Ok(meta::decode_record(&mut input).ok().flatten())
            }
        }
    }

    fn read_tree(&self, id: &ObjectId, path: &[Vec<u8>]) -> Result<Vec<TreeEntry>, Error> {
        let body = read_kind(self.src, id, ObjectKind::Tree).map_err(self.read_err(path))?;
        tree::parse_tree(&body).map_err(|e| Error::Malformed {
            path: show(path),
            what: "tree",
            detail: e.to_string(),
        })
    }

    fn read_bupm(&self, e: &TreeEntry, path: &[Vec<u8>]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.copy_content(&e.id, e.mode == MODE_TREE, path, &mut out)?;
        Ok(out)
    }

    /// Read a directory tree: its own metadata and its members (demangled,
    /// sorted by name, with metadata from `.bupm`).
    pub fn read_dir(
        &self,
        tree: &ObjectId,
        path: &[Vec<u8>],
        want_dir_meta: bool,
    ) -> Result<(Option<Metadata>, Vec<Item>), Error> {
        let entries = self.read_tree(tree, path)?;
        let mut bupm_entry = None;
        let mut members: Vec<(Vec<u8>, Mangled, &TreeEntry)> = Vec::with_capacity(entries.len());
        for e in &entries {
            let (name, how) = demangle(&e.name);
            if how == Mangled::Metadata {
                bupm_entry = Some(e);
                continue;
            }
            members.push((name.to_vec(), how, e));
        }
        // Records follow the bytewise order of the real names (stable).
        members.sort_by(|a, b| a.0.cmp(&b.0));
        let bupm = match bupm_entry {
            Some(e) => Some(self.read_bupm(e, path)?),
            None => None,
        };
        let mut records = bupm.as_deref().map(meta::RecordReader::new);
        let mut next_record = || -> Option<Metadata> {
            let r = records.as_mut()?;
            match r.next() {
                Some(Ok(m)) => m,
                // Damaged or missing records: defaults, as bup's readers do.
                _ => None,
            }
        };
        let own = next_record();
        let mut items = Vec::with_capacity(members.len());
        for (name, how, e) in members {
            let is_dir = e.mode == MODE_TREE && how != Mangled::Chunked;
            let kind = if is_dir {
                Kind::Dir { tree: e.id }
            } else if e.mode == MODE_SYMLINK {
                Kind::Symlink { id: e.id }
            } else {
                Kind::File {
                    id: e.id,
                    chunked: how == Mangled::Chunked,
                }
            };
            let meta = if is_dir {
                if want_dir_meta {
                    let mut sub = path.to_vec();
                    sub.push(name.clone());
                    self.dir_meta(&e.id, &sub)?
                } else {
                    None
                }
            } else {
                next_record()
            };
            items.push(Item { name, kind, meta });
        }
        Ok((own, items))
    }

    /// Write the content of a blob (or, when `chunked`, of the chunk tree
    /// `id`, blobs concatenated depth-first in tree order) to `out`; returns
    /// the number of bytes written.
    pub fn copy_content(
        &self,
        id: &ObjectId,
        chunked: bool,
        path: &[Vec<u8>],
        out: &mut dyn Write,
    ) -> Result<u64, Error> {
        let output = |source| Error::Output {
            path: show(path),
            source,
        };
        if !chunked {
            let body = read_kind(self.src, id, ObjectKind::Blob).map_err(self.read_err(path))?;
            out.write_all(&body).map_err(output)?;
            return Ok(body.len() as u64);
        }
        let mut total = 0;
        // Depth-first over the chunk tree without recursion.
        let mut stack: Vec<std::vec::IntoIter<TreeEntry>> =
            vec![self.read_tree(id, path)?.into_iter()];
        while let Some(top) = stack.last_mut() {
            match top.next() {
                None => {
                    stack.pop();
                }
                Some(e) if e.mode == MODE_TREE => {
                    if stack.len() > 64 {
                        return Err(Error::Malformed {
                            path: show(path),
                            what: "chunk tree",
                            detail: "nested more than 64 levels".into(),
                        });
                    }
                    stack.push(self.read_tree(&e.id, path)?.into_iter());
                }
                Some(e) => {
                    let body = read_kind(self.src, &e.id, ObjectKind::Blob)
                        .map_err(self.read_err(path))?;
                    out.write_all(&body).map_err(output)?;
                    total += body.len() as u64;
                }
            }
        }
        Ok(total)
    }

    /// The size of a file's content: from its metadata when recorded, else
    /// computed (a chunk tree's size from its last entries' offsets).
    pub fn size(&self, item: &Item, path: &[Vec<u8>]) -> Result<Option<u64>, Error> {
        if let Some(s) = item.meta.as_ref().and_then(|m| m.size) {
            return Ok(Some(s));
        }
        match &item.kind {
            Kind::File { id, chunked: false } | Kind::Symlink { id } => {
                let body =
                    read_kind(self.src, id, ObjectKind::Blob).map_err(self.read_err(path))?;
                Ok(Some(body.len() as u64))
            }
            Kind::File { id, chunked: true } => {
                let mut size = 0u64;
                let mut tree_id = *id;
                for _ in 0..64 {
                    let entries = self.read_tree(&tree_id, path)?;
                    let Some(last) = entries.last() else { break };
                    let off = std::str::from_utf8(&last.name)
                        .ok()
                        .and_then(|s| u64::from_str_radix(s, 16).ok())
                        .unwrap_or(0);
                    size += off;
                    if last.mode == MODE_TREE {
                        tree_id = last.id;
                    } else {
                        let b = read_kind(self.src, &last.id, ObjectKind::Blob)
                            .map_err(self.read_err(path))?;
                        size += b.len() as u64;
                        break;
                    }
                }
                Ok(Some(size))
            }
            Kind::Latest { target } => Ok(Some(target.len() as u64)),
            _ => Ok(None),
        }
    }

    /// A symlink's target.
    pub fn link_target(&self, item: &Item, path: &[Vec<u8>]) -> Result<Vec<u8>, Error> {
        match &item.kind {
            Kind::Latest { target } => Ok(target.as_bytes().to_vec()),
            Kind::Symlink { id } => {
                if let Some(t) = item.meta.as_ref().and_then(|m| m.symlink_target.clone()) {
                    return Ok(t);
                }
                read_kind(self.src, id, ObjectKind::Blob).map_err(self.read_err(path))
            }
            _ => Ok(Vec::new()),
        }
    }
}

/// Metadata to show or apply for `item`: the recorded one, or bup's defaults
/// for its kind (bup-format.md §4.5).
pub fn effective_meta(item: &Item) -> Metadata {
    if let Some(m) = &item.meta {
        return m.clone();
    }
    let git_mode = match &item.kind {
        Kind::Symlink { .. } | Kind::Latest { .. } => MODE_SYMLINK,
        Kind::File { chunked: false, .. } => crate::object::MODE_FILE,
        Kind::File { chunked: true, .. } => crate::object::MODE_FILE,
        _ => MODE_TREE,
    };
    Metadata::default_for_git_mode(git_mode).unwrap_or_default()
}
