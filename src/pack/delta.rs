//! Applying a git delta (the payload of OFS_DELTA/REF_DELTA pack entries).
//!
//! Owns the delta instruction format: two size varints (base, result), then
//! copy (`1xxxxxxx`, offset/size bytes selected by the low 7 bits) and insert
//! (`0nnnnnnn`, n literal bytes, n > 0) instructions. bup never writes
//! deltas; `git gc`/`git repack` on a bup repository does. Never panics on
//! malformed deltas, and allocates the result only after the instructions
//! have been checked.

/// Returned by [`apply_delta`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The delta ends inside its header or an instruction.
    #[error("delta truncated at byte {at}")]
    Truncated {
        /// Offset in the delta where more bytes were needed.
        at: usize,
    },
    /// A size varint does not fit in 64 bits.
    #[error("delta size field at byte {at} overflows")]
    SizeOverflow {
        /// Offset of the varint in the delta.
        at: usize,
    },
    /// The base is not the size the delta was made against.
    #[error("delta expects a base of {expected} bytes, got {actual}")]
    BaseSize {
        /// Size recorded in the delta.
        expected: u64,
        /// Size of the base supplied.
        actual: usize,
    },
    /// Instruction byte 0, which git reserves.
    #[error("reserved delta instruction 0 at byte {at}")]
    ReservedOp {
        /// Offset of the instruction in the delta.
        at: usize,
    },
    /// A copy instruction reaches outside the base.
    #[error("delta copy of {size} bytes at base offset {offset} exceeds base of {base_len} bytes")]
    CopyOutOfBounds {
        /// Base offset of the copy.
        offset: u64,
        /// Length of the copy.
        size: u64,
        /// Size of the base.
        base_len: usize,
    },
    /// The instructions produce a different size than the header says.
    #[error("delta produces {actual} bytes but declares {expected}")]
    ResultSize {
        /// Size recorded in the delta.
        expected: u64,
        /// Size the instructions would produce (saturating).
        actual: u64,
    },
    /// The result cannot be allocated.
    #[error("delta result of {size} bytes cannot be allocated")]
    TooLarge {
        /// Size recorded in the delta.
        size: u64,
    },
}

/// One decoded instruction.
enum Op {
    Copy { offset: usize, size: usize },
    Insert { start: usize, len: usize },
}

