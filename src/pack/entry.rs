//! Encoding one object as a pack entry: type/size header + zlib stream.
//!
//! Owns compression (libdeflate, one zlib stream per object, as git and bup
//! require), the incompressible-data shortcut (stored zlib blocks) and the
//! entry CRC-32 that `.idx` v2 records. Never does I/O.

use crate::oid::{ObjectId, ObjectKind};
use libdeflater::{CompressionLvl, Compressor};
use std::cell::RefCell;

/// One object encoded as a pack entry (type/size header + zlib stream), plus
/// what the idx needs.
///
/// This is also the unit the remote protocol sends: bup's
/// `receive-objects-v2` frame is (id, crc, data).
#[derive(Clone, Debug)]
pub struct PackedObject {
    /// The git id of the uncompressed object.
    pub id: ObjectId,
    /// The object's kind.
    pub kind: ObjectKind,
    /// The uncompressed body size.
    pub size: u64,
    /// CRC-32 of `data` (what `.idx` v2 records for the entry).
    pub crc32: u32,
    /// The entry exactly as it appears in a pack: header, then zlib stream.
    pub data: Vec<u8>,
}

/// A zlib compression level for pack entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compression {
    /// 0..=12 (libdeflate levels). 0 writes stored blocks (still a valid zlib
    /// stream); values outside the range are clamped.
    pub level: i32,
}

impl Default for Compression {
    /// Level 1, bup's default (`78 01` zlib header).
    fn default() -> Self {
        Compression { level: 1 }
    }
}

/// Largest payload of one stored deflate block.
const STORED_BLOCK: usize = 65_535;

/// Bodies shorter than this are always compressed (the pre-check would cost
/// more than it can save).
const PRECHECK_MIN: usize = 8 * 1024;
/// Bytes sampled by the incompressibility pre-check.
const SAMPLE_PIECE: usize = 1024;
const SAMPLE_PIECES: usize = 4;

/// Hash, compress and frame one object.
///
/// If the compressed stream would not be smaller than a stored (level 0)
/// stream of the same data, the stored stream is emitted instead. Bodies that
/// look random (a byte-histogram and a compressed sample say so) are stored
/// without trying to compress them whole.
pub fn encode_object(kind: ObjectKind, body: &[u8], c: Compression) -> PackedObject {
    encode_object_with_id(ObjectId::hash_object(kind, body), kind, body, c)
}

/// Like [`encode_object`], when the id is already known (skips hashing).
pub fn encode_object_with_id(
    id: ObjectId,
    kind: ObjectKind,
    body: &[u8],
    c: Compression,
) -> PackedObject {
    let mut data = Vec::new();
    encode_entry_header(kind.pack_code(), body.len() as u64, &mut data);
    let level = c.level.clamp(0, 12);
    if level == 0 || looks_incompressible(body) || !compress_into(level, body, &mut data) {
        write_stored_zlib(body, &mut data);
    }
    let crc32 = crc32fast::hash(&data);
    PackedObject {
        id,
        kind,
        size: body.len() as u64,
        crc32,
        data,
    }
}

/// Append a pack entry header: byte 0 = `more | type << 4 | size & 0x0f`,
/// then 7-bit little-endian groups of the rest of the size (§1.2).
pub fn encode_entry_header(type_code: u8, size: u64, out: &mut Vec<u8>) {
    let mut rest = size >> 4;
    let mut byte = ((type_code & 7) << 4) | (size & 0x0f) as u8;
    while rest != 0 {
        out.push(byte | 0x80);
        byte = (rest & 0x7f) as u8;
        rest >>= 7;
    }
    out.push(byte);
}

/// The length of a stored zlib stream of `n` bytes: 2-byte header, 5 bytes
/// per block (at least one block), data, 4-byte Adler-32.
pub fn stored_zlib_len(n: usize) -> usize {
    let blocks = n.div_ceil(STORED_BLOCK).max(1);
    2 + blocks * 5 + n + 4
}

