//! bup's chunk stream over its buffered input (bup-format.md §3.5).
//!
//! Owns: what happens to the pending bytes after each read block is
//! appended: repeated fresh-rollsum scans, the 32 KiB cap on a found split,
//! and the *blind* 32 KiB cuts when no split is left in the buffer. The read
//! loop itself (exact 8 MiB blocks) lives in [`super::Chunker`].
//!
//! bup rescans from a fresh rollsum after every cut. A fresh scan differs from
//! the scan it replaces only in its first 63 positions (where its window still
//! holds zero padding); from the 64th byte on both digests are equal. So
//! after a capped cut we rescan just those 63 positions and otherwise reuse
//! the split already found further on, which keeps the work linear even for
//! inputs with long split-free stretches. The results are exactly bup's.

use super::ChunkSpan;
use super::rollsum::{WINDOW, find_split, level_from_bits};

/// The largest chunk bup writes (BLOB_MAX).
pub(crate) const BLOB_MAX: usize = 32 * 1024;
/// bup's read block: the input is read in blocks of exactly this size.
pub(crate) const READ_SIZE: usize = 8 * 1024 * 1024;

/// Number of leading positions of a fresh scan whose window holds padding.
const PADDED: usize = WINDOW - 1;

/// Cut the chunks bup cuts from `buf` (the pending bytes with the latest read
/// block appended), appending their spans to `spans`. Returns the number of
/// bytes consumed; the rest (always fewer than [`BLOB_MAX`]) stays pending.
pub(crate) fn split_block(buf: &[u8], spans: &mut Vec<ChunkSpan>) -> usize {
    let mut start = 0;
    // A split found by an earlier scan (its end, its bits) that lies beyond
    // the padded head of any later scan that still starts before it.
    let mut known: Option<(usize, u32)> = None;
    loop {
        let found = match known {
            Some((end, bits)) if end > start + PADDED => {
                match find_split(&buf[start..start + PADDED]) {
                    Some(hit) => Some(hit),
                    None => Some((end - start, bits)),
                }
            }
            _ => find_split(&buf[start..]),
        };
        let Some((ofs, bits)) = found else { break };
        if ofs > BLOB_MAX {
            known = Some((start + ofs, bits));
            spans.push(span(start, start + BLOB_MAX, 0));
            start += BLOB_MAX;
        } else {
            spans.push(span(start, start + ofs, level_from_bits(bits)));
            start += ofs;
        }
    }
    // No split anywhere in what is left: cut blindly, without rescanning.
    while buf.len() - start >= BLOB_MAX {
        spans.push(span(start, start + BLOB_MAX, 0));
        start += BLOB_MAX;
    }
    start
}

fn span(start: usize, end: usize, level: u8) -> ChunkSpan {
    ChunkSpan {
        start,
        end,
        level: Some(level),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::rollsum::tests::spec_find_split;
    use super::*;

    /// §3.5 written literally (naive rescans, literal rollsum): the chunk
    /// (length, level) list of `data` read in blocks of `read_size`.
    pub(crate) fn spec_chunks(data: &[u8], read_size: usize) -> Vec<(usize, u8)> {
        let mut out = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        for block in data.chunks(read_size) {
            pending.extend_from_slice(block);
            while let Some((ofs, bits)) = spec_find_split(&pending) {
                if ofs > BLOB_MAX {
                    out.push((BLOB_MAX, 0));
                    pending.drain(..BLOB_MAX);
                } else {
                    out.push((ofs, ((bits - 13) / 4) as u8));
                    pending.drain(..ofs);
                }
            }
            while pending.len() >= BLOB_MAX {
                out.push((BLOB_MAX, 0));
                pending.drain(..BLOB_MAX);
            }
        }
        if !pending.is_empty() {
            out.push((pending.len(), 0));
        }
        out
    }

    fn fast_chunks(data: &[u8], read_size: usize) -> Vec<(usize, u8)> {
        let mut out = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        for block in data.chunks(read_size) {
            pending.extend_from_slice(block);
            let mut spans = Vec::new();
            let used = split_block(&pending, &mut spans);
            let mut pos = 0;
            for s in spans {
                assert_eq!(s.start, pos);
                out.push((s.end - s.start, s.level.unwrap_or(99)));
                pos = s.end;
            }
            assert_eq!(pos, used);
            assert!(pending.len() - used < BLOB_MAX);
            pending.drain(..used);
        }
        if !pending.is_empty() {
            out.push((pending.len(), 0));
        }
        out
    }

    #[test]
    fn blind_cuts_on_zeros() {
        let data = vec![0u8; 3 * BLOB_MAX + 5];
        let mut spans = Vec::new();
        let used = split_block(&data, &mut spans);
        assert_eq!(used, 3 * BLOB_MAX);
        assert_eq!(spans.len(), 3);
        assert!(spans.iter().all(|s| s.level == Some(0)));
    }

    #[test]
    fn quirk_pattern_matches_literal_spec() {
        // The vquirk middle pattern (§3.7): a 13-byte period whose fresh-scan
        // head can split although the continuous scan does not.
        let pat = [
            0xa5, 0x48, 0x71, 0x07, 0xdd, 0x97, 0xfa, 0x25, 0xa9, 0x39, 0x08, 0x40, 0xaf,
        ];
        let mut data = Vec::new();
        for i in 0..40_000u32 {
            data.push((i.wrapping_mul(2654435761) >> 24) as u8);
        }
        for _ in 0..30_000 {
            data.extend_from_slice(&pat);
        }
        for i in 0..40_000u32 {
            data.push((i.wrapping_mul(40503) >> 7) as u8);
        }
        for read_size in [data.len(), 1 << 16, 100_000, 7919] {
            assert_eq!(
                fast_chunks(&data, read_size),
                spec_chunks(&data, read_size),
                "read size {read_size}"
            );
        }
    }

    fn segments() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let seg =
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..20_000),
                (proptest::collection::vec(any::<u8>(), 1..20), 0usize..6000)
                    .prop_map(|(pat, n)| pat.iter().copied().cycle().take(pat.len() * n).collect()),
                (0usize..70_000).prop_map(|n| vec![0u8; n]),
            ];
        proptest::collection::vec(seg, 0..8).prop_map(|v| v.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        #[test]
        fn equals_literal_spec(data in segments(), read_size in 1000usize..120_000) {
            proptest::prop_assert_eq!(fast_chunks(&data, read_size), spec_chunks(&data, read_size));
        }
    }
}
