//! Which objects a repository already has: the union of every
//! `objects/pack/*.idx` (bup-format.md §1.4). Loose objects are not
//! consulted, exactly as bup does not; we never write any.

use crate::oid::ObjectId;
use crate::pack::Idx;
use std::path::{Path, PathBuf};

/// Errors loading the object index.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pack directory could not be listed.
    #[error("cannot list {path}: {source}")]
    List {
        /// `objects/pack`.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An idx file is unreadable or corrupt.
    #[error(
        "pack index {path} is unreadable or corrupt: {source} (run `git verify-pack` on it; restore it from a mirror or re-create it with `git index-pack`)"
    )]
    Idx {
        /// The idx file.
        path: PathBuf,
        /// The cause.
        source: crate::pack::idx::Error,
    },
}

/// All pack indexes of a repository.
#[derive(Default)]
pub struct ObjectIndex {
    idxs: Vec<(String, Idx)>,
}

impl ObjectIndex {
    /// Load every `*.idx` in `pack_dir` whose `.pack` exists.
    pub fn load(pack_dir: &Path) -> Result<ObjectIndex, Error> {
        let list = |source| Error::List {
            path: pack_dir.to_path_buf(),
            source,
        };
        let mut names = Vec::new();
        for e in std::fs::read_dir(pack_dir).map_err(list)? {
            let e = e.map_err(list)?;
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(stem) = name.strip_suffix(".idx")
                && stem.starts_with("pack-")
                && pack_dir.join(format!("{stem}.pack")).is_file()
            {
                names.push(stem.to_string());
            }
        }
        names.sort();
        let mut idxs = Vec::with_capacity(names.len());
        for stem in names {
            let path = pack_dir.join(format!("{stem}.idx"));
            let idx = Idx::open(&path).map_err(|source| Error::Idx { path, source })?;
            idxs.push((stem, idx));
        }
        Ok(ObjectIndex { idxs })
    }

    /// Whether any pack holds `id`.
    pub fn contains(&self, id: &ObjectId) -> bool {
        self.idxs.iter().any(|(_, i)| i.contains(id))
    }

    /// Add a pack that was just written.
    pub fn add(&mut self, stem: String, idx: Idx) {
        self.idxs.push((stem, idx));
    }

    /// Number of packs.
    pub fn pack_count(&self) -> usize {
        self.idxs.len()
    }

    /// Total number of objects over all packs (duplicates counted per pack).
    pub fn object_count(&self) -> usize {
        self.idxs.iter().map(|(_, i)| i.len()).sum()
    }
}
