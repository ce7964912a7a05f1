//! Content-defined chunking and bup's chunk-tree layout.
//!
//! Owns: the two splitters a repository may use ([`ChunkerConfig`]): bup's
//! rollsum splitter, byte-for-byte compatible with bup 0.33 including its
//! 8 MiB read-block semantics (bup-format.md §3.4–3.5), and FastCDC, whose
//! cut points depend only on the content; the [`Chunker`] that reads input in
//! large blocks and hands out [`Block`]s of complete chunks; and the
//! [`FanoutBuilder`] that groups a file's chunks into bup's chunk trees
//! (§3.6). It does no hashing of chunks and no storage: callers hash each
//! chunk, store it, and feed (id, length, level) to the [`FanoutBuilder`].
//!
//! A chunker change is a format change: the same input must always give the
//! same chunks, or deduplication against older saves is lost.

mod bupsplit;
mod cdc;
mod fanout;
mod rollsum;

#[cfg(test)]
mod tests;

pub use fanout::FanoutBuilder;

use crate::oid::ObjectId;
use cdc::CdcParams;
use std::io::{self, Read};

/// Which splitter a repository uses; recorded in the repo config
/// (`backup.chunker`, `backup.minsize`, `backup.avgsize`, `backup.maxsize`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChunkerConfig {
    /// bup's rollsum splitter (§3.4–3.5): same chunks and ids as `bup save`.
    Bup,
    /// FastCDC v2020 (fastcdc 5, normalization level 1) with these sizes.
    FastCdc {
        /// Smallest chunk (except the last of a stream).
        min: u32,
        /// Target average chunk size.
        avg: u32,
        /// Largest chunk.
        max: u32,
    },
}

/// A chunker configuration that fastcdc cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A size is odd (fastcdc 5 requires even sizes).
    #[error("fastcdc {name} size {value} is odd")]
    Odd {
        /// Which size (`min`, `avg` or `max`).
        name: &'static str,
        /// The offending value.
        value: u32,
    },
    /// A size is outside fastcdc's bounds.
    #[error("fastcdc {name} size {value} is outside {lo}..={hi}")]
    OutOfRange {
        /// Which size (`min`, `avg` or `max`).
        name: &'static str,
        /// The offending value.
        value: u32,
        /// Smallest allowed value.
        lo: u32,
        /// Largest allowed value.
        hi: u32,
    },
    /// The average size given to [`ChunkerConfig::fastcdc_with_avg`] is not a power of two.
    #[error("fastcdc average size {0} is not a power of two")]
    NotPowerOfTwo(u32),
    /// The sizes are not ordered `min <= avg <= max`.
    #[error("fastcdc sizes are not ordered min <= avg <= max: {min}, {avg}, {max}")]
    Unordered {
        /// Given minimum.
        min: u32,
        /// Given average.
        avg: u32,
        /// Given maximum.
        max: u32,
    },
}

/// Default FastCDC average chunk size (16 KiB; may change after measurement).
const FASTCDC_DEFAULT_AVG: u32 = 16 * 1024;
/// How much a FastCDC chunker reads per block. Any size gives the same chunks.
const FASTCDC_READ_SIZE: usize = 2 * 1024 * 1024;

impl ChunkerConfig {
    /// FastCDC with the default average (16 KiB), `min = avg / 4`, `max = avg * 4`.
    pub fn fastcdc_default() -> ChunkerConfig {
        ChunkerConfig::FastCdc {
            min: FASTCDC_DEFAULT_AVG / 4,
            avg: FASTCDC_DEFAULT_AVG,
            max: FASTCDC_DEFAULT_AVG * 4,
        }
    }

    /// FastCDC with average `avg` (a power of two in 256 B ..= 4 MiB),
    /// `min = avg / 4`, `max = avg * 4`.
    pub fn fastcdc_with_avg(avg: u32) -> Result<ChunkerConfig, ConfigError> {
        if !avg.is_power_of_two() {
            return Err(ConfigError::NotPowerOfTwo(avg));
        }
        check_range(
            "avg",
            avg,
            fastcdc::v2020::AVERAGE_MIN,
            fastcdc::v2020::AVERAGE_MAX,
        )?;
        ChunkerConfig::fastcdc(avg / 4, avg, avg * 4)
    }

    /// FastCDC with explicit sizes, validated (e.g. as read from a repo config).
    pub fn fastcdc(min: u32, avg: u32, max: u32) -> Result<ChunkerConfig, ConfigError> {
        let config = ChunkerConfig::FastCdc { min, avg, max };
        config.validate()?;
        Ok(config)
    }

