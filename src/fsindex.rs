//! The local file index: what each path looked like (stat) and what was
//! stored for it (git mode, object id, metadata record) at the last save, so
//! the next save can skip reading files whose size, mtime, ctime, inode and
//! mode are unchanged.
//!
//! It is a cache: losing or corrupting it costs time, never data. It is not
//! bup's `bupindex` format (that one is local to bup too).
//!
//! # File format (`backup.index`, version 1)
//!
//! ```text
//! "BKIX" u32-LE version=1
//! u32-LE roots_len, roots_len bytes of JSON: the indexed roots and their rules
//! entry*:   u32-LE len, then len bytes:
//!           u16 path_len, path, dev u64, ino u64, mode u32, uid u32, gid u32,
//!           rdev u64, size u64, nlink u64, atime (i64, u32), mtime (i64, u32),
//!           ctime (i64, u32), git_mode u32, has_id u8, id [20], meta_len u32, meta
//! u64-LE entry count
//! 32-byte BLAKE3 of everything before it
//! ```
//! All integers little-endian. Entries are sorted in [`dfs_cmp`] order, which
//! is the order of a depth-first walk with children sorted by name, so a
//! save reads the old index and writes the new one in one forward pass with
//! bounded memory. Written to `backup.index.tmp-<pid>`, fsynced, renamed: a
//! crash leaves the old index or the new one, never a mix (the next writer
//! removes the temp file). BLAKE3 (not SHA-1) because
//! this checksum never leaves the machine and is not a git object id.

use crate::oid::ObjectId;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 4] = b"BKIX";
const VERSION: u32 = 1;

/// Errors reading or writing the index.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// I/O on the index file.
    #[error("file index {path}: {source}")]
    Io {
        /// The index file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is damaged or from another version.
    #[error("file index {path} is damaged ({why}); it will be rebuilt")]
    Corrupt {
        /// The index file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// Order of paths in a depth-first walk with children sorted bytewise:
/// compare bytewise with `/` ranking below every other byte.
pub fn dfs_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let key = |c: u8| if c == b'/' { 0u16 } else { u16::from(c) + 1 };
    for (&x, &y) in a.iter().zip(b.iter()) {
        match key(x).cmp(&key(y)) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    a.len().cmp(&b.len())
}

/// Whether `path` is `root` or lies below it.
pub fn is_under(path: &[u8], root: &[u8]) -> bool {
    if root == b"/" {
        return path.starts_with(b"/");
    }
    path.starts_with(root) && (path.len() == root.len() || path[root.len()] == b'/')
}

/// The racy cutoff for a run starting now: two seconds ago, in nanoseconds.
/// Filesystem timestamps advance in clock ticks, not nanoseconds, and FAT,
/// exFAT and some SMB servers keep mtimes in 2-second steps.
pub fn racy_cutoff() -> i128 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    now - 2_000_000_000
}

/// Name prefix of the temporary files of an index being written next to
/// `index` (the next writer removes stale ones; see [`remove_stale_temps`]).
fn temp_prefix(index: &Path) -> std::ffi::OsString {
    let mut p = index.as_os_str().to_owned();
    p.push(".tmp-");
    p
}

/// Remove temporary index files left by a killed writer. Call only while
/// holding the repository lock.
pub fn remove_stale_temps(index: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let (Some(dir), Some(name)) = (index.parent(), index.file_name()) else {
        return;
    };
    let mut prefix = name.as_bytes().to_vec();
    prefix.extend_from_slice(b".tmp-");
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().as_bytes().starts_with(&prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// The stat fields the index keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Full st_mode.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Device number for char/block devices.
    pub rdev: u64,
    /// Size in bytes.
    pub size: u64,
    /// Link count.
    pub nlink: u64,
    /// Access time (seconds, nanoseconds).
    pub atime: (i64, u32),
    /// Modification time.
    pub mtime: (i64, u32),
    /// Status-change time.
    pub ctime: (i64, u32),
}

impl Stat {
    /// From an lstat result.
    pub fn from_metadata(m: &std::fs::Metadata) -> Stat {
        let ns = |n: i64| n.clamp(0, 999_999_999) as u32;
        Stat {
            dev: m.dev(),
            ino: m.ino(),
            mode: m.mode(),
            uid: m.uid(),
            gid: m.gid(),
            rdev: m.rdev(),
            size: m.size(),
            nlink: m.nlink(),
            atime: (m.atime(), ns(m.atime_nsec())),
            mtime: (m.mtime(), ns(m.mtime_nsec())),
            ctime: (m.ctime(), ns(m.ctime_nsec())),
        }
    }

    /// Whether the entry changed so recently (at or after `cutoff_ns`, in
    /// nanoseconds since the epoch) that a further change might not move
    /// its timestamps: such entries are not trusted by the next save.
    pub fn is_racy(&self, cutoff_ns: i128) -> bool {
        let ns = |(s, n): (i64, u32)| i128::from(s) * 1_000_000_000 + i128::from(n);
        ns(self.mtime) >= cutoff_ns || ns(self.ctime) >= cutoff_ns
    }

    /// Whether content and metadata can be assumed unchanged: same size,
    /// mtime, ctime, inode and mode (any chmod/chown/xattr change moves ctime).
    pub fn unchanged(&self, old: &Stat) -> bool {
        self.size == old.size
            && self.mtime == old.mtime
            && self.ctime == old.ctime
            && self.ino == old.ino
            && self.mode == old.mode
    }
}

/// One indexed path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Absolute filesystem path.
    pub path: Vec<u8>,
    /// lstat at the time it was indexed.
    pub stat: Stat,
    /// Git mode stored at the last save (0 if not saved).
    pub git_mode: u32,
    /// Object stored at the last save, if any.
    pub id: Option<ObjectId>,
    /// Encoded `.bupm` record captured at the last save (empty if none).
    pub meta: Vec<u8>,
}

/// An indexed root and the rules it was walked with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootRules {
    /// Absolute path of the root (raw bytes: paths need not be UTF-8).
    pub path: Vec<u8>,
    /// Stay on the root's filesystem (`-x`).
    pub one_file_system: bool,
    /// Absolute paths excluded.
    pub exclude: Vec<Vec<u8>>,
    /// Regular expressions matched against absolute paths (dirs end in `/`).
    pub exclude_rx: Vec<String>,
}

