//! Writing a pack file and its idx, crash-safely.
//!
//! Owns the write order that keeps a repository consistent if the process
//! dies at any point: entries go to `objects/pack/backup-tmp-pack-<random>`;
//! at the end the object count is patched, the SHA-1 trailer appended and the
//! file fsynced; the idx is written to `backup-tmp-idx-<random>` and fsynced;
//! both are made read-only (as git does); then the idx is renamed to
//! `pack-<sha>.idx` and the pack to `pack-<sha>.pack`, and the directory is
//! fsynced. A writer that is dropped unfinished removes its temporary files.
//! Deciding which objects to write (dedup) is the caller's job.
//!
//! Why the idx is published first: a kill between the two renames leaves one
//! file without the other. A `.pack` without its `.idx` makes `bup fsck`
//! fail; an `.idx` without its `.pack` is ignored by git and by `bup fsck`,
//! and [`recover`] (run by the next writer, under the repository lock)
//! completes the publication from the temp pack or removes the idx.

use crate::oid::ObjectId;
use crate::pack::entry::PackedObject;
use crate::pack::idx::write_idx_v2;
use sha1::{Digest, Sha1};
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// Returned by [`PackWriter`] methods.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error("{action} {path}")]
    Io {
        /// What was being done ("writing", "renaming", ...).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A previous write failed, so the pack's contents are unknown.
    #[error("pack {path} is unusable after an earlier write error: {cause}")]
    Poisoned {
        /// The temporary pack file.
        path: PathBuf,
        /// What the first failed write reported (e.g. "No space left on
        /// device"), so whichever thread reports the failure names it.
        cause: String,
    },
    /// A pack cannot hold more than 2^32 - 1 objects.
    #[error("pack {path} already holds the maximum number of objects")]
    TooManyObjects {
        /// The temporary pack file.
        path: PathBuf,
    },
}

/// The no-op default failpoint hook.
fn no_failpoint(_: &'static str) {}

static FAILPOINT_SET: AtomicBool = AtomicBool::new(false);
static FAILPOINT_HOOK: RwLock<fn(&'static str)> = RwLock::new(no_failpoint);

/// Install the function called at named points of [`PackWriter::append`]
/// (`"pack-append"`) and [`PackWriter::finish`] (`"pack-before-trailer"`,
/// `"pack-after-fsync"`, `"pack-after-idx-write"`, `"pack-after-pack-rename"`,
/// `"pack-after-idx-rename"`). Used by crash tests, which kill the process at
/// a chosen point. Replaces any earlier hook; the default does nothing and
/// costs one atomic load per point.
pub fn set_failpoint_hook(f: fn(&'static str)) {
    if let Ok(mut hook) = FAILPOINT_HOOK.write() {
        *hook = f;
    }
    FAILPOINT_SET.store(true, Ordering::Release);
}

fn failpoint(name: &'static str) {
    if FAILPOINT_SET.load(Ordering::Acquire) {
        let hook = match FAILPOINT_HOOK.read() {
            Ok(h) => *h,
            Err(poisoned) => *poisoned.into_inner(),
        };
        hook(name);
    }
}

/// A pack that was finished and renamed into place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinishedPack {
    /// `pack-<hex of the trailer SHA-1>`.
    pub name: String,
    /// `<pack_dir>/<name>.pack`.
    pub pack_path: PathBuf,
    /// `<pack_dir>/<name>.idx`.
    pub idx_path: PathBuf,
    /// Number of objects in the pack.
    pub object_count: u32,
}

/// Hashes an [`ObjectId`] by its first 8 bytes: ids are already uniformly
/// distributed, so SipHash would be wasted work.
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // ObjectId hashes as one 20-byte slice write (plus nothing else).
        for (i, b) in bytes.iter().take(8).enumerate() {
            self.0 ^= u64::from(*b) << (8 * i);
        }
    }
    fn write_usize(&mut self, _: usize) {}
}

#[derive(Default, Clone, Copy)]
struct BuildIdHasher;

