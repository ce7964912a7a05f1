//! Test helpers shared by the pack tests: deterministic data and running git.

use crate::oid::ObjectId;
use sha1::{Digest, Sha1};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// xorshift64* stream seeded by `seed`.
pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Text-like bytes: words from a small vocabulary, chosen pseudo-randomly.
pub fn text_bytes(n: usize, seed: u64) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "the",
        "pack",
        "object",
        "tree",
        "blob",
        "commit",
        "backup",
        "index",
        "offset",
        "delta",
        "zlib",
        "stream",
        "header",
        "size",
        "chunk",
        "file",
        "directory",
        "metadata",
        "\n",
        "of",
    ];
    let picks = random_bytes(n, seed);
    let mut out = Vec::with_capacity(n + 16);
    let mut i = 0;
    while out.len() < n {
        out.extend_from_slice(WORDS[picks[i % picks.len()] as usize % WORDS.len()].as_bytes());
        out.push(b' ');
        i += 1;
    }
    out.truncate(n);
    out
}

/// `n` distinct pseudo-random ids (SHA-1 of a counter and `seed`).
pub fn synthetic_ids(n: usize, seed: u64) -> Vec<ObjectId> {
    (0..n as u64)
        .map(|i| {
            let mut h = Sha1::new();
            h.update(seed.to_le_bytes());
            h.update(i.to_le_bytes());
            ObjectId(h.finalize().into())
        })
        .collect()
}

/// Run git in `dir` with `args` (and `stdin`), assert success, return stdout.
pub fn git(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    let out = git_output(dir, args, stdin);
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Run git in `dir` with `args` (and `stdin`) and return its whole output.
pub fn git_output(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> std::process::Output {
    let mut child = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("git runs");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.map(<[u8]>::to_vec).unwrap_or_default();
    let feeder = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().expect("git finishes");
    let _ = feeder.join();
    out
}

/// Parse `git cat-file --batch` output into (id, kind name, body) records.
pub fn parse_batch(mut out: &[u8]) -> Vec<(ObjectId, String, Vec<u8>)> {
    let mut records = Vec::new();
    while !out.is_empty() {
        let nl = out.iter().position(|&c| c == b'\n').expect("header line");
        let line = std::str::from_utf8(&out[..nl]).expect("ascii header");
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!(parts.len(), 3, "unexpected batch line {line:?}");
        let size: usize = parts[2].parse().expect("size");
        let body = out[nl + 1..nl + 1 + size].to_vec();
        assert_eq!(out[nl + 1 + size], b'\n');
        records.push((parts[0].parse().expect("id"), parts[1].to_string(), body));
        out = &out[nl + 2 + size..];
    }
    records
}
