//! Pack index files (`.idx`): writing version 2, reading versions 2 and 1.
//!
//! Owns the idx layout (`docs/bup-format.md` §1.3): magic + version, a
//! 256-entry fan-out table, sorted ids, CRC-32s, 31-bit offsets with a 64-bit
//! table for offsets above 2^31-1, the pack checksum and the idx checksum.
//! bup also reads v1 files (no magic: fan-out, then (offset, id) pairs), so we
//! do too. Lookups use the fan-out and a binary search and never allocate.

use crate::oid::ObjectId;
use sha1::{Digest, Sha1};
use std::fs::File;
use std::ops::Deref;
use std::path::{Path, PathBuf};

/// First four bytes of an idx v2 (and later) file.
pub const IDX_MAGIC: [u8; 4] = [0xff, 0x74, 0x4f, 0x63];

/// Returned by [`Idx::open`], [`Idx::from_bytes`] and [`Idx::verify_checksum`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be opened, measured or mapped.
    #[error("cannot read idx {path}")]
    Io {
        /// The idx file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid idx.
    #[error("idx {}: {reason}", show_path(path))]
    Corrupt {
        /// The idx file (`None` for [`Idx::from_bytes`]).
        path: Option<PathBuf>,
        /// What is wrong.
        reason: String,
    },
}

fn show_path(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => p.display().to_string(),
        None => "(in memory)".to_string(),
    }
}

/// Write an idx v2 for a pack whose trailer is `pack_sha`.
///
/// `entries` are (id, CRC-32 of the packed entry, entry offset); they are
/// sorted by id in place and must be unique. Offsets above `0x7fff_ffff` go to
/// the 64-bit table, in id order, as `git index-pack` does.
pub fn write_idx_v2(entries: &mut [(ObjectId, u32, u64)], pack_sha: &[u8; 20]) -> Vec<u8> {
    entries.sort_unstable_by_key(|e| e.0);
    let n = entries.len();
    let large = entries.iter().filter(|e| e.2 > 0x7fff_ffff).count();
    let mut out = Vec::with_capacity(8 + 1024 + n * 28 + large * 8 + 40);
    out.extend_from_slice(&IDX_MAGIC);
    out.extend_from_slice(&2u32.to_be_bytes());
    let mut fanout = [0u32; 256];
    for e in entries.iter() {
        fanout[e.0.0[0] as usize] += 1;
    }
    let mut running = 0u32;
    for count in fanout {
        running = running.wrapping_add(count);
        out.extend_from_slice(&running.to_be_bytes());
    }
    for e in entries.iter() {
        out.extend_from_slice(e.0.as_bytes());
    }
    for e in entries.iter() {
        out.extend_from_slice(&e.1.to_be_bytes());
    }
    let mut large_table = Vec::with_capacity(large * 8);
    for e in entries.iter() {
        let word = if e.2 > 0x7fff_ffff {
            let i = (large_table.len() / 8) as u32;
            large_table.extend_from_slice(&e.2.to_be_bytes());
            0x8000_0000 | i
        } else {
            e.2 as u32
        };
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.extend_from_slice(&large_table);
    out.extend_from_slice(pack_sha);
    let sum: [u8; 20] = Sha1::digest(&out).into();
    out.extend_from_slice(&sum);
    out
}

/// The bytes behind an [`Idx`] (or a pack): a read-only mapping or a buffer.
pub(crate) enum Bytes {
    Map(memmap2::Mmap),
    Vec(Vec<u8>),
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Map(m) => m,
            Bytes::Vec(v) => v,
        }
    }
}

impl Bytes {
    /// Map `path` read-only; an empty file becomes an empty buffer (it cannot be mapped).
    pub(crate) fn map_file(path: &Path) -> std::io::Result<Bytes> {
        let file = File::open(path)?;
        if file.metadata()?.len() == 0 {
            return Ok(Bytes::Vec(Vec::new()));
        }
        Ok(Bytes::Map(crate::pack::map_readonly(&file)?))
    }
}

/// A parsed `.idx` (v2; v1 is also accepted for reading, as bup does).
///
/// Construction checks the header, that the fan-out never decreases, and that
/// the size matches the object count, so every accessor stays in bounds.
pub struct Idx {
    data: Bytes,
    path: Option<PathBuf>,
    version: u32,
    count: usize,
    fanout: [u32; 256],
    /// Start of the first id, and distance between ids.
    ids_at: usize,
    id_stride: usize,
    /// v2 only: start of the CRC, offset and large-offset tables.
    crcs_at: usize,
    offsets_at: usize,
    large_at: usize,
    large_count: usize,
}