impl BuildHasher for BuildIdHasher {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

/// The ids appended to a pack, taken out with [`PackWriter::take_ids`] so
/// others can look them up while the pack is being finished.
pub struct IdSet(HashSet<ObjectId, BuildIdHasher>);

impl IdSet {
    /// Whether `id` is in the set.
    pub fn contains(&self, id: &ObjectId) -> bool {
        self.0.contains(id)
    }
}

/// Size of the write buffer in front of the pack file.
const WRITE_BUFFER: usize = 1 << 20;

/// Appends entries to a new pack file; see the module docs for the write order.
///
/// Not `Sync`: callers that share one writer wrap it in a `Mutex`.
pub struct PackWriter {
    dir: PathBuf,
    tmp_pack: PathBuf,
    out: Option<BufWriter<File>>,
    offset: u64,
    entries: Vec<(ObjectId, u32, u64)>,
    ids: HashSet<ObjectId, BuildIdHasher>,
    /// The first write error, once one happened.
    poisoned: Option<String>,
    /// Temporary files to remove if the writer is dropped unfinished.
    cleanup: Vec<PathBuf>,
}

impl std::fmt::Debug for PackWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackWriter")
            .field("tmp_pack", &self.tmp_pack)
            .field("objects", &self.entries.len())
            .field("bytes", &self.offset)
            .finish()
    }
}

/// A name suffix that is unlikely to collide: process id, time and a
/// per-process counter, mixed by the std library's randomly keyed hasher.
fn random_suffix() -> String {
    use std::sync::atomic::AtomicU64;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    format!("{:016x}", h.finish())
}

/// Prefix of temporary pack files (ours only, so [`recover`] may remove them).
pub const TMP_PACK: &str = "backup-tmp-pack-";
/// Prefix of temporary idx files.
pub const TMP_IDX: &str = "backup-tmp-idx-";

/// What [`recover`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Packs whose publication was completed (`pack-<hex>`).
    pub completed: Vec<String>,
    /// Idx files removed because their pack was never written.
    pub removed_idx: Vec<String>,
    /// Temporary files removed.
    pub removed_tmp: usize,
}

/// Repair what a writer killed mid-way left in `pack_dir`: an `.idx`
/// published without its `.pack` gets its pack from the matching temporary
/// file (same trailer) or is removed; our leftover temporary files are
/// removed. Call only while holding the repository lock.
pub fn recover(pack_dir: &Path) -> Result<Recovery, Error> {
    let io = |action: &'static str, path: &Path, source| Error::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let mut rec = Recovery::default();
    let mut names = Vec::new();
    for e in std::fs::read_dir(pack_dir).map_err(|e| io("listing", pack_dir, e))? {
        let e = e.map_err(|e| io("listing", pack_dir, e))?;
        if let Some(n) = e.file_name().to_str() {
            names.push(n.to_string());
        }
    }
    let tmp_packs: Vec<&String> = names.iter().filter(|n| n.starts_with(TMP_PACK)).collect();
    for n in &names {
        let Some(stem) = n.strip_suffix(".idx").filter(|s| s.starts_with("pack-")) else {
            continue;
        };
        let pack = pack_dir.join(format!("{stem}.pack"));
        if pack.exists() {
            continue;
        }
        let want = ObjectId::from_hex(&stem.as_bytes()["pack-".len()..]).ok();
        let found = tmp_packs.iter().find(|t| {
            let p = pack_dir.join(t);
            want.is_some_and(|w| trailer_of(&p).is_some_and(|t| t == *w.as_bytes()))
        });
        match found {
            Some(t) => {
                std::fs::rename(pack_dir.join(t), &pack).map_err(|e| io("renaming", &pack, e))?;
                rec.completed.push(stem.to_string());
            }
            None => {
                let idx = pack_dir.join(n);
                std::fs::remove_file(&idx).map_err(|e| io("removing", &idx, e))?;
                rec.removed_idx.push(stem.to_string());
            }
        }
    }
    for n in &names {
        if n.starts_with(TMP_PACK) || n.starts_with(TMP_IDX) {
            let p = pack_dir.join(n);
            if p.exists() {
                std::fs::remove_file(&p).map_err(|e| io("removing", &p, e))?;
                rec.removed_tmp += 1;
            }
        }
    }
    if rec != Recovery::default() {
        File::open(pack_dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("syncing", pack_dir, e))?;
    }
    Ok(rec)
}

