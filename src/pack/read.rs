//! Reading objects out of a pack file.
//!
//! Owns parsing pack entries (header, OFS_DELTA/REF_DELTA base references),
//! inflating them (libdeflate when the whole body is wanted, a streaming
//! flate2 inflater for [`Pack::copy_to`]) and resolving delta chains. Every
//! length and offset read from the file is checked before use: a damaged
//! pack yields an [`Error`] naming the pack and offset, never a panic.

use crate::oid::{ObjectId, ObjectKind};
use crate::pack::delta;
use crate::pack::idx::Idx;
use crate::pack::{OFS_DELTA, REF_DELTA};
use libdeflater::{DecompressionError, Decompressor};
use sha1::{Digest, Sha1};
use std::borrow::Cow;
use std::cell::RefCell;
use std::path::{Path, PathBuf};

/// Longest delta chain followed before giving up (git's default maximum is 50;
/// this only stops loops between REF_DELTA entries).
pub const MAX_DELTA_DEPTH: usize = 5000;

/// Deflate cannot expand data by more than this factor (a 258-byte match
/// costs at least 2 bits in theory; 1032 is the usual bound), so a header
/// claiming more than this times the remaining bytes is corrupt.
const MAX_INFLATE_RATIO: u64 = 1032;

/// Objects up to this size are inflated in one call into an exact-size
/// buffer; larger ones are streamed (see `Pack::inflate`).
const DIRECT_INFLATE_MAX: u64 = 64 << 20;

/// Finds a REF_DELTA base outside the pack: given the base id, returns its
/// kind and body (for [`Pack::read_at`]).
pub type BaseResolver<'a> = dyn Fn(&ObjectId) -> Option<(ObjectKind, Vec<u8>)> + 'a;

/// Returned by [`Pack`] methods and [`parse_entry_header`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pack file could not be opened, measured or mapped.
    #[error("cannot read pack {path}")]
    Io {
        /// The pack file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a pack, or does not belong to the idx it was opened with.
    #[error("pack {}: {reason}", show_path(path))]
    BadPack {
        /// The pack file (`None` for [`Pack::from_bytes`]).
        path: Option<PathBuf>,
        /// What is wrong.
        reason: String,
    },
    /// An entry (or a delta base it leads to) is damaged.
    #[error("pack {}: entry at offset {offset}: {problem}", show_path(path))]
    Corrupt {
        /// The pack file (`None` for [`Pack::from_bytes`]).
        path: Option<PathBuf>,
        /// Offset of the damaged entry.
        offset: u64,
        /// What is wrong.
        problem: Problem,
    },
    /// An entry header parsed with [`parse_entry_header`] is damaged.
    #[error("bad pack entry header: {0}")]
    Header(Problem),
    /// An object read back does not hash to the id it was asked for.
    #[error(
        "pack {}: object {id} at offset {offset} hashes to {actual}",
        show_path(path)
    )]
    HashMismatch {
        /// The pack file (`None` for [`Pack::from_bytes`]).
        path: Option<PathBuf>,
        /// Offset of the entry.
        offset: u64,
        /// The id the idx names.
        id: ObjectId,
        /// The id of what was read.
        actual: ObjectId,
    },
    /// Writing a streamed object to its destination failed.
    #[error("pack {}: writing out the object at offset {offset}", show_path(path))]
    Output {
        /// The pack file (`None` for [`Pack::from_bytes`]).
        path: Option<PathBuf>,
        /// Offset of the entry.
        offset: u64,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// What is wrong with one pack entry.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// The entry runs past the end of the pack data.
    #[error("truncated")]
    Truncated,
    /// Type code 0 or 5.
    #[error("invalid object type {0}")]
    BadType(u8),
    /// The size (or an OFS_DELTA distance) does not fit in 64 bits.
    #[error("size field overflows")]
    Overflow,
    /// The offset is not inside the pack's entry area.
    #[error("offset outside the pack")]
    OutOfRange,
    /// An OFS_DELTA names a base that is not before it in the pack.
    #[error("delta base distance {0} points outside the pack")]
    BadBaseOffset(u64),
    /// The zlib stream is damaged.
    #[error("bad zlib stream")]
    Inflate,
    /// The zlib stream inflates to another size than the header says.
    #[error("inflates to {actual} bytes, header says {expected}")]
    SizeMismatch {
        /// Size from the entry header.
        expected: u64,
        /// Size inflated (or a lower bound if larger than expected).
        actual: u64,
    },
    /// The header's size cannot be right or cannot be allocated.
    #[error("size {0} is impossible for this entry")]
    TooLarge(u64),
    /// A REF_DELTA base is neither in this pack nor found by the resolver.
    #[error("delta base {0} not found")]
    MissingBase(ObjectId),
    /// The delta does not apply to its base.
    #[error("bad delta: {0}")]
    Delta(delta::Error),
    /// The delta chain is longer than [`MAX_DELTA_DEPTH`].
    #[error("delta chain longer than {MAX_DELTA_DEPTH}")]
    ChainTooDeep,
    /// The delta chain comes back to the entry at this offset, which it
    /// already passed (a REF_DELTA base may name any entry).
    #[error("delta chain loops back to offset {0}")]
    DeltaLoop(u64),
    /// [`Pack::copy_to`] reached a delta whose base is outside this pack.
    #[error("delta cannot be streamed")]
    DeltaNotStreamable,
}

fn show_path(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => p.display().to_string(),
        None => "(in memory)".to_string(),
    }
}

/// Parse a pack entry header at the start of `data`: (type code 1..=7,
/// inflated size, header length). Never panics.
pub fn parse_entry_header(data: &[u8]) -> Result<(u8, u64, usize), Error> {
    parse_header(data).map_err(Error::Header)
}

fn parse_header(data: &[u8]) -> Result<(u8, u64, usize), Problem> {
    let first = *data.first().ok_or(Problem::Truncated)?;
    let code = (first >> 4) & 7;
    if code == 0 || code == 5 {
        return Err(Problem::BadType(code));
    }
    let mut size = u64::from(first & 0x0f);
    let mut shift = 4u32;
    let mut pos = 1;
    let mut byte = first;
    while byte & 0x80 != 0 {
        byte = *data.get(pos).ok_or(Problem::Truncated)?;
        pos += 1;
        let bits = u64::from(byte & 0x7f);
        if shift >= 64 || (shift > 57 && bits >> (64 - shift) != 0) {
            return Err(Problem::Overflow);
        }
        size |= bits << shift;
        shift += 7;
    }
    Ok((code, size, pos))
}

