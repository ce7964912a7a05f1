//! Deterministic benchmark inputs shared by the benches (included with
//! `#[path]`): incompressible bytes, text-like bytes, and a mix of both in
//! 64 KiB–2 MiB segments (about 1.5× compressible as a whole, like the
//! data `docs/crates.md` measured).

#![allow(dead_code)]

/// Incompressible bytes (splitmix64).
pub fn random(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        v.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    v.truncate(n);
    v
}

/// Text-like bytes: words from a skewed vocabulary, numbers, punctuation.
pub fn text(n: usize, seed: u64) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "the",
        "backup",
        "of",
        "and",
        "file",
        "to",
        "server",
        "in",
        "is",
        "data",
        "a",
        "save",
        "repository",
        "chunk",
        "for",
        "with",
        "commit",
        "restore",
        "tree",
        "index",
        "object",
        "packed",
        "nightly",
        "cron",
        "host",
        "snapshot",
        "retention",
        "metadata",
        "error",
    ];
    let r = random(n / 2 + 64, seed);
    let mut v = Vec::with_capacity(n + 32);
    let mut i = 0;
    while v.len() < n {
        let a = r[i % r.len()] as usize;
        let b = r[(i + 1) % r.len()] as usize;
        // Skewed choice: small indices much more often.
        let w = WORDS[(a * a / 256 + b) % WORDS.len() % (1 + a % WORDS.len())];
        v.extend_from_slice(w.as_bytes());
        match b % 13 {
            0 => v.extend_from_slice(format!(" {}", a * 37 + b).as_bytes()),
            1 => v.extend_from_slice(b".\n"),
            2 => v.extend_from_slice(b", "),
            _ => v.push(b' '),
        }
        i += 2;
    }
    v.truncate(n);
    v
}

/// Alternating random and text segments of 64 KiB–2 MiB.
pub fn mixed(n: usize, seed: u64) -> Vec<u8> {
    let sizes = random(4096, seed ^ 0xabcdef);
    let mut v = Vec::with_capacity(n);
    let mut k = 0;
    while v.len() < n {
        let seg = (64 << 10)
            + (u32::from_le_bytes([sizes[k % 4096], sizes[(k + 1) % 4096], 0, 0]) as usize
                % (2 << 20));
        let seg = seg.min(n - v.len());
        if k % 2 == 0 {
            v.extend_from_slice(&random(seg, seed.wrapping_add(k as u64)));
        } else {
            v.extend_from_slice(&text(seg, seed.wrapping_add(k as u64)));
        }
        k += 2;
    }
    v
}
