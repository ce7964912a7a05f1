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
use crate::pack::{Compression, IdSet, Idx, PackWriter, PackedObject, encode_object_with_id};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

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
    /// A full pack, finished on a thread of its own, could not be
    /// finished (the message is that failure's).
    #[error("{0}")]
    EarlierPack(String),
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
///
/// A full pack is finished (trailer hash, fsync, idx, renames: about half a
/// second per GB) on a thread of its own while the pipeline goes on with
/// the next pack; [`ObjectSink::flush`] waits for those threads, and so does
/// dropping the sink, so the lock is never released under a pack in flight.
pub struct LocalSink {
    repo: Repo,
    shared: Arc<Shared>,
    writer: Mutex<Option<PackWriter>>,
    /// Threads finishing full packs.
    finishing: Mutex<Vec<std::thread::JoinHandle<()>>>,
    objects_written: AtomicU64,
    bytes_written: AtomicU64,
    raw_bytes_written: AtomicU64,
    objects_present: AtomicU64,
    // Last: released after `Drop` has joined the finishing threads.
    _lock: RepoLock,
}

/// What the pack-finishing threads share with the sink.
struct Shared {
    index: RwLock<odb::ObjectIndex>,
    /// Ids of full packs being finished, until they are in `index`.
    sealed: RwLock<Vec<Arc<IdSet>>>,
    /// The first failure of a finishing thread.
    failed: Mutex<Option<String>>,
    any_failed: AtomicBool,
}

impl Shared {
    /// Finish `pw` and add its idx to the index.
    fn finish_pack(&self, pw: PackWriter) -> Result<(), SinkError> {
        if let Some(done) = pw.finish()? {
            let idx = Idx::open(&done.idx_path)?;
            write_lock(&self.index).add(done.name, idx);
        }
        Ok(())
    }

    fn fail(&self, why: String) {
        lock_mut(&self.failed).get_or_insert(why);
        self.any_failed.store(true, Ordering::Release);
    }

    fn unseal(&self, ids: &Arc<IdSet>) {
        write_lock(&self.sealed).retain(|s| !Arc::ptr_eq(s, ids));
    }

    fn in_index(&self, id: &ObjectId) -> bool {
        self.index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(id)
    }

    fn in_sealed(&self, id: &ObjectId) -> bool {
        self.sealed
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|s| s.contains(id))
    }
}

fn lock_mut<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a panic elsewhere; the data (a pack writer or
    // index) is still consistent because every update completes before
    // unlocking, so carry on and let the panic surface on its own.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn write_lock<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
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
            shared: Arc::new(Shared {
                index: RwLock::new(index),
                sealed: RwLock::new(Vec::new()),
                failed: Mutex::new(None),
                any_failed: AtomicBool::new(false),
            }),
            writer: Mutex::new(None),
            finishing: Mutex::new(Vec::new()),
            objects_written: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            raw_bytes_written: AtomicU64::new(0),
            objects_present: AtomicU64::new(0),
            _lock: lock,
        })
    }

    /// Hand the full pack in `slot` to a finishing thread. Its ids move to
    /// `sealed` before the writer lock is released, and leave it only after
    /// the index has them, so no lookup misses them meanwhile.
    fn seal(&self, mut slot: MutexGuard<'_, Option<PackWriter>>) -> Result<(), SinkError> {
        let Some(mut pw) = slot.take() else {
            return Ok(());
        };
        let ids = Arc::new(pw.take_ids());
        write_lock(&self.shared.sealed).push(Arc::clone(&ids));
        drop(slot);
        let shared = Arc::clone(&self.shared);
        let sealed_ids = Arc::clone(&ids);
        let spawned = std::thread::Builder::new()
            .name("pack-finish".into())
            .spawn(move || {
                if let Err(e) = shared.finish_pack(pw) {
                    shared.fail(e.to_string());
                }
                shared.unseal(&sealed_ids);
            });
        match spawned {
            Ok(handle) => {
                lock_mut(&self.finishing).push(handle);
                Ok(())
            }
            Err(e) => {
                // The closure, and with it the unfinished pack (its
                // temporary files are removed), is gone: this run cannot be
                // recorded.
                let why = format!("cannot start a thread to finish a pack: {e}");
                self.shared.fail(why.clone());
                self.shared.unseal(&ids);
                Err(SinkError::EarlierPack(why))
            }
        }
    }

    /// Wait for every finishing thread; the first failure, if any.
    fn wait_finishing(&self) -> Result<(), SinkError> {
        let handles = std::mem::take(&mut *lock_mut(&self.finishing));
        for h in handles {
            if h.join().is_err() {
                self.shared.fail("a pack-finishing thread panicked".into());
            }
        }
        match &*lock_mut(&self.shared.failed) {
            Some(why) => Err(SinkError::EarlierPack(why.clone())),
            None => Ok(()),
        }
    }
}