/// Parse the OFS_DELTA distance at the start of `data`: (distance, length).
fn parse_ofs_distance(data: &[u8]) -> Result<(u64, usize), Problem> {
    let mut byte = *data.first().ok_or(Problem::Truncated)?;
    let mut dist = u64::from(byte & 0x7f);
    let mut pos = 1;
    while byte & 0x80 != 0 {
        byte = *data.get(pos).ok_or(Problem::Truncated)?;
        pos += 1;
        dist = dist
            .checked_add(1)
            .and_then(|d| d.checked_mul(128))
            .ok_or(Problem::Overflow)?
            | u64::from(byte & 0x7f);
    }
    Ok((dist, pos))
}

/// What an entry holds, with where its zlib stream starts.
enum Entry {
    Whole(ObjectKind),
    OfsDelta(u64),
    RefDelta(ObjectId),
}

struct Parsed {
    entry: Entry,
    size: u64,
    data_at: usize,
}

thread_local! {
    static DECOMPRESSOR: RefCell<Option<Decompressor>> = const { RefCell::new(None) };
}

fn inflate_exact(input: &[u8], out: &mut [u8]) -> Result<usize, DecompressionError> {
    DECOMPRESSOR.with(|cell| match cell.try_borrow_mut() {
        Ok(mut d) => d
            .get_or_insert_with(Decompressor::new)
            .zlib_decompress(input, out),
        Err(_) => Decompressor::new().zlib_decompress(input, out),
    })
}

/// Where a pack's bytes are: in memory ([`Pack::from_bytes`]), or in a file
/// read with `pread` ([`Pack::open`]). Files are not memory-mapped: reading
/// a multi-GB pack through a mapping grows the resident set with every page
/// touched, and releasing those pages costs in proportion to the mapping.
enum Data {
    Mem(Vec<u8>),
    File { file: std::fs::File, len: usize },
}

impl Data {
    fn len(&self) -> usize {
        match self {
            Data::Mem(v) => v.len(),
            Data::File { len, .. } => *len,
        }
    }

    /// `len` bytes at `start` (fewer only if the data ends first).
    fn read(&self, start: usize, len: usize) -> std::io::Result<Cow<'_, [u8]>> {
        let end = start.saturating_add(len).min(self.len());
        let start = start.min(end);
        match self {
            Data::Mem(v) => Ok(Cow::Borrowed(&v[start..end])),
            Data::File { file, .. } => {
                use std::os::unix::fs::FileExt;
                let mut buf = vec![0u8; end - start];
                file.read_exact_at(&mut buf, start as u64)?;
                Ok(Cow::Owned(buf))
            }
        }
    }
}

/// Sequential reads of `data[pos..end]` (for streaming huge objects).
struct RangeReader<'a> {
    data: &'a Data,
    pos: usize,
    end: usize,
}

impl std::io::Read for RangeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.end.saturating_sub(self.pos));
        if n == 0 {
            return Ok(0);
        }
        let got = self.data.read(self.pos, n)?;
        buf[..got.len()].copy_from_slice(&got);
        self.pos += got.len();
        Ok(got.len())
    }
}

/// A pack file opened for reading, with its [`Idx`].
pub struct Pack {
    data: Data,
    path: Option<PathBuf>,
    idx: Idx,
    /// Entry offsets in pack order, built on first use by
    /// [`Pack::read_checked`] (where each entry ends).
    sorted_offsets: std::sync::OnceLock<Vec<u64>>,
}

impl std::fmt::Debug for Pack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pack")
            .field("path", &self.path)
            .field("len", &self.data.len())
            .field("idx", &self.idx)
            .finish()
    }
}

