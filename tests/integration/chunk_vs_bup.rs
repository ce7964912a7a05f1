//! Our bup-mode chunker + `FanoutBuilder` against the real `bup split`.
//!
//! Every test writes its input files into a fresh temp dir, runs `bup split`
//! there (with `BUP_DIR` pointing at a repo made by `bup init`) and compares
//! the ids bup wrote with the ids we compute from the same files:
//! `bup split -n NAME` → `git ls-tree NAME` (entry `data` or `data.bup`), and
//! `bup split -t` → the raw top tree. The bup-format.md §3.7 inputs are also
//! checked against the ids listed there.

use backup::chunk::{Chunker, ChunkerConfig, FanoutBuilder};
use backup::object::tree::{MODE_FILE, MODE_TREE, TreeEntry, encode_tree};
use backup::oid::{ObjectId, ObjectKind};
use std::convert::Infallible;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temp dir with a bup repository in `repo/` and input files beside it.
struct BupDir {
    dir: tempfile::TempDir,
}

impl BupDir {
    fn new() -> BupDir {
        let dir = tempfile::tempdir().expect("creating a temp dir");
        let d = BupDir { dir };
        d.bup(&["init"]);
        d
    }

    fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// Write an input file and return its path.
    fn file(&self, name: &str, data: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, data).expect("writing an input file");
        path
    }

    /// Run `bup ARGS` with `BUP_DIR` set; fail on a non-zero exit.
    fn bup(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("bup");
        cmd.args(args)
            .env("BUP_DIR", self.repo())
            .current_dir(self.dir.path());
        let out = cmd.output().unwrap_or_else(|e| {
            panic!("cannot run `bup` (bup 0.33 must be installed and on PATH for these tests): {e}")
        });
        checked("bup", args, out)
    }

    /// Run `git --git-dir REPO ARGS`; fail on a non-zero exit.
    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(self.repo())
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run `git`: {e}"));
        checked("git", args, out)
    }

    /// `bup split -n NAME FILES`, then the one entry of the branch's tree:
    /// (mode, name, id).
    fn split_n(&self, name: &str, files: &[&Path]) -> (u32, String, ObjectId) {
        let mut args = vec!["split", "-n", name];
        args.extend(files.iter().map(|p| p.to_str().expect("utf-8 temp path")));
        self.bup(&args);
        let listing = self.git(&["ls-tree", name]);
        let lines: Vec<&str> = listing.lines().collect();
        assert_eq!(lines.len(), 1, "bup split -n tree: {listing}");
        let (meta, entry_name) = lines[0].split_once('\t').expect("ls-tree line");
        let fields: Vec<&str> = meta.split(' ').collect();
        assert_eq!(fields.len(), 3, "ls-tree line {meta:?}");
        let mode = u32::from_str_radix(fields[0], 8).expect("octal mode");
        let id: ObjectId = fields[2].parse().expect("ls-tree id");
        (mode, entry_name.to_string(), id)
    }

    /// `bup split -t FILES`: the id of the raw top chunk list, and how many
    /// entries that tree has.
    fn split_t(&self, files: &[&Path]) -> (ObjectId, usize) {
        let mut args = vec!["split", "-t"];
        args.extend(files.iter().map(|p| p.to_str().expect("utf-8 temp path")));
        let out = self.bup(&args);
        let id: ObjectId = out.trim().parse().expect("bup split -t prints an id");
        let entries = self.git(&["ls-tree", &id.to_hex()]).lines().count();
        (id, entries)
    }
}