fn encode_entry(e: &Entry, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    // IndexWriter::push refuses longer paths.
    let plen = e.path.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&(plen as u16).to_le_bytes());
    out.extend_from_slice(&e.path[..plen]);
    let s = &e.stat;
    for v in [s.dev, s.ino] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [s.mode, s.uid, s.gid] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [s.rdev, s.size, s.nlink] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for (sec, ns) in [s.atime, s.mtime, s.ctime] {
        out.extend_from_slice(&sec.to_le_bytes());
        out.extend_from_slice(&ns.to_le_bytes());
    }
    out.extend_from_slice(&e.git_mode.to_le_bytes());
    out.push(u8::from(e.id.is_some()));
    out.extend_from_slice(e.id.unwrap_or_default().as_bytes());
    out.extend_from_slice(&(e.meta.len() as u32).to_le_bytes());
    out.extend_from_slice(&e.meta);
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

struct Rd<'a>(&'a [u8]);

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn time(&mut self) -> Option<(i64, u32)> {
        Some((self.i64()?, self.u32()?))
    }
}

fn decode_entry(body: &[u8]) -> Option<Entry> {
    let mut r = Rd(body);
    let plen = usize::from(r.u16()?);
    let path = r.take(plen)?.to_vec();
    let stat = Stat {
        dev: r.u64()?,
        ino: r.u64()?,
        mode: r.u32()?,
        uid: r.u32()?,
        gid: r.u32()?,
        rdev: r.u64()?,
        size: r.u64()?,
        nlink: r.u64()?,
        atime: r.time()?,
        mtime: r.time()?,
        ctime: r.time()?,
    };
    let git_mode = r.u32()?;
    let has_id = r.u8()? != 0;
    let id = ObjectId::from_slice(r.take(20)?)?;
    let mlen = r.u32()? as usize;
    let meta = r.take(mlen)?.to_vec();
    if !r.0.is_empty() {
        return None;
    }
    Some(Entry {
        path,
        stat,
        git_mode,
        id: has_id.then_some(id),
        meta,
    })
}

/// A verified index file, read through a memory map.
///
/// Read with `pread` through small buffers, never mapped: a save reads the
/// whole index, and through a mapping every page of it would count as the
/// process's memory.
pub struct IndexReader {
    file: std::fs::File,
    roots: Vec<RootRules>,
    entries_start: u64,
    entries_end: u64,
}