impl Drop for LocalSink {
    fn drop(&mut self) {
        // Never release the writer lock while a pack is still being
        // finished. (A failure here is reported by the put or flush that
        // saw it; without a flush nothing is recorded anyway.)
        let _ = self.wait_finishing();
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
        // Checked in the order ids move (writer → sealed → index), so an id
        // moving meanwhile is still found.
        self.shared.in_index(id)
            || lock_mut(&self.writer)
                .as_ref()
                .is_some_and(|w| w.contains(id))
            || self.shared.in_sealed(id)
            || self.shared.in_index(id)
    }

    fn put(&self, obj: PackedObject) -> Result<bool, SinkError> {
        if self.shared.any_failed.load(Ordering::Acquire) {
            // Stop early: this run cannot be recorded.
            return self.wait_finishing().map(|()| false);
        }
        if self.shared.in_index(&obj.id) {
            self.objects_present.fetch_add(1, Ordering::Relaxed);
            return Ok(false);
        }
        let mut slot = lock_mut(&self.writer);
        // Re-check under the lock: a pack may have been sealed or finished
        // (its ids moved to `sealed`, then the index) since the first check.
        if slot.as_ref().is_some_and(|w| w.contains(&obj.id))
            || self.shared.in_sealed(&obj.id)
            || self.shared.in_index(&obj.id)
        {
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
            self.seal(slot)?;
        }
        Ok(true)
    }

    fn flush(&self) -> Result<(), SinkError> {
        let mut slot = lock_mut(&self.writer);
        let last = slot.take().map(|pw| self.shared.finish_pack(pw));
        drop(slot);
        // Wait for the full packs even when the last one failed: none of
        // them may be left half-done behind a released lock.
        let earlier = self.wait_finishing();
        last.transpose()?;
        earlier
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::testutil::{git, random_bytes};
    use crate::repo::RepoLock;
    use std::time::Duration;

    /// With 1 MiB packs, threads storing overlapping objects while full packs
    /// are finished on their own threads: every object ends up in exactly one
    /// pack, the packs are valid for git, and `contains` never lost an id.
    #[test]
    fn packs_finished_in_the_background_lose_and_repeat_nothing() {
        let td = tempfile::tempdir().unwrap();
        let path = td.path().join("r");
        Repo::init(&path, None).unwrap();
        git(&path, &["config", "pack.packSizeLimit", "1048576"], None);
        let repo = Repo::open(&path).unwrap();
        let lock = RepoLock::acquire(repo.path(), Duration::ZERO, &mut |_| {}).unwrap();
        let sink = LocalSink::new(&repo, lock).unwrap();
        // 600 blobs of 24 KiB (random: stored, ~14 MiB of pack); each thread
        // stores all of them in its own order, re-checking earlier ones.
        let blobs: Vec<Vec<u8>> = (0..600).map(|i| random_bytes(24 << 10, i)).collect();
        let ids: Vec<ObjectId> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4u64)
                .map(|t| {
                    let (sink, blobs) = (&sink, &blobs);
                    s.spawn(move || {
                        let mut ids = vec![ObjectId([0; 20]); blobs.len()];
                        for k in 0..blobs.len() {
                            let i = (k * 7 + t as usize * 151) % blobs.len();
                            ids[i] = store(sink, ObjectKind::Blob, &blobs[i]).unwrap();
                            let back = (i + blobs.len() - 1) % blobs.len();
                            if ids[back] != ObjectId([0; 20]) {
                                assert!(sink.contains(&ids[back]), "lost {}", ids[back]);
                            }
                        }
                        ids
                    })
                })
                .collect();
            let all: Vec<Vec<ObjectId>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            assert!(all.windows(2).all(|w| w[0] == w[1]));
            all.into_iter().next().unwrap()
        });
        sink.flush().unwrap();
        let stats = sink.stats();
        assert_eq!(stats.objects_written, 600, "each object written once");
        assert!(ids.iter().all(|id| sink.contains(id)));
        drop(sink);
        let index = odb::ObjectIndex::load(&repo.pack_dir()).unwrap();
        assert!(index.pack_count() >= 10, "{} packs", index.pack_count());
        assert_eq!(index.object_count(), 600);
        let listed = git(
            &path,
            &["cat-file", "--batch-check", "--batch-all-objects"],
            None,
        );
        assert_eq!(String::from_utf8_lossy(&listed).lines().count(), 600);
        git(&path, &["fsck", "--strict"], None);
        let leftovers: Vec<_> = std::fs::read_dir(repo.pack_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| !n.to_string_lossy().starts_with("pack-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
