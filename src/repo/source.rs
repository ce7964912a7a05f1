//! The narrow read interface that `ls`, `cat-file`, `join` and `restore` use:
//! [`ObjectSource`], the mirror of [`super::ObjectSink`]. [`LocalSource`]
//! reads a local repository; a remote or S3 reader can implement the same
//! trait without touching the read path.
//!
//! Every object is verified (its SHA-1 must match its id), so a flipped bit
//! on disk is reported as a corrupt object, never returned as data. A pack
//! that cannot be opened does not make the repository unreadable: objects
//! listed in its idx are reported as corrupt, naming the pack; all others
//! read normally.

use super::{Repo, refs};
use crate::oid::{ObjectId, ObjectKind};
use crate::pack::{Idx, Pack};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Errors reading objects or refs.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// No pack (or loose object) holds the object.
    #[error("object {0} is missing from the repository")]
    Missing(ObjectId),
    /// The object is stored but damaged (bad zlib, wrong hash, truncated
    /// pack, broken delta, unreadable pack).
    #[error("object {id} is corrupt: {detail}")]
    Corrupt {
        /// The object.
        id: ObjectId,
        /// What is wrong, naming the pack file.
        detail: String,
    },
    /// The object exists but is not of the kind the caller needs.
    #[error("object {id} is a {found}, expected a {wanted}")]
    WrongKind {
        /// The object.
        id: ObjectId,
        /// What it is.
        found: ObjectKind,
        /// What was wanted.
        wanted: ObjectKind,
    },
    /// A ref could not be read.
    #[error(transparent)]
    Ref(#[from] refs::Error),
    /// The pack directory could not be listed.
    #[error("cannot list {path}: {source}")]
    List {
        /// `objects/pack`.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A remote source failed (used by remote implementations).
    #[error("{0}")]
    Other(String),
}

/// Where the read path gets objects and refs.
pub trait ObjectSource: Send + Sync {
    /// Read and verify one object.
    fn read(&self, id: &ObjectId) -> Result<(ObjectKind, Vec<u8>), ReadError>;
    /// Read one blob whose bytes are about to be written out (restore).
    /// A source may check it more cheaply than [`ObjectSource::read`]
    /// does, as long as damage is still caught: a local pack checks the
    /// idx's CRC-32 and zlib's Adler-32 instead of re-hashing (see
    /// [`crate::pack::Pack::read_checked`]). By default, the same as `read`.
    fn read_blob(&self, id: &ObjectId) -> Result<Vec<u8>, ReadError> {
        expect_kind(id, self.read(id)?, ObjectKind::Blob)
    }
    /// The object a ref points at, if the ref exists.
    fn read_ref(&self, refname: &str) -> Result<Option<ObjectId>, ReadError>;
    /// All refs under `prefix` (e.g. `refs/heads/`), with the prefix removed,
    /// sorted by name.
    fn refs(&self, prefix: &str) -> Result<Vec<(String, ObjectId)>, ReadError>;
}

/// Read an object that must be of `kind`.
pub fn read_kind(
    src: &dyn ObjectSource,
    id: &ObjectId,
    kind: ObjectKind,
) -> Result<Vec<u8>, ReadError> {
    expect_kind(id, src.read(id)?, kind)
}

/// The body of an object that was read, if it is of the `wanted` kind.
fn expect_kind(
    id: &ObjectId,
    (found, body): (ObjectKind, Vec<u8>),
    wanted: ObjectKind,
) -> Result<Vec<u8>, ReadError> {
    if found != wanted {
        return Err(ReadError::WrongKind {
            id: *id,
            found,
            wanted,
        });
    }
    Ok(body)
}

enum PackSlot {
    Open(Pack),
    Broken { idx: Idx, why: String },
}

/// Objects and refs of a local repository.
pub struct LocalSource {
    repo: Repo,
    packs: Vec<PackSlot>,
}

impl LocalSource {
    /// Open every pack of `repo`. Packs that cannot be opened are kept as
    /// broken (their objects read as corrupt) when their idx is readable, and
    /// skipped otherwise; `on_warning` hears about each.
    pub fn open(repo: &Repo, on_warning: &mut dyn FnMut(String)) -> Result<LocalSource, ReadError> {
        let dir = repo.pack_dir();
        let list = |source| ReadError::List {
            path: dir.clone(),
            source,
        };
        let mut stems = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(list)? {
            let e = e.map_err(list)?;
            if let Some(stem) = e
                .file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".idx"))
                .filter(|s| s.starts_with("pack-"))
            {
                stems.push(stem.to_string());
            }
        }
        stems.sort();
        let mut packs = Vec::with_capacity(stems.len());
        for stem in stems {
            let idx_path = dir.join(format!("{stem}.idx"));
            let pack_path = dir.join(format!("{stem}.pack"));
            if !pack_path.exists() {
                continue; // an idx published without its pack (see pack::recover)
            }
            let idx = match Idx::open(&idx_path) {
                Ok(i) => i,
                Err(e) => {
                    on_warning(format!(
                        "skipping unreadable pack index {}: {e}",
                        idx_path.display()
                    ));
                    continue;
                }
            };
            match Pack::open(&pack_path, idx) {
                Ok(p) => packs.push(PackSlot::Open(p)),
                Err(e) => {
                    let why = format!("{e}");
                    on_warning(format!("{why}; objects in it cannot be read"));
                    if let Ok(idx) = Idx::open(&idx_path) {
                        packs.push(PackSlot::Broken { idx, why });
                    }
                }
            }
        }
        Ok(LocalSource {
            repo: repo.clone(),
            packs,
        })
    }

    fn read_packed(
        &self,
        id: &ObjectId,
        depth: usize,
        checked: bool,
    ) -> Option<Result<(ObjectKind, Vec<u8>), ReadError>> {
        for slot in &self.packs {
            match slot {
                PackSlot::Broken { idx, why } if idx.contains(id) => {
                    return Some(Err(ReadError::Corrupt {
                        id: *id,
                        detail: why.clone(),
                    }));
                }
                PackSlot::Broken { .. } => {}
                PackSlot::Open(p) => {
                    // REF_DELTA bases in other packs (git repack can make them).
                    let resolve = |base: &ObjectId| {
                        if depth > 64 {
                            return None;
                        }
                        self.read_depth(base, depth + 1, false).ok()
                    };
                    let read = if checked {
                        p.read_checked(id, &resolve)
                    } else {
                        p.read_verified(id, &resolve)
                    };
                    // The read looks the id up in this pack's idx itself.
                    return Some(match read {
                        Ok(Some(found)) => Ok(found),
                        Ok(None) => continue,
                        Err(e) => Err(ReadError::Corrupt {
                            id: *id,
                            detail: causes(&e),
                        }),
                    });
                }
            }
        }
        None
    }

    /// Read `id` from the packs (`checked`: see [`Pack::read_checked`]),
    /// else as a loose object (always fully verified).
    fn read_depth(
        &self,
        id: &ObjectId,
        depth: usize,
        checked: bool,
    ) -> Result<(ObjectKind, Vec<u8>), ReadError> {
        if let Some(r) = self.read_packed(id, depth, checked) {
            return r;
        }
        read_loose(&self.repo.path().join("objects"), id)
    }
}