impl IndexReader {
    /// Open and verify the index at `path`. `Ok(None)` if there is none.
    /// A damaged file is an error the caller may downgrade to a warning.
    pub fn open(path: &Path) -> Result<Option<IndexReader>, Error> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let corrupt = |why: &str| Error::Corrupt {
            path: path.to_path_buf(),
            why: why.to_string(),
        };
        use std::os::unix::fs::FileExt;
        let len = file.metadata().map_err(io)?.len();
        if len < 8 + 4 + 8 + 32 {
            return Err(corrupt("too short"));
        }
        let body_len = len - 32;
        // Verify the whole file first, streaming.
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut at = 0u64;
        while at < body_len {
            let n = usize::try_from((body_len - at).min(buf.len() as u64)).unwrap_or(buf.len());
            file.read_exact_at(&mut buf[..n], at).map_err(io)?;
            hasher.update(&buf[..n]);
            at += n as u64;
        }
        let mut sum = [0u8; 32];
        file.read_exact_at(&mut sum, body_len).map_err(io)?;
        if hasher.finalize().as_bytes() != &sum {
            return Err(corrupt("checksum mismatch"));
        }
        let mut head = [0u8; 12];
        file.read_exact_at(&mut head, 0).map_err(io)?;
        let mut r = Rd(&head);
        if r.take(4) != Some(MAGIC) {
            return Err(corrupt("bad magic"));
        }
        if r.u32() != Some(VERSION) {
            return Err(corrupt("unknown version"));
        }
        let rlen = u64::from(r.u32().ok_or_else(|| corrupt("truncated header"))?);
        let entries_start = 12 + rlen;
        let entries_end = body_len - 8;
        if entries_start > entries_end {
            return Err(corrupt("roots overlap the entry count"));
        }
        let mut roots_json =
            vec![0u8; usize::try_from(rlen).map_err(|_| corrupt("truncated roots"))?];
        file.read_exact_at(&mut roots_json, 12).map_err(io)?;
        let roots: Vec<RootRules> =
            serde_json::from_slice(&roots_json).map_err(|e| corrupt(&e.to_string()))?;
        Ok(Some(IndexReader {
            file,
            roots,
            entries_start,
            entries_end,
        }))
    }

    /// The roots this index covers.
    pub fn roots(&self) -> &[RootRules] {
        &self.roots
    }

    /// A forward cursor over the entries.
    pub fn cursor(&self) -> Cursor<'_> {
        Cursor {
            file: &self.file,
            pos: self.entries_start,
            end: self.entries_end,
            buf: Vec::new(),
            at: 0,
            pending: None,
        }
    }
}

/// Forward-only reader of index entries in [`dfs_cmp`] order, reading the
/// file through a 64 KiB window (verified by [`IndexReader::open`]).
pub struct Cursor<'a> {
    file: &'a std::fs::File,
    /// File offset of `buf[0]`'s successor data: the next read position.
    pos: u64,
    end: u64,
    /// Buffered bytes; `buf[at..]` are not consumed yet.
    buf: Vec<u8>,
    at: usize,
    pending: Option<Entry>,
}

impl Cursor<'_> {
    /// Make at least `n` unconsumed bytes available; false at the end.
    fn fill(&mut self, n: usize) -> bool {
        use std::os::unix::fs::FileExt;
        if self.buf.len() - self.at >= n {
            return true;
        }
        self.buf.drain(..self.at);
        self.at = 0;
        let want = n.max(1 << 16);
        let room = usize::try_from(self.end.saturating_sub(self.pos)).unwrap_or(usize::MAX);
        let take = want.saturating_sub(self.buf.len()).min(room);
        if take == 0 {
            return self.buf.len() >= n;
        }
        let old = self.buf.len();
        self.buf.resize(old + take, 0);
        if self
            .file
            .read_exact_at(&mut self.buf[old..], self.pos)
            .is_err()
        {
            self.buf.truncate(old);
            self.end = self.pos;
            return false;
        }
        self.pos += take as u64;
        self.buf.len() >= n
    }

    /// The next entry, or `None` at the end (or at a damaged record, which
    /// ends the cursor: the rest is treated as not indexed).
    pub fn next_entry(&mut self) -> Option<Entry> {
        if let Some(e) = self.pending.take() {
            return Some(e);
        }
        if !self.fill(4) {
            return None;
        }
        let len_bytes: [u8; 4] = self.buf[self.at..self.at + 4].try_into().ok()?;
        let len = u32::from_le_bytes(len_bytes) as usize;
        // An entry is at most a path (64 KiB) plus a record: anything much
        // larger is damage, not an entry.
        if len > 16 << 20 || !self.fill(4 + len) {
            self.end = self.pos;
            self.buf.clear();
            self.at = 0;
            return None;
        }
        let e = decode_entry(&self.buf[self.at + 4..self.at + 4 + len]);
        self.at += 4 + len;
        if e.is_none() {
            self.end = self.pos;
            self.buf.clear();
            self.at = 0;
        }
        e
    }

    fn peek(&mut self) -> Option<&Entry> {
        if self.pending.is_none() {
            self.pending = self.next_entry();
        }
        self.pending.as_ref()
    }

    /// Skip entries before `path`; return the entry for `path` if present.
    pub fn seek(&mut self, path: &[u8]) -> Option<Entry> {
        loop {
            let ord = dfs_cmp(&self.peek()?.path, path);
            match ord {
                Ordering::Less => {
                    self.pending = None;
                }
                Ordering::Equal => return self.pending.take(),
                Ordering::Greater => return None,
            }
        }
    }

    /// Remove and return the next entry if it sorts before `path`.
    pub fn pop_before(&mut self, path: &[u8]) -> Option<Entry> {
        if dfs_cmp(&self.peek()?.path, path) == Ordering::Less {
            self.pending.take()
        } else {
            None
        }
    }
}