/// The last 20 bytes of a finished (temp) pack, checked against its content.
fn trailer_of(path: &Path) -> Option<[u8; 20]> {
    let f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    if len < 32 {
        return None;
    }
    let mut t = [0u8; 20];
    f.read_exact_at(&mut t, len - 20).ok()?;
    (hash_file(&f, len - 20).ok()? == t).then_some(t)
}

/// Create a new file `<dir>/<prefix><random>` that did not exist before.
fn create_temp(dir: &Path, prefix: &str) -> Result<(PathBuf, File), Error> {
    let mut last = None;
    for _ in 0..100 {
        let path = dir.join(format!("{prefix}{}", random_suffix()));
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some((path, e)),
            Err(source) => {
                return Err(Error::Io {
                    action: "creating",
                    path,
                    source,
                });
            }
        }
    }
    let (path, source) = last.unwrap_or_else(|| (dir.to_path_buf(), io::ErrorKind::Other.into()));
    Err(Error::Io {
        action: "creating",
        path,
        source,
    })
}

impl PackWriter {
    /// Start a new pack as a temporary file `backup-tmp-pack-<random>`
    /// inside `pack_dir` (normally `<repo>/objects/pack`, which must exist).
    pub fn create(pack_dir: &Path) -> Result<PackWriter, Error> {
        let (tmp_pack, file) = create_temp(pack_dir, TMP_PACK)?;
        let mut w = PackWriter {
            dir: pack_dir.to_path_buf(),
            tmp_pack: tmp_pack.clone(),
            out: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
            offset: 0,
            entries: Vec::new(),
            ids: HashSet::default(),
            poisoned: None,
            cleanup: vec![tmp_pack],
        };
        // Version 2, object count patched by `finish`.
        w.write(b"PACK\0\0\0\x02\0\0\0\0")?;
        Ok(w)
    }

    fn io_err(&self, action: &'static str, path: &Path, source: io::Error) -> Error {
        Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if let Some(cause) = &self.poisoned {
            return Err(Error::Poisoned {
                path: self.tmp_pack.clone(),
                cause: cause.clone(),
            });
        }
        let result = match self.out.as_mut() {
            Some(out) => out.write_all(bytes),
            None => Err(io::ErrorKind::NotConnected.into()),
        };
        match result {
            Ok(()) => {
                self.offset += bytes.len() as u64;
                Ok(())
            }
            Err(source) => {
                self.poisoned = Some(source.to_string());
                Err(self.io_err("writing", &self.tmp_pack, source))
            }
        }
    }

    /// Append an entry. Does not check for duplicates: the caller guarantees
    /// that each id is appended once (see [`PackWriter::contains`]).
    pub fn append(&mut self, obj: &PackedObject) -> Result<(), Error> {
        failpoint("pack-append");
        if self.entries.len() >= u32::MAX as usize {
            return Err(Error::TooManyObjects {
                path: self.tmp_pack.clone(),
            });
        }
        let at = self.offset;
        self.write(&obj.data)?;
        self.entries.push((obj.id, obj.crc32, at));
        self.ids.insert(obj.id);
        Ok(())
    }

    /// Number of objects appended so far.
    pub fn object_count(&self) -> u32 {
        self.entries.len() as u32
    }

    /// Bytes of pack written so far (header and entries; no trailer yet).
    pub fn bytes_written(&self) -> u64 {
        self.offset
    }

    /// True if `id` was appended to this pack.
    pub fn contains(&self, id: &ObjectId) -> bool {
        self.ids.contains(id)
    }

    /// Move the set of appended ids out of the writer (for lookups while it
    /// is finished elsewhere); [`PackWriter::contains`] is false afterwards.
    pub fn take_ids(&mut self) -> IdSet {
        IdSet(std::mem::take(&mut self.ids))
    }

    /// The temporary pack file being written.
    pub fn temp_path(&self) -> &Path {
        &self.tmp_pack
    }