/// An error and its sources, `: `-separated.
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Read a loose object (`objects/xx/yyyy…`), which bup never writes but a
/// user's `git` may have.
fn read_loose(objects: &Path, id: &ObjectId) -> Result<(ObjectKind, Vec<u8>), ReadError> {
    let hex = id.to_hex();
    let path = objects.join(&hex[..2]).join(&hex[2..]);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ReadError::Missing(*id)),
        Err(e) => {
            return Err(ReadError::Corrupt {
                id: *id,
                detail: format!("{}: {e}", path.display()),
            });
        }
    };
    let corrupt = |why: &str| ReadError::Corrupt {
        id: *id,
        detail: format!("loose object {}: {why}", path.display()),
    };
    let limit = file
        .metadata()
        .map(|m| m.len())
        .unwrap_or(0)
        .saturating_mul(1100)
        + (1 << 20);
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(file)
        .take(limit)
        .read_to_end(&mut raw)
        .map_err(|e| corrupt(&e.to_string()))?;
    let nul = raw
        .iter()
        .position(|&c| c == 0)
        .ok_or_else(|| corrupt("no header"))?;
    let header = &raw[..nul];
    let sp = header
        .iter()
        .position(|&c| c == b' ')
        .ok_or_else(|| corrupt("bad header"))?;
    let kind =
        ObjectKind::from_name(&header[..sp]).ok_or_else(|| corrupt("unknown object type"))?;
    let len: usize = std::str::from_utf8(&header[sp + 1..])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| corrupt("bad size"))?;
    let body = raw.split_off(nul + 1);
    if body.len() != len {
        return Err(corrupt("size does not match its header"));
    }
    let actual = ObjectId::hash_object(kind, &body);
    if actual != *id {
        return Err(corrupt(&format!("content hashes to {actual}")));
    }
    Ok((kind, body))
}