/// Append `body` as a zlib stream of stored (uncompressed) deflate blocks.
pub fn write_stored_zlib(body: &[u8], out: &mut Vec<u8>) {
    out.reserve(stored_zlib_len(body.len()));
    // CMF 0x78 (deflate, 32 KiB window), FLG 0x01 (level "fastest", check bits).
    out.extend_from_slice(&[0x78, 0x01]);
    let mut blocks = body.chunks(STORED_BLOCK).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[0x01, 0x00, 0x00, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        let last = blocks.peek().is_none();
        let len = block.len() as u16;
        out.push(u8::from(last)); // BFINAL bit, BTYPE 00 (stored)
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&libdeflater::adler32(body).to_be_bytes());
}

thread_local! {
    /// One libdeflate compressor per level (index = level), per thread:
    /// allocating one costs more than compressing a small object.
    static COMPRESSORS: RefCell<Vec<Option<Compressor>>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` with this thread's compressor for `level` (1..=12).
fn with_compressor<R>(level: i32, f: impl FnOnce(&mut Compressor) -> R) -> R {
    let lvl = CompressionLvl::new(level).unwrap_or_else(|_| CompressionLvl::fastest());
    let slot = level.clamp(0, 12) as usize;
    COMPRESSORS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut all) => {
            if all.len() <= slot {
                all.resize_with(slot + 1, || None);
            }
            f(all[slot].get_or_insert_with(|| Compressor::new(lvl)))
        }
        // Re-entered (cannot happen today); use a private compressor.
        Err(_) => f(&mut Compressor::new(lvl)),
    })
}

/// Append the zlib stream of `body` at `level` (1..=12) if it is shorter than
/// the stored stream; return false (leaving `out` unchanged) otherwise.
fn compress_into(level: i32, body: &[u8], out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let limit = stored_zlib_len(body.len()) - 1;
    out.resize(start + limit, 0);
    let written = with_compressor(level, |c| c.zlib_compress(body, &mut out[start..]));
    match written {
        Ok(n) => {
            out.truncate(start + n);
            true
        }
        Err(_) => {
            out.truncate(start);
            false
        }
    }
}

/// Cheap guess whether `body` is random-looking (already compressed or
/// encrypted) data, so that compressing all of it would be wasted work.
///
/// Samples four 1 KiB pieces spread over the body. Only if their byte
/// histogram is close to uniform is the sample compressed at level 1 to
/// confirm; the body counts as incompressible if the sample shrinks by less
/// than 3%.
fn looks_incompressible(body: &[u8]) -> bool {
    if body.len() < PRECHECK_MIN {
        return false;
    }
    let span = body.len() - SAMPLE_PIECE;
    let pieces = (0..SAMPLE_PIECES).map(|i| {
        let at = span * i / (SAMPLE_PIECES - 1);
        &body[at..at + SAMPLE_PIECE]
    });
    if byte_entropy(pieces.clone()) < 7.0 {
        return false;
    }
    let sample = pieces.collect::<Vec<&[u8]>>().concat();
    let mut out = Vec::new();
    if !compress_into(1, &sample, &mut out) {
        return true;
    }
    out.len() * 100 >= sample.len() * 97
}

/// Order-0 entropy of the bytes of `pieces`, in bits per byte.
fn byte_entropy<'a>(pieces: impl Iterator<Item = &'a [u8]>) -> f64 {
    let mut counts = [0u32; 256];
    let mut n = 0usize;
    for piece in pieces {
        n += piece.len();
        for &b in piece {
            counts[b as usize] += 1;
        }
    }
    if n == 0 {
        return 0.0;
    }
    let n = n as f64;
    let sum: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let c = f64::from(c);
            c * c.log2()
        })
        .sum();
    n.log2() - sum / n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::read::parse_entry_header;
    use crate::pack::testutil::{random_bytes, text_bytes};
    use std::io::Read;

    fn inflate(z: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(z)
            .read_to_end(&mut out)
            .expect("valid zlib stream");
        out
    }

    #[test]
    fn header_matches_spec_example() {
        // bup-format.md §1.2: a 6-byte blob has header byte 0x36.
        let mut h = Vec::new();
        encode_entry_header(3, 6, &mut h);
        assert_eq!(h, [0x36]);
        let obj = encode_object(ObjectKind::Blob, b"inner\n", Compression::default());
        assert_eq!(&obj.data[..3], &[0x36, 0x78, 0x01]);
    }

    #[test]
    fn header_sizes_at_boundaries_round_trip() {
        for size in [
            0u64,
            1,
            15,
            16,
            127,
            128,
            2047,
            2048,
            1 << 20,
            u64::from(u32::MAX) + 7,
            u64::MAX,
        ] {
            for code in 1..=4 {
                let mut h = Vec::new();
                encode_entry_header(code, size, &mut h);
                let expected_len = if size < 16 {
                    1
                } else {
                    1 + (64 - (size >> 4).leading_zeros()).div_ceil(7) as usize
                };
                assert_eq!(h.len(), expected_len, "size {size}");
                assert_eq!(parse_entry_header(&h).unwrap(), (code, size, h.len()));
            }
        }
    }

    #[test]
    fn stored_stream_is_valid_zlib_at_block_boundaries() {
        for n in [0, 1, 65_534, 65_535, 65_536, 3 * 65_535 + 1] {
            let body = random_bytes(n, n as u64);
            let mut z = Vec::new();
            write_stored_zlib(&body, &mut z);
            assert_eq!(z.len(), stored_zlib_len(n));
            assert_eq!(inflate(&z), body, "n = {n}");
        }
    }

    #[test]
    fn every_level_round_trips_and_crc_covers_data() {
        let body = text_bytes(20_000, 3);
        for level in -3..=15 {
            let obj = encode_object(ObjectKind::Blob, &body, Compression { level });
            let (code, size, hlen) = parse_entry_header(&obj.data).unwrap();
            assert_eq!((code, size), (3, body.len() as u64));
            assert_eq!(inflate(&obj.data[hlen..]), body, "level {level}");
            assert_eq!(obj.crc32, crc32fast::hash(&obj.data));
            assert_eq!(obj.id, ObjectId::hash_object(ObjectKind::Blob, &body));
            if level >= 1 {
                assert!(obj.data.len() < body.len() / 2, "text should compress");
            }
        }
    }

    #[test]
    fn random_data_is_stored_not_inflated_in_size() {
        let body = random_bytes(64 * 1024, 9);
        let obj = encode_object(ObjectKind::Blob, &body, Compression::default());
        let (_, _, hlen) = parse_entry_header(&obj.data).unwrap();
        assert_eq!(obj.data.len() - hlen, stored_zlib_len(body.len()));
        assert_eq!(inflate(&obj.data[hlen..]), body);
        // A small random body skips the pre-check but still falls back to stored.
        let small = random_bytes(3000, 10);
        let obj = encode_object(ObjectKind::Blob, &small, Compression { level: 9 });
        let (_, _, hlen) = parse_entry_header(&obj.data).unwrap();
        assert_eq!(obj.data.len() - hlen, stored_zlib_len(small.len()));
    }

    #[test]
    fn half_random_half_text_is_still_compressed() {
        let mut body = random_bytes(8 * 1024, 1);
        body.extend(text_bytes(8 * 1024, 2));
        let obj = encode_object(ObjectKind::Blob, &body, Compression::default());
        assert!(obj.data.len() < body.len() * 85 / 100, "{}", obj.data.len());
    }

    #[test]
    fn entropy_estimate_separates_text_from_noise() {
        let text = text_bytes(4096, 5);
        let noise = random_bytes(4096, 5);
        assert!(byte_entropy(std::iter::once(&text[..])) < 6.0);
        assert!(byte_entropy(std::iter::once(&noise[..])) > 7.9);
        assert_eq!(byte_entropy(std::iter::once(&[7u8; 100][..])), 0.0);
        assert_eq!(byte_entropy(std::iter::empty()), 0.0);
        // Two uniform symbols in two pieces: exactly one bit.
        assert_eq!(
            byte_entropy([&[1u8, 1][..], &[2u8, 2][..]].into_iter()),
            1.0
        );
    }
}
