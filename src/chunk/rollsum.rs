//! bup's rolling checksum (librsync's rollsum with a fixed 64-byte window)
//! and the split test built on it (bup-format.md §3.4).
//!
//! Owns: the rollsum constants, [`find_split`] (the first split point of a
//! buffer scanned with a fresh rollsum) and the `bits` → fanout level rule.
//! The scan is a tight loop over the slice: the window is the slice itself
//! (the byte leaving the window is `buf[i - 64]`), so there is no window array
//! and no per-byte call or bounds check in the hot loop.

/// Rollsum window size in bytes.
pub(crate) const WINDOW: usize = 64;
/// Added to every byte by the rollsum.
const CHAR_OFFSET: u32 = 31;
/// A split needs the low `BLOB_BITS` bits of the digest to be all ones.
pub(crate) const BLOB_BITS: u32 = 13;
/// Mask of the low `BLOB_BITS` bits.
const SPLIT_MASK: u32 = (1 << BLOB_BITS) - 1;
/// log2 of bup's fanout (16): every 4 extra bits raise a chunk's level by one.
pub(crate) const FANOUT_BITS: u32 = 4;

/// `s1` of a fresh rollsum: the window is 64 zero bytes plus the offset.
const S1_INIT: u32 = WINDOW as u32 * CHAR_OFFSET;
/// `s2` of a fresh rollsum.
const S2_INIT: u32 = (WINDOW * (WINDOW - 1)) as u32 * CHAR_OFFSET;

/// The number of `bits` of a split digest: 13 plus the run of one bits of the
/// digest starting at bit 14 (bit 13 is skipped, a bup quirk that is format).
#[inline]
fn split_bits(s1: u32, s2: u32) -> u32 {
    let digest = (s1 << 16) | (s2 & 0xffff);
    BLOB_BITS + (digest >> (BLOB_BITS + 1)).trailing_ones()
}

/// The first split point of `buf` scanned from a fresh rollsum state:
/// `Some((ofs, bits))` where `ofs` is the length of the chunk (the split is
/// after byte `ofs - 1`) and `bits` ≥ 13 as defined in §3.4, or `None` if no
/// byte of `buf` qualifies.
pub(crate) fn find_split(buf: &[u8]) -> Option<(usize, u32)> {
    let mut s1 = S1_INIT;
    let mut s2 = S2_INIT;
    // The first 64 bytes push zero bytes out of the (zero-filled) window.
    let head_len = buf.len().min(WINDOW);
    for (i, &ch) in buf[..head_len].iter().enumerate() {
        s1 = s1.wrapping_add(u32::from(ch));
        s2 = s2
            .wrapping_add(s1)
            .wrapping_sub(WINDOW as u32 * CHAR_OFFSET);
        if s2 & SPLIT_MASK == SPLIT_MASK {
            return Some((i + 1, split_bits(s1, s2)));
        }
    }
    // From then on the byte leaving the window is `buf[i - 64]`.
    let tail = buf.get(WINDOW..).unwrap_or(&[]);
    for (i, (&ch, &drop)) in tail.iter().zip(buf.iter()).enumerate() {
        let drop = u32::from(drop);
        s1 = s1.wrapping_add(u32::from(ch)).wrapping_sub(drop);
        s2 = s2
            .wrapping_add(s1)
            .wrapping_sub((drop + CHAR_OFFSET) * WINDOW as u32);
        if s2 & SPLIT_MASK == SPLIT_MASK {
            return Some((WINDOW + i + 1, split_bits(s1, s2)));
        }
    }
    None
}