/// Writes a new index: temp file, fsync, rename.
pub struct IndexWriter {
    path: PathBuf,
    tmp: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    hasher: blake3::Hasher,
    /// Bytes written but not yet hashed.
    pending_hash: Vec<u8>,
    buf: Vec<u8>,
    count: u64,
    last: Option<Vec<u8>>,
}

impl IndexWriter {
    /// Start writing the index that will replace `path`.
    pub fn create(path: &Path, roots: &[RootRules]) -> Result<IndexWriter, Error> {
        let mut tmp = temp_prefix(path);
        tmp.push(std::process::id().to_string());
        let tmp = PathBuf::from(tmp);
        let io = |source| Error::Io {
            path: tmp.clone(),
            source,
        };
        let file = std::fs::File::create(&tmp).map_err(io)?;
        let mut w = IndexWriter {
            path: path.to_path_buf(),
            tmp: tmp.clone(),
            out: std::io::BufWriter::with_capacity(1 << 16, file),
            hasher: blake3::Hasher::new(),
            pending_hash: Vec::with_capacity(1 << 17),
            buf: Vec::with_capacity(512),
            count: 0,
            last: None,
        };
        let roots_json = serde_json::to_vec(roots).unwrap_or_default();
        let mut head = Vec::new();
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(&VERSION.to_le_bytes());
        head.extend_from_slice(&(roots_json.len() as u32).to_le_bytes());
        head.extend_from_slice(&roots_json);
        w.write_raw(&head)?;
        Ok(w)
    }

    fn write_raw(&mut self, b: &[u8]) -> Result<(), Error> {
        // Hash in large pieces: BLAKE3's SIMD needs more than one entry.
        self.pending_hash.extend_from_slice(b);
        if self.pending_hash.len() >= 1 << 16 {
            self.hasher.update(&self.pending_hash);
            self.pending_hash.clear();
        }
        self.out.write_all(b).map_err(|source| Error::Io {
            path: self.tmp.clone(),
            source,
        })
    }

    /// Append an entry; entries must come in strictly increasing
    /// [`dfs_cmp`] order (out-of-order or duplicate entries are dropped).
    /// Paths longer than 65535 bytes are not indexed (they are re-read).
    pub fn push(&mut self, e: &Entry) -> Result<(), Error> {
        if e.path.len() > usize::from(u16::MAX) {
            return Ok(());
        }
        if let Some(last) = &self.last
            && dfs_cmp(last, &e.path) != Ordering::Less
        {
            return Ok(());
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        encode_entry(e, &mut buf);
        self.write_raw(&buf)?;
        self.buf = buf;
        self.count += 1;
        self.last = Some(e.path.clone());
        Ok(())
    }

    /// Finish: footer, fsync, rename over the old index.
    pub fn finish(mut self) -> Result<(), Error> {
        let count = self.count.to_le_bytes();
        self.write_raw(&count)?;
        self.hasher.update(&self.pending_hash);
        self.pending_hash.clear();
        let sum = *self.hasher.finalize().as_bytes();
        let io = |source| Error::Io {
            path: self.tmp.clone(),
            source,
        };
        self.out.write_all(&sum).map_err(io)?;
        self.out.flush().map_err(io)?;
        self.out.get_ref().sync_all().map_err(io)?;
        crate::failpoint::hit("index-before-rename");
        std::fs::rename(&self.tmp, &self.path).map_err(io)?;
        if let Some(dir) = self.path.parent() {
            let _ = crate::repo::sync_dir(dir);
        }
        self.tmp = PathBuf::new();
        Ok(())
    }
}

impl Drop for IndexWriter {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Builds the next index from fresh entries (for the refreshed roots, in
/// order) and the old index (whose entries outside those roots are kept).
pub struct Merger<'a> {
    old: Option<Cursor<'a>>,
    refreshed: Vec<Vec<u8>>,
    out: IndexWriter,
}

impl<'a> Merger<'a> {
    /// `refreshed`: the roots whose old entries are replaced by what is pushed.
    pub fn new(old: Option<&'a IndexReader>, refreshed: Vec<Vec<u8>>, out: IndexWriter) -> Self {
        Merger {
            old: old.map(IndexReader::cursor),
            refreshed,
            out,
        }
    }