fn checked(prog: &str, args: &[&str], out: Output) -> String {
    assert!(
        out.status.success(),
        "`{prog} {}` failed with {}:\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Our result for the files read one after another as one stream:
/// (git mode, id, size) as `FanoutBuilder::finish` gives it.
fn ours(files: &[&Path]) -> (u32, ObjectId, u64) {
    let mut chunker = Chunker::new(&ChunkerConfig::Bup);
    let mut fanout = FanoutBuilder::new();
    let mut store = |body: Vec<u8>| -> Result<ObjectId, Infallible> {
        Ok(ObjectId::hash_object(ObjectKind::Tree, &body))
    };
    let mut push = |block: backup::chunk::Block, fanout: &mut FanoutBuilder| {
        for span in &block.chunks {
            let bytes = &block.data[span.start..span.end];
            let id = ObjectId::hash_object(ObjectKind::Blob, bytes);
            let level = span.level.expect("bup chunks have levels");
            fanout
                .push(id, bytes.len() as u64, level, &mut store)
                .expect("infallible");
        }
        block.data
    };
    for path in files {
        let mut file = File::open(path).expect("opening an input file");
        while let Some(block) = chunker
            .next_block(&mut file)
            .expect("reading an input file")
        {
            let buf = push(block, &mut fanout);
            chunker.recycle(buf);
        }
    }
    if let Some(block) = chunker.finish() {
        push(block, &mut fanout);
    }
    fanout.finish(&mut store).expect("infallible")
}

/// Compare our ids for `files` with `bup split -n` and `bup split -t`;
/// returns our (mode, id).
fn compare(dir: &BupDir, name: &str, files: &[&Path]) -> (u32, ObjectId) {
    let (mode, id, size) = ours(files);
    let expected_size: u64 = files
        .iter()
        .map(|p| std::fs::metadata(p).expect("stat").len())
        .sum();
    assert_eq!(size, expected_size, "{name}: total size");

    let (bup_mode, bup_name, bup_id) = dir.split_n(name, files);
    let our_name = if mode == MODE_TREE {
        "data.bup"
    } else {
        "data"
    };
    assert_eq!(
        (bup_mode, bup_name.as_str(), bup_id),
        (mode, our_name, id),
        "{name}: bup split -n vs ours"
    );

    // -t prints the raw final list as a tree, even with 0 or 1 entries.
    let (t_id, t_entries) = dir.split_t(files);
    let expected_t = match t_entries {
        0 => {
            assert_eq!((mode, id, size), (MODE_FILE, ObjectId::empty_blob(), 0));
            ObjectId::hash_object(ObjectKind::Tree, b"")
        }
        1 => {
            let width = format!("{size:x}").len();
            let mut entry = [TreeEntry::new(mode, "0".repeat(width), id)];
            ObjectId::hash_object(ObjectKind::Tree, &encode_tree(&mut entry))
        }
        _ => id,
    };
    assert_eq!(t_id, expected_t, "{name}: bup split -t vs ours");
    (mode, id)
}

/// The bup-format.md §3.7 LCG stream.
fn lcg(n: usize) -> Vec<u8> {
    let mut x: u32 = 1;
    (0..n)
        .map(|_| {
            x = (x.wrapping_mul(1103515245).wrapping_add(12345)) & 0x7fff_ffff;
            (x >> 16) as u8
        })
        .collect()
}

/// Deterministic pseudo-random bytes (xorshift64).
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn check_vector(name: &str, data: &[u8], mode: u32, hex: &str) {
    let dir = BupDir::new();
    let path = dir.file(name, data);
    let got = compare(&dir, name, &[&path]);
    assert_eq!(got, (mode, hex.parse().expect("hex")), "{name}: spec §3.7");
}

#[test]
fn spec_vectors_small() {
    for (name, data, mode, hex) in [
        (
            "empty",
            Vec::new(),
            MODE_FILE,
            "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
        ),
        (
            "lcg1",
            lcg(1),
            MODE_FILE,
            "566d900abb9af2df549e573a5c0b8c5d7c3204fc",
        ),
        (
            "lcg100",
            lcg(100),
            MODE_FILE,
            "47ebb187d51a61a1e005e7bce008468835c78971",
        ),
        (
            "lcg8192",
            lcg(8192),
            MODE_TREE,
            "25979a74b78e940629f626354e7ddc809341c21a",
        ),
        (
            "lcg40000",
            lcg(40_000),
            MODE_TREE,
            "1477561552f5d34b7552a9c238c19cbb957945d1",
        ),
    ] {
        check_vector(name, &data, mode, hex);
    }
}

#[test]
fn spec_vector_lcg_1m() {
    check_vector(
        "lcg1m",
        &lcg(1_000_000),
        MODE_TREE,
        "125b7be6a88d4e23a6d3ef9faeff6e7c1fe94865",
    );
}

#[test]
fn spec_vector_lcg_20m() {
    check_vector(
        "lcg20m",
        &lcg(20_000_000),
        MODE_TREE,
        "86db4b4e4682be676524f30ce6946bf9a249c884",
    );
}

#[test]
fn spec_vector_zeros_10m() {
    check_vector(
        "zeros10m",
        &vec![0u8; 10_000_000],
        MODE_TREE,
        "e6b42a173c4bc3a77a4aebd62dcc9e73ef3181b0",
    );
}

#[test]
fn spec_vector_vquirk() {
    let pat = [
        0xa5, 0x48, 0x71, 0x07, 0xdd, 0x97, 0xfa, 0x25, 0xa9, 0x39, 0x08, 0x40, 0xaf,
    ];
    let mut data = lcg(100_000);
    for _ in 0..725_937 {
        data.extend_from_slice(&pat);
    }
    data.extend_from_slice(&lcg(100_000));
    check_vector(
        "vquirk",
        &data,
        MODE_TREE,
        "dcb6cc372ab66fec97c56f6c8680fc25181ef54f",
    );
}

#[test]
fn edited_noise_and_text_match_bup() {
    // 3 MB of pseudo-random data, then copies with an insertion, a deletion
    // and an overwrite; all must match bup exactly.
    let dir = BupDir::new();
    let base = noise(3_000_000, 42);
    let mut inserted = base.clone();
    inserted.splice(1_234_567..1_234_567, noise(777, 9));
    let mut deleted = base.clone();
    deleted.drain(2_000_000..2_000_100);
    let mut overwritten = base.clone();
    overwritten[10..5000].fill(0x5a);
    // Text-like, repetitive data with low entropy.
    let text: Vec<u8> = noise(2_500_000, 5)
        .iter()
        .map(|b| b"etaoin shrdlu\n"[usize::from(*b) % 14])
        .collect();
    for (name, data) in [
        ("base", &base),
        ("inserted", &inserted),
        ("deleted", &deleted),
        ("overwritten", &overwritten),
        ("text", &text),
    ] {
        let path = dir.file(name, data);
        compare(&dir, name, &[&path]);
    }
}

#[test]
fn several_files_form_one_stream_like_bup() {
    // §3.5: bup split with several files chunks them as one stream, each file
    // read in its own 8 MiB blocks (so a file's short last block matters).
    let dir = BupDir::new();
    let big = dir.file("big", &noise(9_000_000, 1));
    let mid = dir.file("mid", &lcg(50_000));
    let tiny = dir.file("tiny", b"x");
    let empty = dir.file("empty", b"");
    let zeros = dir.file("zeros", &vec![0u8; 8_400_000]);
    compare(&dir, "multi", &[&big, &mid, &tiny, &empty, &zeros, &mid]);
    compare(&dir, "small-pair", &[&tiny, &tiny]);
}