/// The fanout level of a split with `bits` (§3.4: `(bits - 13) / 4`).
#[inline]
pub(crate) fn level_from_bits(bits: u32) -> u8 {
    // bits ≤ 13 + 19, so the level is at most 4 and fits a u8.
    (bits.saturating_sub(BLOB_BITS) / FANOUT_BITS) as u8
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The rollsum written literally as in the spec (window array, modular
    /// offset), used as a reference for the fast scan.
    pub(crate) struct SpecRollsum {
        s1: u32,
        s2: u32,
        window: [u8; WINDOW],
        wofs: usize,
    }

    impl SpecRollsum {
        pub(crate) fn new() -> SpecRollsum {
            SpecRollsum {
                s1: 64 * 31,
                s2: 64 * 63 * 31,
                window: [0; WINDOW],
                wofs: 0,
            }
        }

        pub(crate) fn roll(&mut self, ch: u8) {
            let drop = u32::from(self.window[self.wofs]);
            self.s1 = self.s1.wrapping_add(u32::from(ch)).wrapping_sub(drop);
            self.s2 = self
                .s2
                .wrapping_add(self.s1)
                .wrapping_sub(64u32.wrapping_mul(drop + 31));
            self.window[self.wofs] = ch;
            self.wofs = (self.wofs + 1) % WINDOW;
        }

        pub(crate) fn digest(&self) -> u32 {
            (self.s1 << 16) | (self.s2 & 0xffff)
        }
    }

    /// find_split written from the spec with the reference rollsum, bit by bit.
    pub(crate) fn spec_find_split(buf: &[u8]) -> Option<(usize, u32)> {
        let mut r = SpecRollsum::new();
        for (i, &ch) in buf.iter().enumerate() {
            r.roll(ch);
            let d = r.digest();
            if d & 0x1fff == 0x1fff {
                let mut bits = 13;
                let mut bit = 14;
                while bit < 32 && (d >> bit) & 1 == 1 {
                    bits += 1;
                    bit += 1;
                }
                return Some((i + 1, bits));
            }
        }
        None
    }

    fn lcg(n: usize) -> Vec<u8> {
        let mut x: u32 = 1;
        (0..n)
            .map(|_| {
                x = (x.wrapping_mul(1103515245).wrapping_add(12345)) & 0x7fff_ffff;
                (x >> 16) as u8
            })
            .collect()
    }

    #[test]
    fn first_splits_of_lcg_match_spec_vectors() {
        // bup-format.md §3.7: first chunks of lcg 1 000 000 (offset, length, bits).
        let data = lcg(1_000_000);
        let expected = [
            (0x0, 1149, 13),
            (0x47d, 1407, 16),
            (0x9fc, 5057, 13),
            (0x1dbd, 13682, 14),
            (0x532f, 3119, 14),
            (0x5f5e, 9701, 15),
        ];
        let mut pos = 0;
        for (off, len, bits) in expected {
            assert_eq!(pos, off);
            assert_eq!(find_split(&data[pos..]), Some((len, bits)), "at {off:#x}");
            pos += len;
        }
    }

    #[test]
    fn lcg_stream_starts_as_spec_says() {
        assert_eq!(lcg(8), [0xc6, 0x7e, 0x81, 0x6b, 0x4b, 0xfb, 0xe2, 0xfb]);
    }

    #[test]
    fn no_split_in_empty_or_zero_buffers() {
        assert_eq!(find_split(&[]), None);
        assert_eq!(find_split(&[0u8; 100_000]), None);
    }

    #[test]
    fn levels_follow_bits() {
        assert_eq!(level_from_bits(13), 0);
        assert_eq!(level_from_bits(16), 0);
        assert_eq!(level_from_bits(17), 1);
        assert_eq!(level_from_bits(21), 2);
        assert_eq!(level_from_bits(32), 4);
    }

    proptest::proptest! {
        #[test]
        fn fast_scan_equals_literal_spec(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..30_000),
            fill in 0u8..4,
        ) {
            // Low-entropy variants make splits in the zero-padded head likelier.
            let data: Vec<u8> = if fill == 0 { data } else { data.iter().map(|b| b % (fill * 3)).collect() };
            let mut pos = 0;
            loop {
                let fast = find_split(&data[pos..]);
                proptest::prop_assert_eq!(fast, spec_find_split(&data[pos..]));
                match fast {
                    Some((ofs, _)) => pos += ofs,
                    None => break,
                }
            }
        }
    }
}