    /// Finish the pack: patch the object count, append the SHA-1 trailer,
    /// fsync, write the idx v2 to a temporary file and fsync it, rename the
    /// idx to `pack-<hex>.idx`, then the pack to `pack-<hex>.pack`, and fsync
    /// the directory. With zero objects, removes the temporary file and
    /// returns `Ok(None)`. On error the temporary files are removed.
    pub fn finish(mut self) -> Result<Option<FinishedPack>, Error> {
        if let Some(cause) = &self.poisoned {
            return Err(Error::Poisoned {
                path: self.tmp_pack.clone(),
                cause: cause.clone(),
            });
        }
        let Some(out) = self.out.take() else {
            return Err(Error::Poisoned {
                path: self.tmp_pack.clone(),
                cause: "the pack was already finished".into(),
            });
        };
        let file = out
            .into_inner()
            .map_err(|e| self.io_err("writing", &self.tmp_pack, e.into_error()))?;
        if self.entries.is_empty() {
            drop(file);
            return Ok(None); // Drop removes the temporary file.
        }
        let count = self.entries.len() as u32;
        file.write_all_at(&count.to_be_bytes(), 8)
            .map_err(|e| self.io_err("writing", &self.tmp_pack, e))?;
        let sha = hash_file(&file, self.offset)
            .map_err(|e| self.io_err("reading back", &self.tmp_pack, e))?;
        failpoint("pack-before-trailer");
        file.write_all_at(&sha, self.offset)
            .map_err(|e| self.io_err("writing", &self.tmp_pack, e))?;
        file.sync_all()
            .map_err(|e| self.io_err("syncing", &self.tmp_pack, e))?;
        drop(file);
        failpoint("pack-after-fsync");

        let idx_bytes = write_idx_v2(&mut self.entries, &sha);
        let (tmp_idx, mut idx_file) = create_temp(&self.dir, TMP_IDX)?;
        self.cleanup.push(tmp_idx.clone());
        idx_file
            .write_all(&idx_bytes)
            .and_then(|()| idx_file.sync_all())
            .map_err(|e| self.io_err("writing", &tmp_idx, e))?;
        drop(idx_file);
        failpoint("pack-after-idx-write");

        let name = format!("pack-{}", ObjectId(sha).to_hex());
        let pack_path = self.dir.join(format!("{name}.pack"));
        let idx_path = self.dir.join(format!("{name}.idx"));
        if idx_path.exists() && pack_path.exists() {
            // The very same pack (same objects, same order) is already
            // published; ours is a duplicate. Keep theirs.
            return Ok(Some(FinishedPack {
                name,
                pack_path,
                idx_path,
                object_count: count,
            }));
        }
        for p in [&self.tmp_pack, &tmp_idx] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o444))
                .map_err(|e| self.io_err("making read-only", p, e))?;
        }
        std::fs::rename(&tmp_idx, &idx_path).map_err(|e| self.io_err("renaming", &tmp_idx, e))?;
        self.cleanup.retain(|p| *p != tmp_idx);
        // Make the idx durable before the pack appears, so no crash (even a
        // power loss that reorders renames) can leave the pack without it.
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.io_err("syncing", &self.dir, e))?;
        failpoint("pack-after-idx-rename");
        if let Err(e) = std::fs::rename(&self.tmp_pack, &pack_path) {
            // Never leave an idx whose pack is missing (it was ours: the
            // duplicate case returned above).
            let _ = std::fs::remove_file(&idx_path);
            return Err(self.io_err("renaming", &self.tmp_pack, e));
        }
        self.cleanup.clear();
        failpoint("pack-after-pack-rename");
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.io_err("syncing", &self.dir, e))?;
        Ok(Some(FinishedPack {
            name,
            pack_path,
            idx_path,
            object_count: count,
        }))
    }

    /// Give up on the pack and remove its temporary files (also done on drop
    /// if neither `finish` nor `abort` ran).
    pub fn abort(self) {
        drop(self);
    }
}