impl ObjectSource for LocalSource {
    fn read(&self, id: &ObjectId) -> Result<(ObjectKind, Vec<u8>), ReadError> {
        self.read_depth(id, 0, false)
    }

    fn read_blob(&self, id: &ObjectId) -> Result<Vec<u8>, ReadError> {
        expect_kind(id, self.read_depth(id, 0, true)?, ObjectKind::Blob)
    }

    fn read_ref(&self, refname: &str) -> Result<Option<ObjectId>, ReadError> {
        Ok(refs::read_ref(&self.repo, refname)?)
    }

    fn refs(&self, prefix: &str) -> Result<Vec<(String, ObjectId)>, ReadError> {
        Ok(refs::list_refs(&self.repo, prefix)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::RepoLock;
    use crate::repo::sink::{LocalSink, ObjectSink, store};
    use std::time::Duration;

    #[test]
    fn reads_what_was_written_and_names_damage() {
        let td = tempfile::tempdir().unwrap();
        let repo = Repo::init(&td.path().join("r"), None).unwrap();
        let lock = RepoLock::acquire(repo.path(), Duration::ZERO, &mut |_| {}).unwrap();
        let sink = LocalSink::new(&repo, lock).unwrap();
        let a = store(&sink, ObjectKind::Blob, b"hello\n").unwrap();
        sink.flush().unwrap();
        drop(sink);
        let src = LocalSource::open(&repo, &mut |w| panic!("{w}")).unwrap();
        assert_eq!(
            src.read(&a).unwrap(),
            (ObjectKind::Blob, b"hello\n".to_vec())
        );
        let missing = ObjectId::hash_object(ObjectKind::Blob, b"nope");
        assert!(matches!(src.read(&missing), Err(ReadError::Missing(_))));
        assert!(matches!(
            read_kind(&src, &a, ObjectKind::Tree),
            Err(ReadError::WrongKind { .. })
        ));

        // Truncate the pack: the source still opens, the object is corrupt.
        let pack = std::fs::read_dir(repo.pack_dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "pack"))
            .unwrap();
        let len = std::fs::metadata(&pack).unwrap().len();
        let mut perm = std::fs::metadata(&pack).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perm.set_readonly(false);
        std::fs::set_permissions(&pack, perm).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&pack)
            .unwrap()
            .set_len(len - 10)
            .unwrap();
        let mut warnings = Vec::new();
        let src = LocalSource::open(&repo, &mut |w| warnings.push(w)).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let err = src.read(&a).unwrap_err();
        assert!(matches!(err, ReadError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains(&a.to_hex()));
    }

    #[test]
    fn reads_loose_objects_written_by_git() {
        let td = tempfile::tempdir().unwrap();
        let repo = Repo::init(&td.path().join("r"), None).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "printf 'loose\\n' | git --git-dir {} hash-object -w --stdin",
                repo.path().display()
            ))
            .output()
            .unwrap();
        let id =
            ObjectId::from_hex(String::from_utf8_lossy(&out.stdout).trim().as_bytes()).unwrap();
        let src = LocalSource::open(&repo, &mut |_| {}).unwrap();
        assert_eq!(
            src.read(&id).unwrap(),
            (ObjectKind::Blob, b"loose\n".to_vec())
        );
    }
}