impl Pack {
    /// Open the pack at `pack_path`. Checks the header, the object count and
    /// that the trailer equals `idx.pack_checksum()` (not the SHA-1 of the
    /// whole file: see [`Pack::verify_checksum`]).
    pub fn open(pack_path: &Path, idx: Idx) -> Result<Pack, Error> {
        let io = |source| Error::Io {
            path: pack_path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(pack_path).map_err(io)?;
        let len = usize::try_from(file.metadata().map_err(io)?.len()).unwrap_or(usize::MAX);
        Pack::new(Data::File { file, len }, Some(pack_path.to_path_buf()), idx)
    }

    /// Like [`Pack::open`], for a pack held in memory.
    pub fn from_bytes(data: Vec<u8>, idx: Idx) -> Result<Pack, Error> {
        Pack::new(Data::Mem(data), None, idx)
    }

    fn new(data: Data, path: Option<PathBuf>, idx: Idx) -> Result<Pack, Error> {
        let bad = |reason: String| Error::BadPack {
            path: path.clone(),
            reason,
        };
        if data.len() < 32 {
            return Err(bad(format!("too short ({} bytes)", data.len())));
        }
        let io = |source| Error::Io {
            path: path.clone().unwrap_or_default(),
            source,
        };
        let head = data.read(0, 12).map_err(io)?.into_owned();
        let trailer = data.read(data.len() - 20, 20).map_err(io)?.into_owned();
        if &head[..4] != b"PACK" {
            return Err(bad("no PACK signature".to_string()));
        }
        let version = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        if version != 2 && version != 3 {
            return Err(bad(format!("unsupported pack version {version}")));
        }
        let count = u32::from_be_bytes([head[8], head[9], head[10], head[11]]);
        if count as usize != idx.len() {
            return Err(bad(format!(
                "holds {count} objects but its idx lists {}",
                idx.len()
            )));
        }
        let expected = idx.pack_checksum();
        if trailer[..] != expected {
            return Err(bad(format!(
                "trailer {} does not match its idx ({})",
                ObjectId::from_slice(&trailer).unwrap_or_default(),
                ObjectId(expected)
            )));
        }
        Ok(Pack {
            data,
            path,
            idx,
            sorted_offsets: std::sync::OnceLock::new(),
        })
    }

    /// The pack file (`None` for [`Pack::from_bytes`]).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The idx this pack was opened with.
    pub fn idx(&self) -> &Idx {
        &self.idx
    }

    /// Size of the pack file in bytes.
    pub fn size(&self) -> u64 {
        self.data.len() as u64
    }

    /// Check the SHA-1 of the whole pack against its trailer (reads it all).
    pub fn verify_checksum(&self) -> Result<(), Error> {
        let io = |source| Error::Io {
            path: self.path.clone().unwrap_or_default(),
            source,
        };
        let body_len = self.data.len() - 20;
        let mut h = Sha1::new();
        let mut at = 0;
        while at < body_len {
            let piece = self
                .data
                .read(at, (body_len - at).min(1 << 20))
                .map_err(io)?;
            h.update(&piece);
            at += piece.len();
        }
        let actual: [u8; 20] = h.finalize().into();
        let trailer = self.data.read(body_len, 20).map_err(io)?;
        let trailer = &trailer[..];
        if actual[..] != *trailer {
            return Err(Error::BadPack {
                path: self.path.clone(),
                reason: format!(
                    "checksum mismatch: trailer says {}, contents hash to {}",
                    ObjectId::from_slice(trailer).unwrap_or_default(),
                    ObjectId(actual)
                ),
            });
        }
        Ok(())
    }

    fn corrupt(&self, offset: u64, problem: Problem) -> Error {
        Error::Corrupt {
            path: self.path.clone(),
            offset,
            problem,
        }
    }

    /// End of the entry area (the trailer follows).
    fn entries_end(&self) -> usize {
        self.data.len() - 20
    }

    /// Parse the entry at `offset`, including a delta's base reference.
    fn parse_at(&self, offset: u64) -> Result<Parsed, Problem> {
        let end = self.entries_end();
        let start = usize::try_from(offset)
            .ok()
            .filter(|&s| s >= 12 && s < end)
            .ok_or(Problem::OutOfRange)?;
        // Type/size (at most 10 bytes), then an OFS distance (at most 10) or
        // a REF_DELTA base id (20).
        let head = self
            .data
            .read(start, (end - start).min(48))
            .map_err(|_| Problem::Truncated)?;
        let bytes = &head[..];
        let (code, size, mut at) = parse_header(bytes)?;
        let entry = match code {
            OFS_DELTA => {
                let (dist, n) = parse_ofs_distance(&bytes[at..])?;
                at += n;
                if dist == 0 || dist > offset - 12 {
                    return Err(Problem::BadBaseOffset(dist));
                }
                Entry::OfsDelta(offset - dist)
            }
            REF_DELTA => {
                let raw = bytes.get(at..at + 20).ok_or(Problem::Truncated)?;
                at += 20;
                Entry::RefDelta(ObjectId::from_slice(raw).ok_or(Problem::Truncated)?)
            }
            _ => Entry::Whole(ObjectKind::from_pack_code(code).ok_or(Problem::BadType(code))?),
        };
        Ok(Parsed {
            entry,
            size,
            data_at: start + at,
        })
    }

    /// Inflate the zlib stream at `data_at`, which must yield exactly `size` bytes.
    ///
    /// Up to [`DIRECT_INFLATE_MAX`] bytes, libdeflate inflates into a buffer of
    /// exactly `size`. Larger objects are streamed into a growing buffer, so a
    /// damaged header claiming a huge size costs only what actually inflates.
    fn inflate(&self, data_at: usize, size: u64) -> Result<Vec<u8>, Problem> {
        let avail = self
            .entries_end()
            .checked_sub(data_at)
            .ok_or(Problem::Truncated)?;
        let max = (avail as u64).saturating_mul(MAX_INFLATE_RATIO);
        let n = usize::try_from(size)
            .ok()
            .filter(|_| size <= max)
            .ok_or(Problem::TooLarge(size))?;
        let mut out = Vec::new();
        if size > DIRECT_INFLATE_MAX {
            out.try_reserve_exact(DIRECT_INFLATE_MAX as usize)
                .map_err(|_| Problem::TooLarge(size))?;
            let mut src = RangeReader {
                data: &self.data,
                pos: data_at,
                end: data_at + avail,
            };
            return match stream_inflate(&mut src, size, &mut out) {
                Ok(()) => Ok(out),
                Err(StreamFail::Bad(p)) => Err(p),
                Err(StreamFail::Write(_)) => Err(Problem::TooLarge(size)),
            };
        }
        // A zlib stream is never longer than its content plus 5 bytes per
        // 64 KiB stored block and a few bytes of framing: read only that.
        let bound = n.saturating_add(n / 512).saturating_add(64);
        let input = self
            .data
            .read(data_at, avail.min(bound))
            .map_err(|_| Problem::Truncated)?;
        out.try_reserve_exact(n)
            .map_err(|_| Problem::TooLarge(size))?;
        out.resize(n, 0);
        match inflate_exact(&input, &mut out) {
            Ok(got) if got == n => Ok(out),
            Ok(got) => Err(Problem::SizeMismatch {
                expected: size,
                actual: got as u64,
            }),
            Err(DecompressionError::InsufficientSpace) => Err(Problem::SizeMismatch {
                expected: size,
                actual: size.saturating_add(1),
            }),
            Err(DecompressionError::BadData) => Err(Problem::Inflate),
        }
    }

    /// Read and inflate the object at `offset`.
    ///
    /// OFS_DELTA bases are read from this pack; REF_DELTA bases from this pack
    /// if its idx lists them, else through `resolve_base` (which returns the
    /// base's kind and body). The inflated size is checked against the header.
    pub fn read_at(
        &self,
        offset: u64,
        resolve_base: &BaseResolver<'_>,
    ) -> Result<(ObjectKind, Vec<u8>), Error> {
        // Delta payloads from the requested entry down to the base.
        let mut deltas: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut at = offset;
        let (kind, mut body) = loop {
            if deltas.len() > MAX_DELTA_DEPTH {
                return Err(self.corrupt(offset, Problem::ChainTooDeep));
            }
            // Stop a loop at once: going round it until MAX_DELTA_DEPTH
            // would inflate and hold every delta on it again on each pass.
            if deltas.iter().any(|(o, _)| *o == at) {
                return Err(self.corrupt(offset, Problem::DeltaLoop(at)));
            }
            let p = self.parse_at(at).map_err(|e| self.corrupt(at, e))?;
            let payload = self
                .inflate(p.data_at, p.size)
                .map_err(|e| self.corrupt(at, e))?;
            match p.entry {
                Entry::Whole(kind) => break (kind, payload),
                Entry::OfsDelta(base) => {
                    deltas.push((at, payload));
                    at = base;
                }
                Entry::RefDelta(base_id) => {
                    deltas.push((at, payload));
                    if let Some(base) = self.idx.lookup(&base_id) {
                        at = base;
                    } else {
                        match resolve_base(&base_id) {
                            Some(found) => break found,
                            None => return Err(self.corrupt(at, Problem::MissingBase(base_id))),
                        }
                    }
                }
            }
        };
        while let Some((delta_at, d)) = deltas.pop() {
            body = delta::apply_delta(&body, &d)
                .map_err(|e| self.corrupt(delta_at, Problem::Delta(e)))?;
        }
        Ok((kind, body))
    }

    /// Read the object `id` if this pack's idx lists it (see [`Pack::read_at`]).
    pub fn read(
        &self,
        id: &ObjectId,
        resolve_base: &BaseResolver<'_>,
    ) -> Result<Option<(ObjectKind, Vec<u8>)>, Error> {
        match self.idx.lookup(id) {
            Some(offset) => self.read_at(offset, resolve_base).map(Some),
            None => Ok(None),
        }
    }

    /// Like [`Pack::read`], and check that what was read hashes to `id`, so
    /// a damaged pack names the bad object instead of returning wrong bytes.
    pub fn read_verified(
        &self,
        id: &ObjectId,
        resolve_base: &BaseResolver<'_>,
    ) -> Result<Option<(ObjectKind, Vec<u8>)>, Error> {
        let Some(offset) = self.idx.lookup(id) else {
            return Ok(None);
        };
        let (kind, body) = self.read_at(offset, resolve_base)?;
        let actual = ObjectId::hash_object(kind, &body);
        if actual != *id {
            return Err(Error::HashMismatch {
                path: self.path.clone(),
                offset,
                id: *id,
                actual,
            });
        }
        Ok(Some((kind, body)))
    }

    /// Read the object `id` like [`Pack::read_verified`], but check a whole
    /// (non-delta) object of up to 64 MiB without
    /// re-hashing it: its packed bytes must match the CRC-32 that the idx
    /// records for `id`, and inflate (zlib's Adler-32 checked) to exactly the
    /// size in its header. That catches damage to the pack and to the idx
    /// (an offset pointing at another entry fails the CRC) at a fraction of
    /// the cost of SHA-1. Anything else (a delta, a v1 idx without CRCs, a
    /// failed check) is read by [`Pack::read_verified`], which then decides.
    pub fn read_checked(
        &self,
        id: &ObjectId,
        resolve_base: &BaseResolver<'_>,
    ) -> Result<Option<(ObjectKind, Vec<u8>)>, Error> {
        let Some(pos) = self.idx.position(id) else {
            return Ok(None);
        };
        if let Some(crc) = self.idx.crc_at(pos)
            && let Some(found) = self.read_whole_by_crc(self.idx.offset_at(pos), crc)
        {
            return Ok(Some(found));
        }
        self.read_verified(id, resolve_base)
    }

    /// The fast path of [`Pack::read_checked`]; `None` when it does not apply
    /// or a check fails.
    fn read_whole_by_crc(&self, offset: u64, crc: u32) -> Option<(ObjectKind, Vec<u8>)> {
        let offsets = self.sorted_offsets.get_or_init(|| {
            let mut v: Vec<u64> = (0..self.idx.len()).map(|i| self.idx.offset_at(i)).collect();
            v.sort_unstable();
            v
        });
        let i = offsets.binary_search(&offset).ok()?;
        let end = offsets
            .get(i + 1)
            .copied()
            .unwrap_or(self.entries_end() as u64);
        let start = usize::try_from(offset).ok()?;
        let len = usize::try_from(end.checked_sub(offset)?).ok()?;
        if start < 12
            || len > (DIRECT_INFLATE_MAX as usize) + (DIRECT_INFLATE_MAX as usize) / 512 + 96
        {
            return None;
        }
        let packed = self.data.read(start, len).ok()?;
        if packed.len() != len || crc32fast::hash(&packed) != crc {
            return None;
        }
        let (code, size, at) = parse_header(&packed).ok()?;
        let kind = ObjectKind::from_pack_code(code)?;
        if size > DIRECT_INFLATE_MAX {
            return None;
        }
        let n = usize::try_from(size).ok()?;
        let mut out = vec![0u8; n];
        match inflate_exact(&packed[at..], &mut out) {
            Ok(got) if got == n => Some((kind, out)),
            _ => None,
        }
    }

    /// Like [`Pack::read_at`], but stream a non-delta object into `out`
    /// without holding it whole (for huge blobs). A delta entry is resolved
    /// in memory from bases in this pack and then written.
    pub fn copy_to(&self, offset: u64, out: &mut dyn std::io::Write) -> Result<ObjectKind, Error> {
        let p = self.parse_at(offset).map_err(|e| self.corrupt(offset, e))?;
        let kind = match p.entry {
            Entry::Whole(kind) => kind,
            Entry::OfsDelta(_) | Entry::RefDelta(_) => {
                let (kind, body) = self.read_at(offset, &|_| None).map_err(|e| match e {
                    Error::Corrupt {
                        offset: o,
                        problem: Problem::MissingBase(_),
                        ..
                    } => self.corrupt(o, Problem::DeltaNotStreamable),
                    other => other,
                })?;
                out.write_all(&body).map_err(|source| Error::Output {
                    path: self.path.clone(),
                    offset,
                    source,
                })?;
                return Ok(kind);
            }
        };
        let end = self.entries_end();
        if p.data_at > end {
            return Err(self.corrupt(offset, Problem::Truncated));
        }
        let mut src = RangeReader {
            data: &self.data,
            pos: p.data_at,
            end,
        };
        stream_inflate(&mut src, p.size, out).map_err(|e| match e {
            StreamFail::Bad(problem) => self.corrupt(offset, problem),
            StreamFail::Write(source) => Error::Output {
                path: self.path.clone(),
                offset,
                source,
            },
        })?;
        Ok(kind)
    }
}

/// Why [`stream_inflate`] stopped.
enum StreamFail {
    Bad(Problem),
    Write(std::io::Error),
}

/// Inflate the zlib stream read from `src` into `out` in 256 KiB pieces; it
/// must yield exactly `size` bytes. Bytes after the stream are not read
/// beyond the last input piece.
fn stream_inflate(
    src: &mut dyn std::io::Read,
    size: u64,
    out: &mut dyn std::io::Write,
) -> Result<(), StreamFail> {
    use flate2::{Decompress, FlushDecompress, Status};
    let mut z = Decompress::new(true);
    let mut input = vec![0u8; 256 * 1024];
    let (mut start, mut end, mut eof) = (0usize, 0usize, false);
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        if start == end && !eof {
            start = 0;
            end = src
                .read(&mut input)
                .map_err(|_| StreamFail::Bad(Problem::Truncated))?;
            eof = end == 0;
        }
        let (in_before, out_before) = (z.total_in(), z.total_out());
        let status = z
            .decompress(&input[start..end], &mut buf, FlushDecompress::None)
            .map_err(|_| StreamFail::Bad(Problem::Inflate))?;
        let consumed = usize::try_from(z.total_in() - in_before).unwrap_or(usize::MAX);
        let produced = usize::try_from(z.total_out() - out_before).unwrap_or(usize::MAX);
        start = start.saturating_add(consumed).min(end);
        let chunk = buf
            .get(..produced)
            .ok_or(StreamFail::Bad(Problem::Inflate))?;
        total += produced as u64;
        if total > size {
            return Err(StreamFail::Bad(Problem::SizeMismatch {
                expected: size,
                actual: total,
            }));
        }
        out.write_all(chunk).map_err(StreamFail::Write)?;
        match status {
            Status::StreamEnd => break,
            Status::Ok | Status::BufError => {
                if produced == 0 && consumed == 0 {
                    if eof {
                        // The input ends before the stream does.
                        return Err(StreamFail::Bad(Problem::Truncated));
                    }
                    if start < end {
                        // Input left but no progress: not a valid stream.
                        return Err(StreamFail::Bad(Problem::Inflate));
                    }
                }
            }
        }
    }
    if total != size {
        return Err(StreamFail::Bad(Problem::SizeMismatch {
            expected: size,
            actual: total,
        }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::entry::{Compression, PackedObject, encode_entry_header, encode_object};
    use crate::pack::testutil::{git, git_output, parse_batch, random_bytes, text_bytes};
    use crate::pack::write::PackWriter;
    use crate::pack::write_idx_v2;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use std::io::Write;
    use std::sync::OnceLock;

    /// A delta instruction for [`make_delta`].
    enum Op<'a> {
        Copy(usize, usize),
        Insert(&'a [u8]),
    }

    fn push_varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// Encode a delta from the format description; returns (delta, expected result).
    fn make_delta(base: &[u8], ops: &[Op]) -> (Vec<u8>, Vec<u8>) {
        let mut result = Vec::new();
        let mut d = Vec::new();
        for op in ops {
            match op {
                Op::Copy(off, len) => result.extend_from_slice(&base[*off..off + len]),
                Op::Insert(lit) => result.extend_from_slice(lit),
            }
        }
        push_varint(base.len() as u64, &mut d);
        push_varint(result.len() as u64, &mut d);
        for op in ops {
            match op {
                Op::Copy(off, len) => {
                    let mut cmd = 0x80u8;
                    let mut args = Vec::new();
                    for i in 0..4 {
                        let b = (off >> (8 * i)) as u8;
                        if b != 0 {
                            cmd |= 1 << i;
                            args.push(b);
                        }
                    }
                    for i in 0..3 {
                        let b = (len >> (8 * i)) as u8;
                        if b != 0 {
                            cmd |= 1 << (4 + i);
                            args.push(b);
                        }
                    }
                    d.push(cmd);
                    d.extend(args);
                }
                Op::Insert(lit) => {
                    d.push(lit.len() as u8);
                    d.extend_from_slice(lit);
                }
            }
        }
        (d, result)
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// An OFS_DELTA entry at `at` against the entry at `base_at`.
    fn ofs_entry(id: ObjectId, at: u64, base_at: u64, delta: &[u8]) -> PackedObject {
        let mut data = Vec::new();
        encode_entry_header(OFS_DELTA, delta.len() as u64, &mut data);
        let mut dist = at - base_at;
        let mut rev = vec![(dist & 0x7f) as u8];
        dist >>= 7;
        while dist != 0 {
            dist -= 1;
            rev.push(0x80 | (dist & 0x7f) as u8);
            dist >>= 7;
        }
        rev.reverse();
        data.extend(rev);
        data.extend(zlib(delta));
        packed(id, data)
    }

    /// A REF_DELTA entry against `base`.
    fn ref_entry(id: ObjectId, base: ObjectId, delta: &[u8]) -> PackedObject {
        let mut data = Vec::new();
        encode_entry_header(REF_DELTA, delta.len() as u64, &mut data);
        data.extend_from_slice(base.as_bytes());
        data.extend(zlib(delta));
        packed(id, data)
    }

    fn packed(id: ObjectId, data: Vec<u8>) -> PackedObject {
        PackedObject {
            id,
            kind: ObjectKind::Blob,
            size: 0,
            crc32: crc32fast::hash(&data),
            data,
        }
    }

    /// Write `objects` (built by `build`, which sees the writer's next offset)
    /// into a pack in `dir`; returns (pack bytes, idx bytes).
    fn write_pack(
        dir: &Path,
        build: impl FnOnce(&mut dyn FnMut(&dyn Fn(u64) -> PackedObject) -> u64),
    ) -> (Vec<u8>, Vec<u8>) {
        let mut w = PackWriter::create(dir).unwrap();
        build(&mut |make| {
            let at = w.bytes_written();
            w.append(&make(at)).unwrap();
            at
        });
        let fin = w.finish().unwrap().unwrap();
        (
            std::fs::read(&fin.pack_path).unwrap(),
            std::fs::read(&fin.idx_path).unwrap(),
        )
    }

    /// A small pack with whole objects, OFS and REF deltas and a depth-2 chain.
    struct Fixture {
        pack: Vec<u8>,
        idx: Vec<u8>,
        objects: HashMap<ObjectId, (ObjectKind, Vec<u8>)>,
    }

    fn fixture() -> &'static Fixture {
        static F: OnceLock<Fixture> = OnceLock::new();
        F.get_or_init(|| {
            let tmp = tempfile::tempdir().unwrap();
            let base = text_bytes(3000, 1);
            let base_id = ObjectId::hash_object(ObjectKind::Blob, &base);
            let (d1, r1) = make_delta(
                &base,
                &[
                    Op::Copy(0, 1000),
                    Op::Insert(b"<new>"),
                    Op::Copy(2000, 1000),
                ],
            );
            let (d2, r2) = make_delta(&base, &[Op::Insert(b"head "), Op::Copy(100, 300)]);
            let (d3, r3) = make_delta(&r1, &[Op::Copy(5, 1500), Op::Insert(b"tail")]);
            let noise = random_bytes(700, 2);
            let mut objects = HashMap::new();
            for (k, b) in [
                (ObjectKind::Blob, base.clone()),
                (ObjectKind::Blob, r1.clone()),
                (ObjectKind::Blob, r2.clone()),
                (ObjectKind::Blob, r3.clone()),
                (ObjectKind::Blob, noise.clone()),
                (ObjectKind::Blob, b"hi".to_vec()),
            ] {
                objects.insert(ObjectId::hash_object(k, &b), (k, b));
            }
            let id = |b: &[u8]| ObjectId::hash_object(ObjectKind::Blob, b);
            let (pack, idx) = write_pack(tmp.path(), |add| {
                let base_at =
                    add(&|_| encode_object(ObjectKind::Blob, &base, Compression::default()));
                let d1_at = add(&|at| ofs_entry(id(&r1), at, base_at, &d1));
                add(&|_| ref_entry(id(&r2), base_id, &d2));
                add(&|at| ofs_entry(id(&r3), at, d1_at, &d3));
                add(&|_| encode_object(ObjectKind::Blob, &noise, Compression::default()));
                add(&|_| encode_object(ObjectKind::Blob, b"hi", Compression { level: 0 }));
            });
            Fixture { pack, idx, objects }
        })
    }

    /// Recompute the pack trailer and a matching idx after editing pack bytes.
    fn reseal(mut pack: Vec<u8>, idx: &Idx) -> (Vec<u8>, Idx) {
        let n = pack.len();
        let sha: [u8; 20] = Sha1::digest(&pack[..n - 20]).into();
        pack[n - 20..].copy_from_slice(&sha);
        let mut entries: Vec<_> = (0..idx.len())
            .map(|i| (idx.id_at(i), idx.crc_at(i).unwrap(), idx.offset_at(i)))
            .collect();
        let idx = Idx::from_bytes(write_idx_v2(&mut entries, &sha)).unwrap();
        (pack, idx)
    }

    /// Read (verified) and stream every id; true for each read that succeeded.
    fn read_everything(pack: &Pack, ids: &[ObjectId]) -> Vec<bool> {
        let mut results = Vec::new();
        for id in ids {
            results.push(pack.read_verified(id, &|_| None).is_ok());
            if let Some(off) = pack.idx().lookup(id) {
                let _ = pack.copy_to(off, &mut Vec::new());
            }
        }
        results
    }

    #[test]
    fn reads_whole_objects_and_hand_made_deltas() {
        let f = fixture();
        let pack =
            Pack::from_bytes(f.pack.clone(), Idx::from_bytes(f.idx.clone()).unwrap()).unwrap();
        pack.verify_checksum().unwrap();
        let mut codes = Vec::new();
        for (id, (kind, body)) in &f.objects {
            let off = pack.idx().lookup(id).unwrap();
            codes.push(parse_entry_header(&f.pack[off as usize..]).unwrap().0);
            let got = pack.read_verified(id, &|_| None).unwrap().unwrap();
            assert!(got.0 == *kind && got.1 == *body);
            let mut streamed = Vec::new();
            assert_eq!(pack.copy_to(off, &mut streamed).unwrap(), *kind);
            assert!(streamed == *body);
        }
        codes.sort();
        assert_eq!(codes, [3, 3, 3, 6, 6, 7]);
        assert!(pack.read(&ObjectId([1; 20]), &|_| None).unwrap().is_none());
    }

    #[test]
    fn pack_and_idx_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Pack>();
        check::<Idx>();
    }

    #[test]
    fn parses_spec_example_header() {
        // bup-format.md §1.2: `36 78 01 cb cc cb 4b 2d e2 02 00 08 77 02 27` is a 6-byte blob "inner\n".
        let entry = [
            0x36, 0x78, 0x01, 0xcb, 0xcc, 0xcb, 0x4b, 0x2d, 0xe2, 0x02, 0x00, 0x08, 0x77, 0x02,
            0x27,
        ];
        assert_eq!(parse_entry_header(&entry).unwrap(), (3, 6, 1));
        assert!(matches!(
            parse_entry_header(&[]),
            Err(Error::Header(Problem::Truncated))
        ));
        assert!(matches!(
            parse_entry_header(&[0x80]),
            Err(Error::Header(Problem::BadType(0)))
        ));
        assert!(matches!(
            parse_entry_header(&[0xd0]),
            Err(Error::Header(Problem::BadType(5)))
        ));
        assert!(matches!(
            parse_entry_header(&[0xb5, 0x80]),
            Err(Error::Header(Problem::Truncated))
        ));
        let overflow = [0xbf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        assert!(matches!(
            parse_entry_header(&overflow),
            Err(Error::Header(Problem::Overflow))
        ));
    }

    /// Every object of a pack `git repack` wrote (OFS_DELTA chains, trees,
    /// commits) reads back exactly as `git cat-file --batch` prints it.
    fn check_against_git(repo: &Path, pack_path: &Path, idx_path: &Path, want_code: u8) {
        let idx = Idx::open(idx_path).unwrap();
        idx.verify_checksum().unwrap();
        let pack = Pack::open(pack_path, idx).unwrap();
        pack.verify_checksum().unwrap();
        let raw = std::fs::read(pack_path).unwrap();
        let ids: Vec<ObjectId> = pack.idx().iter().map(|(id, _)| id).collect();
        let codes: Vec<u8> = pack
            .idx()
            .iter()
            .map(|(_, off)| parse_entry_header(&raw[off as usize..]).unwrap().0)
            .collect();
        assert!(
            codes.contains(&want_code),
            "git wrote no type-{want_code} entries: {codes:?}"
        );
        let list: String = ids.iter().map(|id| format!("{id}\n")).collect();
        let batch = parse_batch(&git(repo, &["cat-file", "--batch"], Some(list.as_bytes())));
        assert_eq!(batch.len(), ids.len());
        for (id, kind, body) in batch {
            let (k, b) = pack.read_verified(&id, &|_| None).unwrap().unwrap();
            assert_eq!(k.name(), kind);
            assert!(b == body, "{id} differs from git");
            let mut streamed = Vec::new();
            pack.copy_to(pack.idx().lookup(&id).unwrap(), &mut streamed)
                .unwrap();
            assert!(streamed == body);
        }
    }

    /// A work tree with 30 commits of a slowly changing file: good delta material.
    fn history_repo(dir: &Path) -> PathBuf {
        git(dir, &["init", "-q", "w"], None);
        let repo = dir.join("w");
        let mut text = text_bytes(6000, 11);
        for i in 0..30u64 {
            let at = (i as usize * 197) % (text.len() - 40);
            text.splice(at..at + 10, format!("edit {i:05}").bytes());
            std::fs::write(repo.join("file.txt"), &text).unwrap();
            std::fs::write(repo.join(format!("small{}", i % 3)), format!("{i}\n")).unwrap();
            git(&repo, &["add", "-A"], None);
            git(&repo, &["commit", "-q", "-m", &format!("c{i}")], None);
        }
        repo
    }

    fn single_pack(dir: &Path) -> (PathBuf, PathBuf) {
        let packs: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "pack"))
            .collect();
        assert_eq!(packs.len(), 1, "{packs:?}");
        (packs[0].clone(), packs[0].with_extension("idx"))
    }

    #[test]
    fn reads_git_repacked_ofs_deltas() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = history_repo(tmp.path());
        git(
            &repo,
            &["repack", "-a", "-d", "-f", "-q", "--window=10", "--depth=5"],
            None,
        );
        let (pack, idx) = single_pack(&repo.join(".git/objects/pack"));
        check_against_git(&repo, &pack, &idx, OFS_DELTA);
    }