impl Drop for PackWriter {
    fn drop(&mut self) {
        drop(self.out.take());
        for path in self.cleanup.drain(..) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// SHA-1 of the first `len` bytes of `file`, read back in 1 MiB pieces.
///
/// The count at offset 8 is only known at the end, and SHA-1 cannot be
/// patched, so the trailer needs one pass over the (page-cached) file.
fn hash_file(file: &File, len: u64) -> io::Result<[u8; 20]> {
    let mut h = Sha1::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0u64;
    while at < len {
        let want = usize::try_from((len - at).min(buf.len() as u64)).unwrap_or(buf.len());
        let piece = &mut buf[..want];
        file.read_exact_at(piece, at)?;
        h.update(&*piece);
        at += want as u64;
    }
    Ok(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::{Commit, MODE_FILE, MODE_TREE, Signature, TreeEntry, tree::encode_tree};
    use crate::oid::ObjectKind;
    use crate::pack::entry::{Compression, encode_object, stored_zlib_len};
    use crate::pack::read::parse_entry_header;
    use crate::pack::testutil::{git, parse_batch, random_bytes, text_bytes};
    use crate::pack::{Idx, Pack};
    use std::collections::HashMap;

    /// Blobs of the sizes the task names, plus a tree holding them, a subtree
    /// and a commit: (objects in write order, commit id).
    fn assorted_objects() -> (Vec<(ObjectKind, Vec<u8>)>, ObjectId) {
        let mut blobs: Vec<Vec<u8>> = [0usize, 1, 15, 16, 127, 128, 2047, 2048, 16 * 1024]
            .iter()
            .map(|&n| text_bytes(n, n as u64))
            .collect();
        blobs.push(random_bytes(1 << 20, 77)); // 1 MiB random
        blobs.push(random_bytes(64 * 1024, 78)); // 64 KiB random
        blobs.push(b"abcd".repeat(300_000)); // highly compressible, 1.2 MB
        blobs.push(vec![0u8; 70_000]); // > one stored block of zeros
        let mut objects: Vec<(ObjectKind, Vec<u8>)> = Vec::new();
        let mut entries = Vec::new();
        for (i, b) in blobs.iter().enumerate() {
            entries.push(TreeEntry::new(
                MODE_FILE,
                format!("b{i:02}"),
                ObjectId::hash_object(ObjectKind::Blob, b),
            ));
            objects.push((ObjectKind::Blob, b.clone()));
        }
        let sub = encode_tree(&mut entries[..2].to_vec());
        let sub_id = ObjectId::hash_object(ObjectKind::Tree, &sub);
        objects.push((ObjectKind::Tree, sub));
        entries.push(TreeEntry::new(MODE_TREE, "sub", sub_id));
        let root = encode_tree(&mut entries);
        let root_id = ObjectId::hash_object(ObjectKind::Tree, &root);
        objects.push((ObjectKind::Tree, root));
        let who = Signature {
            name: b"Pack Test".to_vec(),
            email: b"pack@example.com".to_vec(),
            time: 1_700_000_000,
            tz_minutes: 60,
        };
        let commit = Commit {
            tree: root_id,
            parents: vec![],
            author: who.clone(),
            committer: who,
            message: b"pack test\n".to_vec(),
        }
        .encode();
        let commit_id = ObjectId::hash_object(ObjectKind::Commit, &commit);
        objects.push((ObjectKind::Commit, commit));
        (objects, commit_id)
    }

    fn pack_dir_entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The main compatibility test: git must accept our pack and idx exactly.
    #[test]
    fn git_accepts_written_pack_and_idx_byte_for_byte() {
        let tmp = tempfile::tempdir().unwrap();
        git(tmp.path(), &["init", "-q", "--bare", "r.git"], None);
        let repo = tmp.path().join("r.git");
        let pack_dir = repo.join("objects/pack");
        let (objects, commit_id) = assorted_objects();
        let mut w = PackWriter::create(&pack_dir).unwrap();
        assert!(
            w.temp_path()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(TMP_PACK)
        );
        let mut expected: HashMap<ObjectId, (ObjectKind, Vec<u8>)> = HashMap::new();
        for (i, (kind, body)) in objects.iter().enumerate() {
            // Exercise every level, including stored (0) and the maximum.
            let level = [1, 0, 6, 12, 9][i % 5];
            let obj = encode_object(*kind, body, Compression { level });
            assert!(!w.contains(&obj.id));
            w.append(&obj).unwrap();
            assert!(w.contains(&obj.id));
            expected.insert(obj.id, (*kind, body.clone()));
        }
        assert_eq!(w.object_count() as usize, objects.len());
        let written = w.bytes_written();
        let fin = w.finish().unwrap().unwrap();
        assert_eq!(fin.object_count as usize, objects.len());
        assert_eq!(
            std::fs::metadata(&fin.pack_path).unwrap().len(),
            written + 20
        );
        assert_eq!(
            pack_dir_entries(&pack_dir),
            [format!("{}.idx", fin.name), format!("{}.pack", fin.name)]
        );
        let idx_path = fin.idx_path.to_str().unwrap();

        // verify-pack checks the pack SHA-1, every object's CRC and SHA-1.
        let listing =
            String::from_utf8(git(&repo, &["verify-pack", "-v", idx_path], None)).unwrap();
        let mut listed = 0;
        for line in listing.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() >= 5 && f[0].len() == 40 {
                let id: ObjectId = f[0].parse().unwrap();
                let (kind, body) = &expected[&id];
                assert_eq!(f[1], kind.name());
                assert_eq!(f[2], body.len().to_string());
                listed += 1;
            }
        }
        assert_eq!(listed, objects.len(), "{listing}");

        // git's own idx for our pack is byte-identical to ours.
        let git_idx = tmp.path().join("git.idx");
        git(
            &repo,
            &[
                "index-pack",
                "-o",
                git_idx.to_str().unwrap(),
                fin.pack_path.to_str().unwrap(),
            ],
            None,
        );
        assert!(std::fs::read(&git_idx).unwrap() == std::fs::read(&fin.idx_path).unwrap());

        // cat-file returns every object's exact bytes.
        let ids: String = expected.keys().map(|id| format!("{id}\n")).collect();
        let batch = git(&repo, &["cat-file", "--batch"], Some(ids.as_bytes()));
        let records = parse_batch(&batch);
        assert_eq!(records.len(), expected.len());
        for (id, kind, body) in records {
            assert_eq!(kind, expected[&id].0.name());
            assert!(body == expected[&id].1, "{id} differs");
        }

        // Everything reachable from a ref: fsck --strict must be clean.
        git(
            &repo,
            &["update-ref", "refs/heads/main", &commit_id.to_hex()],
            None,
        );
        let fsck = git(
            &repo,
            &["fsck", "--strict", "--no-progress", "--unreachable"],
            None,
        );
        assert!(fsck.is_empty(), "{}", String::from_utf8_lossy(&fsck));

        // And our own reader agrees.
        let pack = Pack::open(&fin.pack_path, Idx::open(&fin.idx_path).unwrap()).unwrap();
        pack.verify_checksum().unwrap();
        for (id, (kind, body)) in &expected {
            let got = pack.read_verified(id, &|_| None).unwrap().unwrap();
            assert!(got.0 == *kind && got.1 == *body);
        }
    }

    #[test]
    fn incompressible_chunk_is_stored_and_git_reads_it() {
        let tmp = tempfile::tempdir().unwrap();
        git(tmp.path(), &["init", "-q", "--bare", "r.git"], None);
        let repo = tmp.path().join("r.git");
        let body = random_bytes(64 * 1024, 5);
        let obj = encode_object(ObjectKind::Blob, &body, Compression::default());
        let (_, _, hlen) = parse_entry_header(&obj.data).unwrap();
        assert_eq!(obj.data.len() - hlen, stored_zlib_len(body.len()));
        assert!(obj.data.len() < body.len() + 32);
        let mut w = PackWriter::create(&repo.join("objects/pack")).unwrap();
        w.append(&obj).unwrap();
        let fin = w.finish().unwrap().unwrap();
        git(
            &repo,
            &["verify-pack", fin.idx_path.to_str().unwrap()],
            None,
        );
        let out = git(&repo, &["cat-file", "blob", &obj.id.to_hex()], None);
        assert!(out == body);
    }

    #[test]
    fn empty_pack_finishes_to_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let w = PackWriter::create(tmp.path()).unwrap();
        assert_eq!(w.bytes_written(), 12);
        assert_eq!(pack_dir_entries(tmp.path()).len(), 1);
        assert_eq!(w.finish().unwrap(), None);
        assert!(pack_dir_entries(tmp.path()).is_empty());
    }

    #[test]
    fn unfinished_writer_leaves_no_temp_files() {
        let tmp = tempfile::tempdir().unwrap();
        let obj = encode_object(ObjectKind::Blob, b"dropped", Compression::default());
        {
            let mut w = PackWriter::create(tmp.path()).unwrap();
            w.append(&obj).unwrap();
            assert!(w.temp_path().exists());
        }
        assert!(pack_dir_entries(tmp.path()).is_empty());
        let mut w = PackWriter::create(tmp.path()).unwrap();
        w.append(&obj).unwrap();
        w.abort();
        assert!(pack_dir_entries(tmp.path()).is_empty());
    }

    #[test]
    fn two_packs_leave_only_packs_and_idx() {
        let tmp = tempfile::tempdir().unwrap();
        let mut names = Vec::new();
        for round in 0..2u8 {
            let mut w = PackWriter::create(tmp.path()).unwrap();
            for i in 0..10u8 {
                let obj = encode_object(ObjectKind::Blob, &[round, i], Compression::default());
                w.append(&obj).unwrap();
            }
            let fin = w.finish().unwrap().unwrap();
            assert_eq!(fin.object_count, 10);
            names.push(format!("{}.idx", fin.name));
            names.push(format!("{}.pack", fin.name));
        }
        names.sort();
        assert_eq!(pack_dir_entries(tmp.path()), names);
    }

    #[test]
    fn create_in_missing_directory_names_it() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("nope");
        let err = PackWriter::create(&missing).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }

    static SEEN: std::sync::Mutex<Vec<(std::thread::ThreadId, &'static str)>> =
        std::sync::Mutex::new(Vec::new());

    fn record(name: &'static str) {
        SEEN.lock()
            .unwrap()
            .push((std::thread::current().id(), name));
    }

    #[test]
    fn failpoints_fire_in_write_order() {
        set_failpoint_hook(record);
        let tmp = tempfile::tempdir().unwrap();
        let mut w = PackWriter::create(tmp.path()).unwrap();
        for i in 0..3u8 {
            w.append(&encode_object(
                ObjectKind::Blob,
                &[i],
                Compression::default(),
            ))
            .unwrap();
        }
        w.finish().unwrap().unwrap();
        set_failpoint_hook(no_failpoint);
        let me = std::thread::current().id();
        let mine: Vec<&str> = SEEN
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| *t == me)
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(
            mine,
            [
                "pack-append",
                "pack-append",
                "pack-append",
                "pack-before-trailer",
                "pack-after-fsync",
                "pack-after-idx-write",
                "pack-after-idx-rename",
                "pack-after-pack-rename"
            ]
        );
    }

    #[test]
    fn recover_completes_or_undoes_an_interrupted_publication() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let publish = |data: &[u8]| {
            let mut w = PackWriter::create(dir).unwrap();
            w.append(&encode_object(
                ObjectKind::Blob,
                data,
                Compression::default(),
            ))
            .unwrap();
            w.finish().unwrap().unwrap()
        };
        // Killed after the idx rename, before the pack rename: the finished
        // pack is still under its temp name.
        let a = publish(b"first");
        let tmp_a = dir.join(format!("{TMP_PACK}killed"));
        std::fs::rename(&a.pack_path, &tmp_a).unwrap();
        // Killed the same way, but the temp pack is gone too.
        let b = publish(b"second");
        std::fs::remove_file(&b.pack_path).unwrap();
        // A stray temp idx and a temp pack that never got its trailer.
        std::fs::write(dir.join(format!("{TMP_IDX}x")), b"junk").unwrap();
        std::fs::write(
            dir.join(format!("{TMP_PACK}y")),
            b"PACK\0\0\0\x02junk-without-trailer",
        )
        .unwrap();
        // Someone else's temp file is not ours to remove.
        std::fs::write(dir.join("tmp_pack_git"), b"git's").unwrap();

        let rec = recover(dir).unwrap();
        assert_eq!(rec.completed, vec![a.name.clone()]);
        assert_eq!(rec.removed_idx, vec![b.name.clone()]);
        assert_eq!(rec.removed_tmp, 2);
        assert!(a.pack_path.exists() && a.idx_path.exists());
        assert!(!b.idx_path.exists());
        assert!(dir.join("tmp_pack_git").exists());
        let mut left: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                format!("{}.idx", a.name),
                format!("{}.pack", a.name),
                "tmp_pack_git".into()
            ]
        );
        // Nothing left to do the second time.
        assert_eq!(recover(dir).unwrap(), Recovery::default());
    }
}