    fn keep(&self, path: &[u8]) -> bool {
        !self.refreshed.iter().any(|r| is_under(path, r))
    }

    /// Add a fresh entry (in order).
    pub fn push(&mut self, e: &Entry) -> Result<(), Error> {
        while let Some(old) = self.old.as_mut().and_then(|c| c.pop_before(&e.path)) {
            if self.keep(&old.path) {
                self.out.push(&old)?;
            }
        }
        self.out.push(e)
    }

    /// Copy the remaining old entries and commit the new index.
    pub fn finish(mut self) -> Result<(), Error> {
        while let Some(old) = self.old.as_mut().and_then(Cursor::next_entry) {
            if self.keep(&old.path) {
                self.out.push(&old)?;
            }
        }
        self.out.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, size: u64) -> Entry {
        Entry {
            path: path.as_bytes().to_vec(),
            stat: Stat {
                size,
                ..Stat::default()
            },
            git_mode: 0o100644,
            id: Some(ObjectId::hash_object(
                crate::oid::ObjectKind::Blob,
                path.as_bytes(),
            )),
            meta: vec![1, 2, 3],
        }
    }

    #[test]
    fn dfs_order_matches_a_sorted_walk() {
        let mut v = vec!["/a-b", "/a/b", "/a", "/", "/a/b/c", "/a.b", "/ab"];
        v.sort_by(|x, y| dfs_cmp(x.as_bytes(), y.as_bytes()));
        assert_eq!(v, ["/", "/a", "/a/b", "/a/b/c", "/a-b", "/a.b", "/ab"]);
        assert!(is_under(b"/a/b", b"/a"));
        assert!(!is_under(b"/a-b", b"/a"));
        assert!(is_under(b"/x", b"/"));
    }

    #[test]
    fn write_read_merge_round_trip() {
        let td = tempfile::tempdir().unwrap();
        let p = td.path().join("backup.index");
        let roots = vec![RootRules {
            path: b"/a".to_vec(),
            ..RootRules::default()
        }];
        let mut w = IndexWriter::create(&p, &roots).unwrap();
        for e in [
            entry("/a", 0),
            entry("/a/x", 1),
            entry("/b", 2),
            entry("/b/y", 3),
        ] {
            w.push(&e).unwrap();
        }
        w.finish().unwrap();
        let r = IndexReader::open(&p).unwrap().unwrap();
        assert_eq!(r.roots(), &roots[..]);
        let mut c = r.cursor();
        assert_eq!(c.seek(b"/a/x").unwrap(), entry("/a/x", 1));
        assert!(c.seek(b"/a/zz").is_none());
        assert_eq!(c.seek(b"/b/y").unwrap(), entry("/b/y", 3));

        // Refresh /a with a new listing: /a/x gone, /a/w new; /b kept.
        let w = IndexWriter::create(&p, &roots).unwrap();
        let mut m = Merger::new(Some(&r), vec![b"/a".to_vec()], w);
        m.push(&entry("/a", 0)).unwrap();
        m.push(&entry("/a/w", 9)).unwrap();
        m.finish().unwrap();
        drop(r);
        let r = IndexReader::open(&p).unwrap().unwrap();
        let mut c = r.cursor();
        let mut got = vec![];
        while let Some(e) = c.next_entry() {
            got.push(String::from_utf8(e.path).unwrap());
        }
        assert_eq!(got, ["/a", "/a/w", "/b", "/b/y"]);
    }

    #[test]
    fn damaged_index_is_reported_not_trusted() {
        let td = tempfile::tempdir().unwrap();
        let p = td.path().join("backup.index");
        let mut w = IndexWriter::create(&p, &[]).unwrap();
        w.push(&entry("/a", 0)).unwrap();
        w.finish().unwrap();
        let mut bytes = std::fs::read(&p).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
        std::fs::write(&p, &bytes).unwrap();
        assert!(matches!(IndexReader::open(&p), Err(Error::Corrupt { .. })));
        assert!(
            IndexReader::open(&td.path().join("none"))
                .unwrap()
                .is_none()
        );
    }
}