    #[test]
    fn reads_git_ref_deltas() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = history_repo(tmp.path());
        let out_dir = tmp.path().join("refpack");
        std::fs::create_dir(&out_dir).unwrap();
        let objects = git(&repo, &["rev-list", "--objects", "--all"], None);
        let ids: Vec<u8> = String::from_utf8(objects)
            .unwrap()
            .lines()
            .flat_map(|l| format!("{}\n", &l[..40]).into_bytes())
            .collect();
        let prefix = out_dir.join("p");
        git(
            &repo,
            &[
                "pack-objects",
                "-q",
                "--window=10",
                "--depth=5",
                prefix.to_str().unwrap(),
            ],
            Some(&ids),
        );
        let (pack, idx) = single_pack(&out_dir);
        check_against_git(&repo, &pack, &idx, REF_DELTA);
    }

    /// A REF_DELTA whose base is outside the pack (a "thin" pack) resolves
    /// through the callback; git, given the base, reads the same object.
    #[test]
    fn thin_ref_delta_uses_resolver_and_matches_git() {
        let tmp = tempfile::tempdir().unwrap();
        let base = text_bytes(5000, 21);
        let base_id = ObjectId::hash_object(ObjectKind::Blob, &base);
        let (d, result) = make_delta(
            &base,
            &[Op::Copy(4000, 1000), Op::Insert(b"--"), Op::Copy(0, 1234)],
        );
        let result_id = ObjectId::hash_object(ObjectKind::Blob, &result);
        let scratch = tmp.path().join("scratch");
        std::fs::create_dir(&scratch).unwrap();
        let (raw, idx) = write_pack(&scratch, |add| {
            add(&|_| ref_entry(result_id, base_id, &d));
        });
        let pack = Pack::from_bytes(raw.clone(), Idx::from_bytes(idx).unwrap()).unwrap();
        let resolver = |id: &ObjectId| (*id == base_id).then(|| (ObjectKind::Blob, base.clone()));
        let (kind, body) = pack.read_verified(&result_id, &resolver).unwrap().unwrap();
        assert!(kind == ObjectKind::Blob && body == result);
        let err = pack.read(&result_id, &|_| None).unwrap_err();
        assert!(
            matches!(err, Error::Corrupt { problem: Problem::MissingBase(b), offset: 12, .. } if b == base_id)
        );
        let err = pack.copy_to(12, &mut Vec::new()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Corrupt {
                    problem: Problem::DeltaNotStreamable,
                    ..
                }
            ),
            "{err}"
        );

        git(tmp.path(), &["init", "-q", "--bare", "r.git"], None);
        let repo = tmp.path().join("r.git");
        git(&repo, &["hash-object", "-w", "--stdin"], Some(&base));
        git(&repo, &["index-pack", "--stdin", "--fix-thin"], Some(&raw));
        let out = git(&repo, &["cat-file", "blob", &result_id.to_hex()], None);
        assert!(out == result);
    }

    #[test]
    fn ref_delta_loop_is_cut_off() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (ObjectId([0xaa; 20]), ObjectId([0xbb; 20]));
        let (d, _) = make_delta(b"xy", &[Op::Copy(0, 2)]);
        let (raw, idx) = write_pack(tmp.path(), |add| {
            add(&|_| ref_entry(a, b, &d));
            add(&|_| ref_entry(b, a, &d));
        });
        let pack = Pack::from_bytes(raw, Idx::from_bytes(idx).unwrap()).unwrap();
        let err = pack.read(&a, &|_| None).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Corrupt {
                    offset: 12,
                    problem: Problem::DeltaLoop(12),
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn object_over_64_mib_is_inflated_by_streaming() {
        let tmp = tempfile::tempdir().unwrap();
        let body = b"0123456789abcdef".repeat(((DIRECT_INFLATE_MAX as usize) >> 4) + 1000);
        let id = ObjectId::hash_object(ObjectKind::Blob, &body);
        let (raw, idx) = write_pack(tmp.path(), |add| {
            add(&|_| encode_object(ObjectKind::Blob, &body, Compression::default()));
        });
        let pack = Pack::from_bytes(raw, Idx::from_bytes(idx).unwrap()).unwrap();
        let (_, got) = pack.read_verified(&id, &|_| None).unwrap().unwrap();
        assert!(got == body);
    }

    #[test]
    fn errors_name_the_pack_and_offset() {
        let f = fixture();
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("pack-x.pack");
        let idx = Idx::from_bytes(f.idx.clone()).unwrap();
        let mut bad = f.pack.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        std::fs::write(&path, &bad).unwrap();
        let err = Pack::open(&path, idx).unwrap_err().to_string();
        assert!(
            err.contains("pack-x.pack") && err.contains("does not match its idx"),
            "{err}"
        );

        // Damage the "hi" blob's zlib stream (stored: its data bytes), keep the trailer valid.
        let hi = ObjectId::hash_object(ObjectKind::Blob, b"hi");
        let idx = Idx::from_bytes(f.idx.clone()).unwrap();
        let off = idx.lookup(&hi).unwrap();
        let mut bad = f.pack.clone();
        bad[off as usize + 1 + 7] ^= 0x20; // header 1 byte, zlib 2, block header 5: first data byte
        let (bad, idx) = reseal(bad, &idx);
        std::fs::write(&path, &bad).unwrap();
        let pack = Pack::open(&path, idx).unwrap();
        let err = pack.read(&hi, &|_| None).unwrap_err().to_string();
        assert!(
            err.contains("pack-x.pack")
                && err.contains(&format!("offset {off}"))
                && err.contains("zlib"),
            "{err}"
        );
    }

    #[test]
    fn every_single_byte_flip_is_detected() {
        let f = fixture();
        let idx = Idx::from_bytes(f.idx.clone()).unwrap();
        let ids: Vec<ObjectId> = f.objects.keys().copied().collect();
        // Entry ends, to know each zlib stream's last deflate byte (padding bits).
        let mut offsets: Vec<u64> = idx.iter().map(|(_, o)| o).collect();
        offsets.sort();
        offsets.push(f.pack.len() as u64 - 20);
        // Bits no inflater looks at: the padding after the final deflate
        // block (in the byte before the Adler-32), and bits 3..8 of a
        // stored block's header byte (the block is byte-aligned after it).
        let mut padding_bytes: Vec<usize> =
            offsets[1..].iter().map(|&end| end as usize - 5).collect();
        for w in offsets.windows(2) {
            let (start, end) = (w[0] as usize, w[1] as usize);
            let (_, size, hlen) = parse_entry_header(&f.pack[start..]).unwrap();
            let stored = crate::pack::entry::stored_zlib_len(size as usize);
            if end - start == hlen + stored && (start + hlen + 2) % 8 >= 3 {
                padding_bytes.push(start + hlen + 2);
            }
        }
        let mut undetected = Vec::new();
        for p in 0..f.pack.len() {
            let mut bad = f.pack.clone();
            bad[p] ^= 1 << (p % 8);
            // As stored: the trailer or the whole-pack checksum catches it.
            let opened = Pack::from_bytes(bad.clone(), Idx::from_bytes(f.idx.clone()).unwrap());
            match opened {
                Err(_) => assert!(p < 12 || p >= f.pack.len() - 20, "flip at {p} broke open"),
                Ok(pack) => {
                    assert!(pack.verify_checksum().is_err(), "flip at {p}");
                    read_everything(&pack, &ids);
                }
            }
            // With a recomputed trailer, reading the objects catches it.
            if (12..f.pack.len() - 20).contains(&p) {
                let (bad, idx) = reseal(bad, &idx);
                let pack = Pack::from_bytes(bad, idx).unwrap();
                if read_everything(&pack, &ids).iter().all(|&ok| ok) {
                    undetected.push(p);
                }
            }
        }
        assert!(
            undetected.iter().all(|p| padding_bytes.contains(p)),
            "undetected flips outside deflate padding: {undetected:?} (padding bytes {padding_bytes:?})"
        );
    }

    #[test]
    fn checked_reads_use_the_crc_path_for_whole_objects_and_match_verified_reads() {
        let f = fixture();
        let pack =
            Pack::from_bytes(f.pack.clone(), Idx::from_bytes(f.idx.clone()).unwrap()).unwrap();
        let mut fast = 0;
        for (id, (kind, body)) in &f.objects {
            let got = pack.read_checked(id, &|_| None).unwrap().unwrap();
            assert!(got.0 == *kind && got.1 == *body, "{id}");
            let pos = pack.idx().position(id).unwrap();
            let (off, crc) = (pack.idx().offset_at(pos), pack.idx().crc_at(pos).unwrap());
            let whole = parse_entry_header(&f.pack[off as usize..]).unwrap().0 == 3;
            match pack.read_whole_by_crc(off, crc) {
                Some((k, b)) => {
                    assert!(whole && k == *kind && b == *body, "{id}");
                    fast += 1;
                }
                None => assert!(!whole, "whole object {id} not read by CRC"),
            }
            // A CRC that does not match sends the read to the SHA-1 path.
            assert!(pack.read_whole_by_crc(off, crc ^ 1).is_none());
        }
        assert_eq!(fast, 3);
        assert!(
            pack.read_checked(&ObjectId([1; 20]), &|_| None)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn checked_reads_never_return_wrong_bytes() {
        let f = fixture();
        let idx = Idx::from_bytes(f.idx.clone()).unwrap();
        // Every single bit flip in the entries (trailer recomputed, so only
        // the per-object checks stand between the flip and the caller).
        for p in 12..f.pack.len() - 20 {
            let mut bad = f.pack.clone();
            bad[p] ^= 1 << (p % 8);
            let (bad, idx) = reseal(bad, &idx);
            let pack = Pack::from_bytes(bad, idx).unwrap();
            for (id, (kind, body)) in &f.objects {
                if let Ok(Some((k, b))) = pack.read_checked(id, &|_| None) {
                    assert!(k == *kind && b == *body, "flip at {p} changed {id}");
                }
            }
        }
        // An idx whose offsets of two whole objects are swapped.
        let mut entries: Vec<_> = (0..idx.len())
            .map(|i| (idx.id_at(i), idx.crc_at(i).unwrap(), idx.offset_at(i)))
            .collect();
        let whole: Vec<usize> = (0..entries.len())
            .filter(|&i| {
                parse_entry_header(&f.pack[entries[i].2 as usize..])
                    .unwrap()
                    .0
                    == 3
            })
            .collect();
        let (a, b) = (whole[0], whole[1]);
        let (off_a, off_b) = (entries[a].2, entries[b].2);
        entries[a].2 = off_b;
        entries[b].2 = off_a;
        let trailer: [u8; 20] = f.pack[f.pack.len() - 20..].try_into().unwrap();
        let swapped = Idx::from_bytes(write_idx_v2(&mut entries, &trailer)).unwrap();
        let pack = Pack::from_bytes(f.pack.clone(), swapped).unwrap();
        for (id, _, _) in [entries[a], entries[b]] {
            assert!(
                pack.read_checked(&id, &|_| None).is_err(),
                "{id} read through a swapped offset"
            );
        }
    }

    #[test]
    fn truncated_pack_is_rejected() {
        let f = fixture();
        for cut in 0..f.pack.len() {
            let idx = Idx::from_bytes(f.idx.clone()).unwrap();
            assert!(
                Pack::from_bytes(f.pack[..cut].to_vec(), idx).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn open_checks_count_and_signature() {
        let f = fixture();
        let mut bad = f.pack.clone();
        bad[11] += 1;
        let err = Pack::from_bytes(bad, Idx::from_bytes(f.idx.clone()).unwrap()).unwrap_err();
        assert!(
            err.to_string()
                .contains("holds 7 objects but its idx lists 6"),
            "{err}"
        );
        let mut bad = f.pack.clone();
        bad[0] = b'J';
        assert!(Pack::from_bytes(bad, Idx::from_bytes(f.idx.clone()).unwrap()).is_err());
    }

    /// git accepts the fixture (so its hand-made deltas are valid git
    /// deltas), and a damaged copy is rejected by git and by us alike.
    #[test]
    fn git_and_we_agree_on_fixture_validity() {
        let f = fixture();
        let tmp = tempfile::tempdir().unwrap();
        git(tmp.path(), &["init", "-q", "--bare", "r.git"], None);
        let repo = tmp.path().join("r.git");
        git(&repo, &["index-pack", "--stdin"], Some(&f.pack));
        let list: String = f.objects.keys().map(|id| format!("{id}\n")).collect();
        let batch = parse_batch(&git(&repo, &["cat-file", "--batch"], Some(list.as_bytes())));
        for (id, _, body) in batch {
            assert!(f.objects[&id].1 == body);
        }
        let mut bad = f.pack.clone();
        bad[20] ^= 0x10; // inside the first (compressed) blob's deflate data
        let (bad, idx) = reseal(bad, &Idx::from_bytes(f.idx.clone()).unwrap());
        let out = git_output(&repo, &["index-pack", "--stdin"], Some(&bad));
        assert!(!out.status.success());
        let msg = String::from_utf8_lossy(&out.stderr);
        assert!(msg.contains("inflate"), "{msg}");
        let pack = Pack::from_bytes(bad, idx).unwrap();
        let ids: Vec<ObjectId> = f.objects.keys().copied().collect();
        assert!(read_everything(&pack, &ids).iter().any(|&ok| !ok));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100))]

        #[test]
        fn random_mutations_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)
        ) {
            let f = fixture();
            let idx = Idx::from_bytes(f.idx.clone()).unwrap();
            let mut bad = f.pack.clone();
            let body = bad.len() - 20;
            for (at, byte) in &edits {
                let p = at.index(body);
                bad[p] = *byte;
            }
            if let Ok(pack) = Pack::from_bytes(bad.clone(), Idx::from_bytes(f.idx.clone()).unwrap()) {
                read_everything(&pack, &f.objects.keys().copied().collect::<Vec<_>>());
            }
            let (bad, idx) = reseal(bad, &idx);
            if let Ok(pack) = Pack::from_bytes(bad, idx) {
                let ids: Vec<ObjectId> = f.objects.keys().copied().collect();
                read_everything(&pack, &ids);
                for off in 0..pack.size() + 2 {
                    let _ = pack.read_at(off, &|_| None);
                }
            }
        }

        #[test]
        fn entry_header_parser_never_panics(data in proptest::collection::vec(any::<u8>(), 0..16)) {
            if let Ok((code, _, len)) = parse_entry_header(&data) {
                prop_assert!((1..=7).contains(&code) && code != 5 && len <= data.len());
            }
        }
    }
}