    /// Check that fastcdc can use these sizes: each even and within fastcdc's
    /// bounds, and `min <= avg <= max`. [`ChunkerConfig::Bup`] is always valid.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let ChunkerConfig::FastCdc { min, avg, max } = *self else {
            return Ok(());
        };
        use fastcdc::v2020 as v;
        for (name, value, lo, hi) in [
            ("min", min, v::MINIMUM_MIN, v::MINIMUM_MAX),
            ("avg", avg, v::AVERAGE_MIN, v::AVERAGE_MAX),
            ("max", max, v::MAXIMUM_MIN, v::MAXIMUM_MAX),
        ] {
            if !value.is_multiple_of(2) {
                return Err(ConfigError::Odd { name, value });
            }
            check_range(name, value, lo, hi)?;
        }
        if !(min <= avg && avg <= max) {
            return Err(ConfigError::Unordered { min, avg, max });
        }
        Ok(())
    }

    /// The splitter's name as recorded in the repo config: `"bup"` or `"fastcdc"`.
    pub fn name(&self) -> &'static str {
        match self {
            ChunkerConfig::Bup => "bup",
            ChunkerConfig::FastCdc { .. } => "fastcdc",
        }
    }
}

fn check_range(name: &'static str, value: u32, lo: usize, hi: usize) -> Result<(), ConfigError> {
    let (lo, hi) = (
        u32::try_from(lo).unwrap_or(u32::MAX),
        u32::try_from(hi).unwrap_or(u32::MAX),
    );
    if value < lo || value > hi {
        return Err(ConfigError::OutOfRange {
            name,
            value,
            lo,
            hi,
        });
    }
    Ok(())
}

/// One chunk inside a [`Block`]'s data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkSpan {
    /// Offset of the chunk's first byte in [`Block::data`].
    pub start: usize,
    /// Offset just past the chunk's last byte.
    pub end: usize,
    /// bup: `Some(level)` per §3.4 (0 for capped and final chunks); fastcdc:
    /// `None` (the level is derived later from the chunk id, see
    /// [`fanout_level_from_id`]).
    pub level: Option<u8>,
}

impl ChunkSpan {
    /// Length of the chunk in bytes.
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// Whether the chunk is empty (never true for spans a [`Chunker`] returns).
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// Owned input bytes plus the complete chunks found in them, in order.
///
/// Every byte of `data` is in exactly one span; spans are contiguous, start
/// at 0 and end at `data.len()`. A block may be empty (no chunk was completed
/// by the read that produced it).
#[derive(Debug, Default)]
pub struct Block {
    /// The bytes of the chunks.
    pub data: Vec<u8>,
    /// The chunks, in order.
    pub chunks: Vec<ChunkSpan>,
}

/// The splitter a [`Chunker`] runs.
#[derive(Debug, Clone)]
enum Mode {
    Bup,
    Cdc(CdcParams),
    /// A config that failed validation: every read reports it.
    Invalid(ConfigError),
}

/// Splits one input stream (possibly read from several readers in turn)
/// into chunks, one read block at a time.
#[derive(Debug)]
pub struct Chunker {
    mode: Mode,
    /// Bytes per read block.
    read_size: usize,
    /// Expected input length, used once to size the first read buffer.
    size_hint: Option<u64>,
    /// Bytes read but not yet part of a complete chunk.
    pending: Vec<u8>,
    /// Buffers given back with [`Chunker::recycle`].
    spare: Vec<Vec<u8>>,
}

/// Upper bound for a read block (only tests choose the size).
const MAX_READ_SIZE: usize = 1 << 30;

/// How many recycled buffers a chunker keeps.
const MAX_SPARE: usize = 2;

impl Chunker {
    /// A chunker for `config`. An invalid FastCDC config (see
    /// [`ChunkerConfig::validate`]) makes every [`Chunker::next_block`] fail
    /// with [`io::ErrorKind::InvalidInput`].
    pub fn new(config: &ChunkerConfig) -> Chunker {
        let read_size = match config {
            ChunkerConfig::Bup => bupsplit::READ_SIZE,
            ChunkerConfig::FastCdc { .. } => FASTCDC_READ_SIZE,
        };
        Chunker::with_read_size(config, read_size)
    }

    /// A chunker reading blocks of `read_size` bytes. For bup this changes
    /// the chunks (bup's format needs 8 MiB), for fastcdc only the memory use.
    pub(crate) fn with_read_size(config: &ChunkerConfig, read_size: usize) -> Chunker {
        let mode = match (config, config.validate()) {
            (_, Err(e)) => Mode::Invalid(e),
            (ChunkerConfig::Bup, Ok(())) => Mode::Bup,
            (&ChunkerConfig::FastCdc { min, avg, max }, Ok(())) => Mode::Cdc(CdcParams {
                min: min as usize,
                avg: avg as usize,
                max: max as usize,
            }),
        };
        Chunker {
            mode,
            read_size: read_size.clamp(1, MAX_READ_SIZE),
            pending: Vec::new(),
            spare: Vec::new(),
            size_hint: None,
        }
    }