/// Read a size varint (7-bit little-endian groups, high bit = more).
fn read_varint(delta: &[u8], pos: &mut usize) -> Result<u64, Error> {
    let start = *pos;
    let mut value = 0u64;
    let mut shift = 0u32;
    loop {
        let byte = *delta.get(*pos).ok_or(Error::Truncated { at: *pos })?;
        *pos += 1;
        let bits = u64::from(byte & 0x7f);
        if shift >= 64 || (shift > 57 && bits >> (64 - shift) != 0) {
            return Err(Error::SizeOverflow { at: start });
        }
        value |= bits << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
}

/// Decode the instruction at `pos`, checking it against the base.
fn next_op(delta: &[u8], pos: &mut usize, base_len: usize) -> Result<Op, Error> {
    let at = *pos;
    let op = delta[at];
    *pos += 1;
    if op & 0x80 != 0 {
        let mut field = |mask_bits: u8, first_bit: u8| -> Result<u64, Error> {
            let mut v = 0u64;
            for i in 0..mask_bits {
                if op & (1 << (first_bit + i)) != 0 {
                    let b = *delta.get(*pos).ok_or(Error::Truncated { at: *pos })?;
                    *pos += 1;
                    v |= u64::from(b) << (8 * i);
                }
            }
            Ok(v)
        };
        let offset = field(4, 0)?;
        let mut size = field(3, 4)?;
        if size == 0 {
            size = 0x10000;
        }
        let end = offset + size; // both < 2^32: no overflow
        if end > base_len as u64 {
            return Err(Error::CopyOutOfBounds {
                offset,
                size,
                base_len,
            });
        }
        Ok(Op::Copy {
            offset: offset as usize,
            size: size as usize,
        })
    } else if op == 0 {
        Err(Error::ReservedOp { at })
    } else {
        let len = usize::from(op);
        if delta.len() - *pos < len {
            return Err(Error::Truncated { at: delta.len() });
        }
        *pos += len;
        Ok(Op::Insert { start: at + 1, len })
    }
}

/// Apply `delta` to `base` and return the result.
pub fn apply_delta(base: &[u8], delta: &[u8]) -> Result<Vec<u8>, Error> {
    let mut pos = 0;
    let base_size = read_varint(delta, &mut pos)?;
    let result_size = read_varint(delta, &mut pos)?;
    if base_size != base.len() as u64 {
        return Err(Error::BaseSize {
            expected: base_size,
            actual: base.len(),
        });
    }
    let ops_start = pos;
    // Pass 1: validate every instruction and add up the output size.
    let mut total = 0u64;
    while pos < delta.len() {
        let n = match next_op(delta, &mut pos, base.len())? {
            Op::Copy { size, .. } => size,
            Op::Insert { len, .. } => len,
        };
        total = total.saturating_add(n as u64);
        if total > result_size {
            break;
        }
    }
    if total != result_size {
        return Err(Error::ResultSize {
            expected: result_size,
            actual: total,
        });
    }
    let size = usize::try_from(result_size).map_err(|_| Error::TooLarge { size: result_size })?;
    let mut out = Vec::new();
    out.try_reserve_exact(size)
        .map_err(|_| Error::TooLarge { size: result_size })?;
    // Pass 2: build the result; every instruction was checked above.
    pos = ops_start;
    while pos < delta.len() {
        match next_op(delta, &mut pos, base.len())? {
            Op::Copy { offset, size } => out.extend_from_slice(&base[offset..offset + size]),
            Op::Insert { start, len } => out.extend_from_slice(&delta[start..start + len]),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A delta built by hand from the format description: base "hello world",
    /// copy "hello" (offset 0, size 5), insert " there", copy "ld" (offset 9, size 2).
    fn hand_delta() -> Vec<u8> {
        let mut d = vec![11, 13];
        d.extend_from_slice(&[0x90, 5]); // copy: no offset bytes (0), size byte 1 = 5
        d.push(6);
        d.extend_from_slice(b" there");
        d.extend_from_slice(&[0x91, 9, 2]); // copy: offset byte 0 = 9, size byte 0 = 2
        d
    }

    #[test]
    fn applies_copy_and_insert() {
        assert_eq!(
            apply_delta(b"hello world", &hand_delta()).unwrap(),
            b"hello thereld"
        );
    }

    #[test]
    fn copy_size_zero_means_64k() {
        let base = vec![7u8; 0x10000];
        // base size 65536 = varint 80 80 04; result 65536; copy with no size bytes.
        let d = [0x80, 0x80, 0x04, 0x80, 0x80, 0x04, 0x80];
        assert_eq!(apply_delta(&base, &d).unwrap(), base);
    }

    #[test]
    fn rejects_malformed_deltas() {
        let base = b"hello world";
        let mut d = hand_delta();
        d[0] = 12;
        assert!(matches!(
            apply_delta(base, &d),
            Err(Error::BaseSize { expected: 12, .. })
        ));
        let mut d = hand_delta();
        d[1] = 14;
        assert!(matches!(
            apply_delta(base, &d),
            Err(Error::ResultSize { .. })
        ));
        let mut d = hand_delta();
        d.truncate(d.len() - 1);
        assert!(matches!(
            apply_delta(base, &d),
            Err(Error::Truncated { .. })
        ));
        let mut d = hand_delta();
        let n = d.len();
        d[n - 2] = 10; // copy offset 10, size 2: past the end
        assert!(matches!(
            apply_delta(base, &d),
            Err(Error::CopyOutOfBounds { .. })
        ));
        assert!(matches!(
            apply_delta(base, &[11, 0, 0]),
            Err(Error::ReservedOp { at: 2 })
        ));
        assert!(matches!(
            apply_delta(base, &[0x8b]),
            Err(Error::Truncated { .. })
        ));
        let overflow = [0xffu8; 11];
        assert!(matches!(
            apply_delta(base, &overflow),
            Err(Error::SizeOverflow { at: 0 })
        ));
        // A tiny delta claiming a huge result is rejected before allocating.
        let huge = [
            11, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x91, 0, 1,
        ];
        assert!(matches!(
            apply_delta(base, &huge),
            Err(Error::ResultSize { .. })
        ));
    }

    proptest! {
        #[test]
        fn never_panics(base in proptest::collection::vec(any::<u8>(), 0..64),
                        delta in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = apply_delta(&base, &delta);
        }

        #[test]
        fn mutated_valid_delta_never_panics(pos in 0usize..16, byte in any::<u8>()) {
            let mut d = hand_delta();
            let p = pos % d.len();
            d[p] = byte;
            if let Ok(out) = apply_delta(b"hello world", &d) {
                let mut at = 0;
                let _base = read_varint(&d, &mut at).unwrap();
                prop_assert_eq!(out.len() as u64, read_varint(&d, &mut at).unwrap());
            }
        }
    }
}