impl std::fmt::Debug for Idx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idx")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

fn be32(data: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&data[at..at + 4]);
    u32::from_be_bytes(b)
}

fn be64(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&data[at..at + 8]);
    u64::from_be_bytes(b)
}

impl Idx {
    /// Map and parse the idx at `path`.
    ///
    /// Checks the structure (header, fan-out, sizes) but, to keep opening a
    /// repository with many large idx files cheap, not the trailing SHA-1;
    /// call [`Idx::verify_checksum`] for that (fsck does).
    pub fn open(path: &Path) -> Result<Idx, Error> {
        let data = Bytes::map_file(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Idx::parse(data, Some(path.to_path_buf()))
    }

    /// Parse an idx held in memory, checking the structure and the trailing
    /// SHA-1 of the whole file.
    pub fn from_bytes(data: Vec<u8>) -> Result<Idx, Error> {
        let idx = Idx::parse(Bytes::Vec(data), None)?;
        idx.verify_checksum()?;
        Ok(idx)
    }

    fn parse(data: Bytes, path: Option<PathBuf>) -> Result<Idx, Error> {
        let corrupt = |reason: String| Error::Corrupt {
            path: path.clone(),
            reason,
        };
        let len = data.len();
        let v2 = len >= 4 && data[..4] == IDX_MAGIC;
        let fanout_at = if v2 { 8 } else { 0 };
        if len < fanout_at + 1024 + 40 {
            return Err(corrupt(format!("too short ({len} bytes)")));
        }
        if v2 {
            let version = be32(&data, 4);
            if version != 2 {
                return Err(corrupt(format!("unsupported idx version {version}")));
            }
        }
        let mut fanout = [0u32; 256];
        let mut previous = 0;
        for (i, slot) in fanout.iter_mut().enumerate() {
            *slot = be32(&data, fanout_at + 4 * i);
            if *slot < previous {
                return Err(corrupt(format!("fan-out decreases at entry {i}")));
            }
            previous = *slot;
        }
        let count = fanout[255] as usize;
        let mut idx = Idx {
            data,
            path: None,
            version: if v2 { 2 } else { 1 },
            count,
            fanout,
            ids_at: 0,
            id_stride: 0,
            crcs_at: 0,
            offsets_at: 0,
            large_at: 0,
            large_count: 0,
        };
        if v2 {
            // 8 + 1024 + n * (20 + 4 + 4) + 8 * large + 40
            let min = 1072 + 28 * count as u64;
            let len = len as u64;
            if len < min || !(len - min).is_multiple_of(8) || (len - min) / 8 > count as u64 {
                return Err(corrupt(format!(
                    "size {len} does not fit {count} objects (expected {min} + 8 * large offsets)"
                )));
            }
            idx.ids_at = 1032;
            idx.id_stride = 20;
            idx.crcs_at = 1032 + 20 * count;
            idx.offsets_at = idx.crcs_at + 4 * count;
            idx.large_at = idx.offsets_at + 4 * count;
            idx.large_count = ((len - min) / 8) as usize;
        } else {
            let expected = 1024 + 24 * count as u64 + 40;
            if len as u64 != expected {
                return Err(corrupt(format!(
                    "size {len} does not fit {count} objects of a v1 idx ({expected})"
                )));
            }
            idx.ids_at = 1024 + 4;
            idx.id_stride = 24;
            idx.offsets_at = 1024;
        }
        idx.path = path;
        Ok(idx)
    }

    /// Check the trailing SHA-1 over the rest of the file.
    pub fn verify_checksum(&self) -> Result<(), Error> {
        let (body, sum) = self.data.split_at(self.data.len() - 20);
        let actual: [u8; 20] = Sha1::digest(body).into();
        if actual[..] != *sum {
            return Err(Error::Corrupt {
                path: self.path.clone(),
                reason: format!(
                    "checksum mismatch: file says {}, contents hash to {}",
                    ObjectId(sum.try_into().unwrap_or_default()),
                    ObjectId(actual)
                ),
            });
        }
        Ok(())
    }

    /// The idx file this was opened from (`None` for [`Idx::from_bytes`]).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The idx format version (1 or 2).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True if the idx lists no objects.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn id_bytes(&self, i: usize) -> &[u8] {
        let at = self.ids_at + i * self.id_stride;
        &self.data[at..at + 20]
    }

