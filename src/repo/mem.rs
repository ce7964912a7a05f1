//! [`MemSink`]: an [`ObjectSink`] that keeps objects in memory. For
//! benchmarks, measurements and tests of the save pipeline without disk I/O.

use super::sink::{ObjectSink, SinkError, SinkStats};
use crate::chunk::ChunkerConfig;
use crate::oid::ObjectId;
use crate::pack::{Compression, PackedObject};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Objects and refs held in memory.
pub struct MemSink {
    chunker: ChunkerConfig,
    compression: Compression,
    objects: Mutex<HashSet<ObjectId>>,
    refs: Mutex<HashMap<String, ObjectId>>,
    stats: Mutex<SinkStats>,
}

impl MemSink {
    /// An empty sink cutting with `chunker`, compressing at `compression`.
    pub fn new(chunker: ChunkerConfig, compression: Compression) -> MemSink {
        MemSink {
            chunker,
            compression,
            objects: Mutex::new(HashSet::new()),
            refs: Mutex::new(HashMap::new()),
            stats: Mutex::new(SinkStats::default()),
        }
    }

    /// Number of distinct objects stored.
    pub fn len(&self) -> usize {
        self.objects.lock().map(|o| o.len()).unwrap_or(0)
    }

    /// Whether nothing was stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ObjectSink for MemSink {
    fn chunker(&self) -> &ChunkerConfig {
        &self.chunker
    }

    fn compression(&self) -> Compression {
        self.compression
    }

    fn contains(&self, id: &ObjectId) -> bool {
        self.objects.lock().is_ok_and(|o| o.contains(id))
    }

    fn put(&self, obj: PackedObject) -> Result<bool, SinkError> {
        let poisoned = || SinkError::Other("memory sink lock poisoned".into());
        let new = self.objects.lock().map_err(|_| poisoned())?.insert(obj.id);
        let mut st = self.stats.lock().map_err(|_| poisoned())?;
        if new {
            st.objects_written += 1;
            st.bytes_written += obj.data.len() as u64;
            st.raw_bytes_written += obj.size;
        } else {
            st.objects_present += 1;
        }
        Ok(new)
    }

    fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }

    fn read_ref(&self, refname: &str) -> Result<Option<ObjectId>, SinkError> {
        Ok(self
            .refs
            .lock()
            .map_err(|_| SinkError::Other("memory sink lock poisoned".into()))?
            .get(refname)
            .copied())
    }

    fn update_ref(
        &self,
        refname: &str,
        new: ObjectId,
        expected: Option<ObjectId>,
        _message: &str,
    ) -> Result<(), SinkError> {
        let mut refs = self
            .refs
            .lock()
            .map_err(|_| SinkError::Other("memory sink lock poisoned".into()))?;
        if refs.get(refname).copied() != expected {
            return Err(SinkError::Ref(super::refs::Error::Moved {
                refname: refname.to_string(),
                expected: expected.map_or_else(|| "no ref".into(), |o| o.to_hex()),
            }));
        }
        refs.insert(refname.to_string(), new);
        Ok(())
    }

    fn stats(&self) -> SinkStats {
        self.stats.lock().map(|s| *s).unwrap_or_default()
    }
}