    /// Expect about `len` bytes of input: the first read buffer is sized to
    /// it instead of a full read block (saves memory and allocator work for
    /// the many small files of a tree). Only an allocation hint: the chunks
    /// are the same whatever the hint.
    pub fn with_size_hint(mut self, len: u64) -> Chunker {
        self.size_hint = Some(len);
        self
    }

    /// The most bytes that can stay pending between blocks.
    fn max_pending(&self) -> usize {
        match self.mode {
            Mode::Bup => bupsplit::BLOB_MAX,
            Mode::Cdc(p) => p.max,
            Mode::Invalid(_) => 0,
        }
    }

    /// Read ONE read-block from `reader` (bup: exactly 8 MiB unless EOF,
    /// looping over short reads as Python's `read(n)` does; fastcdc: 8 MiB
    /// too, though any size would give the same chunks), and return the chunks
    /// completed so far; bytes after the last certain cut stay pending inside
    /// the chunker. `Ok(None)` when `reader` is at EOF: pending bytes are
    /// kept, so a next reader can continue the same stream (this is how
    /// `split` concatenates several files, §3.5 last paragraph).
    ///
    /// On an I/O error the bytes of the failed block are dropped and the
    /// pending bytes from earlier blocks are kept.
    pub fn next_block<R: Read + ?Sized>(&mut self, reader: &mut R) -> io::Result<Option<Block>> {
        if let Mode::Invalid(e) = &self.mode {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, e.clone()));
        }
        let old_len = self.pending.len();
        let block = match self.size_hint.take() {
            Some(h) => usize::try_from(h)
                .unwrap_or(usize::MAX)
                .saturating_add(64)
                .min(self.read_size),
            None => self.read_size,
        };
        let want = block + self.max_pending().max(old_len);
        if self.pending.capacity() < want {
            self.pending.reserve_exact(want - old_len);
        }
        let got =
            match Read::take(&mut *reader, self.read_size as u64).read_to_end(&mut self.pending) {
                Ok(n) => n,
                Err(e) => {
                    self.pending.truncate(old_len);
                    return Err(e);
                }
            };
        if got == 0 {
            return Ok(None);
        }
        let mut chunks = Vec::new();
        let consumed = match self.mode {
            Mode::Bup => bupsplit::split_block(&self.pending, &mut chunks),
            Mode::Cdc(p) => cdc::split_block(&self.pending, p, false, &mut chunks),
            Mode::Invalid(_) => 0,
        };
        if consumed == 0 {
            return Ok(Some(Block::default()));
        }
        let mut rest = self.spare.pop().unwrap_or_default();
        rest.clear();
        rest.extend_from_slice(&self.pending[consumed..]);
        let mut data = std::mem::replace(&mut self.pending, rest);
        data.truncate(consumed);
        Ok(Some(Block { data, chunks }))
    }

    /// End of all input: the pending bytes as the final chunk(s) (level
    /// `Some(0)` for bup), or `None` if nothing is pending. The chunker is
    /// then empty and may be used for a new stream.
    pub fn finish(&mut self) -> Option<Block> {
        if self.pending.is_empty() {
            return None;
        }
        let data = std::mem::take(&mut self.pending);
        let mut chunks = Vec::new();
        match self.mode {
            Mode::Bup | Mode::Invalid(_) => chunks.push(ChunkSpan {
                start: 0,
                end: data.len(),
                level: Some(0),
            }),
            Mode::Cdc(p) => {
                cdc::split_block(&data, p, true, &mut chunks);
            }
        }
        Some(Block { data, chunks })
    }

    /// Give a spent [`Block`]'s buffer back for reuse (optional; everything
    /// is correct if it is never called).
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.spare.len() < MAX_SPARE && buf.capacity() >= self.read_size {
            buf.clear();
            self.spare.push(buf);
        }
    }
}

/// Level of a fastcdc chunk for the fanout, derived from its object id so
/// tree boundaries are content-defined: (trailing one-bits of
/// `u32::from_be_bytes(id[0..4])`) / 4, so P(level ≥ 1) = 1/16 like bup's
/// fanout of 16.
pub fn fanout_level_from_id(id: &ObjectId) -> u8 {
    let b = id.as_bytes();
    let word = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (word.trailing_ones() / rollsum::FANOUT_BITS) as u8
}