    /// Position of `id` in the sorted id table.
    pub fn position(&self, id: &ObjectId) -> Option<usize> {
        let first = id.0[0] as usize;
        let mut lo = if first == 0 {
            0
        } else {
            self.fanout[first - 1] as usize
        };
        let mut hi = self.fanout[first] as usize;
        let key = &id.0[..];
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.id_bytes(mid).cmp(key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// The pack offset of `id`, if the idx lists it.
    pub fn lookup(&self, id: &ObjectId) -> Option<u64> {
        self.position(id).map(|i| self.offset_at(i))
    }

    /// True if the idx lists `id`.
    pub fn contains(&self, id: &ObjectId) -> bool {
        self.position(id).is_some()
    }

    /// The `i`-th id in sorted order. Panics if `i >= len()`.
    pub fn id_at(&self, i: usize) -> ObjectId {
        assert!(i < self.count, "idx position {i} out of range");
        let mut id = [0u8; 20];
        id.copy_from_slice(self.id_bytes(i));
        ObjectId(id)
    }

    /// The pack offset of the `i`-th id. Panics if `i >= len()`.
    ///
    /// A damaged entry naming a missing 64-bit offset yields `u64::MAX`, which
    /// no pack contains, so reading it fails cleanly.
    pub fn offset_at(&self, i: usize) -> u64 {
        assert!(i < self.count, "idx position {i} out of range");
        if self.version == 1 {
            return u64::from(be32(&self.data, self.offsets_at + 24 * i));
        }
        let word = be32(&self.data, self.offsets_at + 4 * i);
        if word & 0x8000_0000 == 0 {
            return u64::from(word);
        }
        let j = (word & 0x7fff_ffff) as usize;
        if j >= self.large_count {
            return u64::MAX;
        }
        be64(&self.data, self.large_at + 8 * j)
    }

    /// The CRC-32 of the `i`-th entry's packed bytes (v2 only). Panics if `i >= len()`.
    pub fn crc_at(&self, i: usize) -> Option<u32> {
        assert!(i < self.count, "idx position {i} out of range");
        (self.version == 2).then(|| be32(&self.data, self.crcs_at + 4 * i))
    }

    /// The SHA-1 trailer of the pack this idx describes.
    pub fn pack_checksum(&self) -> [u8; 20] {
        let at = self.data.len() - 40;
        let mut sum = [0u8; 20];
        sum.copy_from_slice(&self.data[at..at + 20]);
        sum
    }

    /// Iterate over (id, offset) in id order.
    pub fn iter(&self) -> impl Iterator<Item = (ObjectId, u64)> + '_ {
        (0..self.count).map(|i| (self.id_at(i), self.offset_at(i)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oid::ObjectKind;
    use crate::pack::testutil::{git, synthetic_ids};
    use proptest::prelude::*;

    fn sample_entries(n: usize) -> Vec<(ObjectId, u32, u64)> {
        synthetic_ids(n, 1)
            .into_iter()
            .enumerate()
            .map(|(i, id)| (id, i as u32 * 7 + 1, 12 + 100 * i as u64))
            .collect()
    }

    #[test]
    fn layout_follows_spec() {
        let mut entries = sample_entries(300);
        let bytes = write_idx_v2(&mut entries, &[9u8; 20]);
        assert_eq!(&bytes[..8], &[0xff, 0x74, 0x4f, 0x63, 0, 0, 0, 2]);
        assert_eq!(bytes.len(), 8 + 1024 + 300 * 28 + 40);
        assert_eq!(be32(&bytes, 8 + 255 * 4), 300);
        let idx = Idx::from_bytes(bytes).unwrap();
        assert_eq!(idx.len(), 300);
        assert_eq!(idx.pack_checksum(), [9u8; 20]);
        for (id, crc, off) in &entries {
            let i = idx.position(id).unwrap();
            assert_eq!(idx.id_at(i), *id);
            assert_eq!(idx.lookup(id), Some(*off));
            assert_eq!(idx.crc_at(i), Some(*crc));
        }
        let mut sorted: Vec<ObjectId> = entries.iter().map(|e| e.0).collect();
        sorted.sort();
        assert_eq!(idx.iter().map(|e| e.0).collect::<Vec<_>>(), sorted);
        for miss in synthetic_ids(100, 2) {
            assert!(!idx.contains(&miss));
        }
    }

    #[test]
    fn empty_idx() {
        let bytes = write_idx_v2(&mut [], &[0u8; 20]);
        assert_eq!(bytes.len(), 1072);
        let idx = Idx::from_bytes(bytes).unwrap();
        assert!(idx.is_empty());
        assert_eq!(idx.lookup(&ObjectId([0u8; 20])), None);
        assert_eq!(idx.lookup(&ObjectId([0xffu8; 20])), None);
    }

    #[test]
    fn large_offsets_use_the_64_bit_table() {
        let mut entries = sample_entries(5);
        entries[1].2 = 0x7fff_ffff; // largest 31-bit offset: stays inline
        entries[2].2 = 0x8000_0000;
        entries[3].2 = 5 << 32;
        entries[4].2 = u64::MAX >> 1;
        let bytes = write_idx_v2(&mut entries, &[1u8; 20]);
        assert_eq!(bytes.len(), 8 + 1024 + 5 * 28 + 3 * 8 + 40);
        let idx = Idx::from_bytes(bytes.clone()).unwrap();
        for (id, _, off) in &entries {
            assert_eq!(idx.lookup(id), Some(*off));
        }
        // The offset words of large entries are 0x80000000 | k, k counting up in id order.
        let offsets_at = 8 + 1024 + 5 * 24;
        let words: Vec<u32> = (0..5).map(|i| be32(&bytes, offsets_at + 4 * i)).collect();
        let large: Vec<u32> = words
            .iter()
            .filter(|w| *w & 0x8000_0000 != 0)
            .copied()
            .collect();
        assert_eq!(large, [0x8000_0000, 0x8000_0001, 0x8000_0002]);
    }

    #[test]
    fn rejects_bad_headers_fanout_sizes_and_checksums() {
        let mut entries = sample_entries(20);
        let good = write_idx_v2(&mut entries, &[3u8; 20]);
        let reseal = |mut b: Vec<u8>| {
            let n = b.len();
            let sum: [u8; 20] = Sha1::digest(&b[..n - 20]).into();
            b[n - 20..].copy_from_slice(&sum);
            b
        };
        let mut bad = good.clone();
        bad[7] = 3;
        let err = Idx::from_bytes(reseal(bad)).unwrap_err().to_string();
        assert!(err.contains("unsupported idx version 3"), "{err}");
        let mut bad = good.clone();
        bad[8 + 4 * 200..8 + 4 * 201].copy_from_slice(&[0xff, 0, 0, 0]);
        let err = Idx::from_bytes(reseal(bad)).unwrap_err().to_string();
        assert!(err.contains("fan-out decreases"), "{err}");
        let mut bad = good.clone();
        bad.insert(1100, 0);
        let err = Idx::from_bytes(reseal(bad)).unwrap_err().to_string();
        assert!(err.contains("does not fit"), "{err}");
        let mut bad = good.clone();
        bad[1040] ^= 1;
        let err = Idx::from_bytes(bad).unwrap_err().to_string();
        assert!(err.contains("checksum mismatch"), "{err}");
        assert!(Idx::from_bytes(Vec::new()).is_err());
    }

    #[test]
    fn damaged_large_offset_index_reads_as_impossible_offset() {
        let mut entries = sample_entries(3);
        entries[0].2 = 1 << 33;
        let mut bytes = write_idx_v2(&mut entries, &[1u8; 20]);
        let offsets_at = 8 + 1024 + 3 * 24;
        let i = (0..3)
            .find(|&i| be32(&bytes, offsets_at + 4 * i) & 0x8000_0000 != 0)
            .unwrap();
        bytes[offsets_at + 4 * i + 3] = 9; // large index 9 of 1
        let n = bytes.len();
        let sum: [u8; 20] = Sha1::digest(&bytes[..n - 20]).into();
        bytes[n - 20..].copy_from_slice(&sum);
        let idx = Idx::from_bytes(bytes).unwrap();
        assert_eq!(idx.offset_at(i), u64::MAX);
    }

    #[test]
    fn open_maps_file_and_checks_structure_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut entries = sample_entries(50);
        let mut bytes = write_idx_v2(&mut entries, &[4u8; 20]);
        let path = dir.path().join("x.idx");
        std::fs::write(&path, &bytes).unwrap();
        let idx = Idx::open(&path).unwrap();
        assert_eq!(idx.lookup(&entries[7].0), Some(entries[7].2));
        idx.verify_checksum().unwrap();
        let n = bytes.len();
        bytes[n - 1] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let idx = Idx::open(&path).unwrap();
        let err = idx.verify_checksum().unwrap_err().to_string();
        assert!(err.contains("x.idx") && err.contains("checksum"), "{err}");
        std::fs::write(&path, b"").unwrap();
        assert!(Idx::open(&path).is_err());
        assert!(matches!(
            Idx::open(&dir.path().join("missing.idx")),
            Err(Error::Io { .. })
        ));
    }

    /// git's own idx (v1 via `index-pack --index-version=1`, and v2 with a
    /// forced 64-bit table via `--index-version=2,<limit>`) reads back right.
    #[test]
    fn reads_git_written_v1_and_v2_with_large_table() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        git(d, &["init", "-q", "--bare", "r.git"], None);
        let repo = d.join("r.git");
        let mut ids = Vec::new();
        for i in 0..40 {
            let body = format!("blob number {i}\n");
            let out = git(
                &repo,
                &["hash-object", "-w", "--stdin"],
                Some(body.as_bytes()),
            );
            let id: ObjectId = String::from_utf8(out).unwrap().trim().parse().unwrap();
            assert_eq!(id, ObjectId::hash_object(ObjectKind::Blob, body.as_bytes()));
            ids.push(id);
        }
        let list: String = ids.iter().map(|id| format!("{id}\n")).collect();
        let out = git(&repo, &["pack-objects", "p"], Some(list.as_bytes()));
        let sha = String::from_utf8(out).unwrap().trim().to_string();
        let pack = repo.join(format!("p-{sha}.pack"));
        let mut idxs = Vec::new();
        for (name, version) in [("v1.idx", "1"), ("v2.idx", "2,64")] {
            let path = d.join(name);
            git(
                &repo,
                &[
                    "index-pack",
                    &format!("--index-version={version}"),
                    "-o",
                    path.to_str().unwrap(),
                    pack.to_str().unwrap(),
                ],
                None,
            );
            let idx = Idx::from_bytes(std::fs::read(&path).unwrap()).unwrap();
            idxs.push(idx);
        }
        let (v1, v2) = (&idxs[0], &idxs[1]);
        assert_eq!((v1.version(), v2.version()), (1, 2));
        assert!(v2.large_count > 0, "limit 64 forces large offsets");
        assert_eq!(v1.pack_checksum(), v2.pack_checksum());
        assert_eq!(v1.len(), 40);
        for id in &ids {
            assert!(v1.lookup(id).is_some());
            assert_eq!(v1.lookup(id), v2.lookup(id));
            assert_eq!(v1.crc_at(v1.position(id).unwrap()), None);
        }
    }

    proptest! {
        #[test]
        fn mutated_idx_never_panics_and_is_rejected(
            pos in any::<prop::sample::Index>(), bit in 0u8..8, cut in any::<prop::sample::Index>()
        ) {
            let mut entries = sample_entries(40);
            entries[3].2 = 1 << 40;
            let good = write_idx_v2(&mut entries, &[5u8; 20]);
            let mut flipped = good.clone();
            let p = pos.index(flipped.len());
            flipped[p] ^= 1 << bit;
            prop_assert!(Idx::from_bytes(flipped.clone()).is_err());
            // Without the checksum check (as `open` does), lookups stay in bounds.
            if let Ok(idx) = Idx::parse(Bytes::Vec(flipped), None) {
                for (id, _, _) in &entries {
                    let _ = idx.lookup(id);
                }
                for i in 0..idx.len() {
                    let _ = (idx.id_at(i), idx.offset_at(i), idx.crc_at(i));
                }
            }
            let truncated = good[..cut.index(good.len())].to_vec();
            prop_assert!(Idx::from_bytes(truncated.clone()).is_err());
            if let Ok(idx) = Idx::parse(Bytes::Vec(truncated), None) {
                for (id, _, _) in &entries {
                    let _ = idx.lookup(id);
                }
            }
        }
    }
}
