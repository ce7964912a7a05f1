//! FastCDC (fastcdc 5, `v2020`, normalization level 1) over buffered input.
//!
//! Owns: which cut points found in a partial buffer are *certain*, i.e. would
//! be found the same way whatever follows, so that chunk boundaries depend
//! only on the content and never on how the input was read.
//!
//! Why the rule below is sound: `v2020` looks at most `max` bytes past a
//! chunk's start, and the hash and mask it tests at a position depend only on
//! the bytes up to that position (and on `min`/`avg`, never on how much data
//! follows). A cut found by the hash therefore always lies strictly inside the
//! buffer and stays valid when more data arrives; a chunk of exactly `max`
//! bytes is a forced cut and valid too. A chunk that merely runs into the end
//! of the buffer is not certain and stays pending until more data (or the end
//! of input) arrives.

use super::ChunkSpan;
use fastcdc::v2020::FastCDC;

/// Validated FastCDC sizes (even, within fastcdc's bounds, min ≤ avg ≤ max).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CdcParams {
    pub(crate) min: usize,
    pub(crate) avg: usize,
    pub(crate) max: usize,
}

/// Cut `buf` (pending bytes plus the latest read) into FastCDC chunks,
/// appending their spans. Without `at_end`, only certain chunks are cut and
/// the bytes after the last one stay pending; with `at_end` the whole buffer
/// is cut (the last chunk may be shorter than `min`). Returns the number of
/// bytes consumed.
pub(crate) fn split_block(
    buf: &[u8],
    p: CdcParams,
    at_end: bool,
    spans: &mut Vec<ChunkSpan>,
) -> usize {
    let mut consumed = 0;
    for chunk in FastCDC::new(buf, p.min, p.avg, p.max) {
        let end = chunk.offset + chunk.length;
        if !(at_end || end < buf.len() || chunk.length == p.max) {
            break;
        }
        spans.push(ChunkSpan {
            start: chunk.offset,
            end,
            level: None,
        });
        consumed = end;
    }
    consumed
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: CdcParams = CdcParams {
        min: 256,
        avg: 1024,
        max: 4096,
    };

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect()
    }

    #[test]
    fn whole_buffer_at_end_equals_fastcdc() {
        let data = noise(100_000, 7);
        let mut spans = Vec::new();
        assert_eq!(split_block(&data, P, true, &mut spans), data.len());
        let reference: Vec<(usize, usize)> = FastCDC::new(&data, P.min, P.avg, P.max)
            .map(|c| (c.offset, c.offset + c.length))
            .collect();
        let ours: Vec<(usize, usize)> = spans.iter().map(|s| (s.start, s.end)).collect();
        assert_eq!(ours, reference);
    }

    #[test]
    fn prefix_cuts_are_a_prefix_of_the_full_cuts() {
        let data = noise(50_000, 3);
        let full: Vec<(usize, usize)> = FastCDC::new(&data, P.min, P.avg, P.max)
            .map(|c| (c.offset, c.offset + c.length))
            .collect();
        for cut in (0..data.len()).step_by(97) {
            let mut spans = Vec::new();
            let used = split_block(&data[..cut], P, false, &mut spans);
            let got: Vec<(usize, usize)> = spans.iter().map(|s| (s.start, s.end)).collect();
            assert_eq!(got, full[..got.len()], "prefix {cut}");
            assert!(cut - used < P.max, "pending too long at {cut}");
        }
    }

    #[test]
    fn zeros_cut_at_max_even_at_buffer_end() {
        let data = vec![0u8; 3 * P.max];
        let mut spans = Vec::new();
        assert_eq!(split_block(&data, P, false, &mut spans), data.len());
        assert!(spans.iter().all(|s| s.end - s.start == P.max));
    }
}
