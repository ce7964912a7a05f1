//! The narrow write interface that `save` and `split` use: [`ObjectSink`].
//!
//! A sink receives objects already hashed and compressed (a
//! [`PackedObject`]: id, crc, pack-entry bytes — the same unit bup's
//! `receive-objects-v2` sends over the wire), says which objects it already
//! has, makes everything durable on [`ObjectSink::flush`], and moves refs with
//! compare-and-swap. [`LocalSink`] writes packs into a local repository; a
//! remote client can implement the same trait without touching `save`.
//!
//! Write order (docs/design.md "Write order"): objects → pack trailer →
//! fsync → idx → renames → directory fsync → (caller) ref update.

use super::{Repo, RepoLock, odb, refs};
use crate::chunk::ChunkerConfig;
use crate::oid::{ObjectId, ObjectKind};
use crate::pack::{Compression, Idx, PackWriter, PackedObject, encode_object_with_id};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock};

/// Errors writing through a sink.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Writing a pack failed (disk full, I/O error, read-only filesystem).
    #[error("writing pack: {0}")]
    Pack(#[from] crate::pack::write::Error),
    /// The repository's object index could not be loaded.
    #[error(transparent)]
    Index(#[from] odb::Error),
    /// A just-written idx could not be re-opened.
    #[error("reopening new pack index: {0}")]
    NewIdx(#[from] crate::pack::idx::Error),
    /// A ref could not be read or moved.
    #[error(transparent)]
    Ref(#[from] refs::Error),
    /// A remote sink failed (used by remote implementations).
    #[error("{0}")]
    Other(String),
}

/// Counters of what a sink did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Objects written into new packs.
    pub objects_written: u64,
    /// Bytes of pack entries written (compressed).
    pub bytes_written: u64,
    /// Uncompressed bytes of the objects written.
    pub raw_bytes_written: u64,
    /// Objects offered but already present.
    pub objects_present: u64,
}

/// Where `save` and `split` put objects and refs.
pub trait ObjectSink: Send + Sync {
    /// How this repository splits files (every writer must cut the same way).
    fn chunker(&self) -> &ChunkerConfig;
    /// zlib level for new objects.
    fn compression(&self) -> Compression;
    /// Whether the destination already has `id` (durably or pending in this run).
    fn contains(&self, id: &ObjectId) -> bool;
    /// Add an object; a duplicate is dropped. Returns whether it was new.
    fn put(&self, obj: PackedObject) -> Result<bool, SinkError>;
    /// Make every object put so far durable.
    fn flush(&self) -> Result<(), SinkError>;
    /// Read a ref (`refs/heads/NAME`).
    fn read_ref(&self, refname: &str) -> Result<Option<ObjectId>, SinkError>;
    /// Move a ref from `expected` to `new` (compare-and-swap). Callers flush first.
    fn update_ref(
        &self,
        refname: &str,
        new: ObjectId,
        expected: Option<ObjectId>,
        message: &str,
    ) -> Result<(), SinkError>;
    /// What was written so far.
    fn stats(&self) -> SinkStats;
}

/// Hash `body`; if the sink lacks it, compress and put it. Returns the id.
pub fn store(sink: &dyn ObjectSink, kind: ObjectKind, body: &[u8]) -> Result<ObjectId, SinkError> {
    let id = ObjectId::hash_object(kind, body);
    if !sink.contains(&id) {
        sink.put(encode_object_with_id(id, kind, body, sink.compression()))?;
    }
    Ok(id)
}

/// A sink writing packs into a local repository. Holds the writer lock for
/// its whole life.
pub struct LocalSink {
    repo: Repo,
    _lock: RepoLock,
    index: RwLock<odb::ObjectIndex>,
    writer: Mutex<Option<PackWriter>>,
    objects_written: AtomicU64,
    bytes_written: AtomicU64,
    raw_bytes_written: AtomicU64,
    objects_present: AtomicU64,
}

fn lock_mut<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a panic elsewhere; the data (a pack writer or
    // index) is still consistent because every update completes before
    // unlocking, so carry on and let the panic surface on its own.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LocalSink {
    /// A sink for `repo`; `lock` proves we are the only writer.
    pub fn new(repo: &Repo, lock: RepoLock) -> Result<LocalSink, SinkError> {
        crate::pack::write::set_failpoint_hook(crate::failpoint::hit);
        // We hold the lock: finish or undo what a killed writer left behind.
        crate::pack::recover(&repo.pack_dir())?;
        crate::fsindex::remove_stale_temps(&repo.fsindex_path());
        let index = odb::ObjectIndex::load(&repo.pack_dir())?;
        Ok(LocalSink {
            repo: repo.clone(),
            _lock: lock,
            index: RwLock::new(index),
            writer: Mutex::new(None),
            objects_written: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            raw_bytes_written: AtomicU64::new(0),
            objects_present: AtomicU64::new(0),
        })
    }

    fn finish_current(&self, slot: &mut Option<PackWriter>) -> Result<(), SinkError> {
        let Some(pw) = slot.take() else { return Ok(()) };
        if let Some(done) = pw.finish()? {
            let idx = Idx::open(&done.idx_path)?;
            self.index
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .add(done.name, idx);
        }
        Ok(())
    }

    fn in_index(&self, id: &ObjectId) -> bool {
        self.index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(id)
    }
}

impl ObjectSink for LocalSink {
    fn chunker(&self) -> &ChunkerConfig {
        &self.repo.config().chunker
    }

    fn compression(&self) -> Compression {
        Compression {
            level: self.repo.config().compression,
        }
    }

    fn contains(&self, id: &ObjectId) -> bool {
        if self.in_index(id) {
            return true;
        }
        lock_mut(&self.writer)
            .as_ref()
            .is_some_and(|w| w.contains(id))
    }

    fn put(&self, obj: PackedObject) -> Result<bool, SinkError> {
        if self.in_index(&obj.id) {
            self.objects_present.fetch_add(1, Ordering::Relaxed);
            return Ok(false);
        }
        let mut slot = lock_mut(&self.writer);
        // Re-check under the lock: a pack may have been finished (and its
        // objects moved to the index) since the first check.
        if slot.as_ref().is_some_and(|w| w.contains(&obj.id)) || self.in_index(&obj.id) {
            self.objects_present.fetch_add(1, Ordering::Relaxed);
            return Ok(false);
        }
        let pw = match slot.as_mut() {
            Some(pw) => pw,
            None => slot.insert(PackWriter::create(&self.repo.pack_dir())?),
        };
        pw.append(&obj)?;
        self.objects_written.fetch_add(1, Ordering::Relaxed);
        self.bytes_written
            .fetch_add(obj.data.len() as u64, Ordering::Relaxed);
        self.raw_bytes_written
            .fetch_add(obj.size, Ordering::Relaxed);
        let cfg = self.repo.config();
        if pw.bytes_written() >= cfg.pack_size_limit || pw.object_count() >= cfg.max_pack_objects {
            self.finish_current(&mut slot)?;
        }
        Ok(true)
    }

    fn flush(&self) -> Result<(), SinkError> {
        let mut slot = lock_mut(&self.writer);
        self.finish_current(&mut slot)
    }

    fn read_ref(&self, refname: &str) -> Result<Option<ObjectId>, SinkError> {
        Ok(refs::read_ref(&self.repo, refname)?)
    }

    fn update_ref(
        &self,
        refname: &str,
        new: ObjectId,
        expected: Option<ObjectId>,
        message: &str,
    ) -> Result<(), SinkError> {
        crate::failpoint::hit("ref-before-update");
        refs::update_ref(&self.repo, refname, new, expected, message)?;
        crate::failpoint::hit("ref-after-update");
        Ok(())
    }

    fn stats(&self) -> SinkStats {
        SinkStats {
            objects_written: self.objects_written.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
            raw_bytes_written: self.raw_bytes_written.load(Ordering::Relaxed),
            objects_present: self.objects_present.load(Ordering::Relaxed),
        }
    }
}
