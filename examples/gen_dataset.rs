//! Deterministic datasets for the whole-run comparison (`benches/compare.py`).
//!
//! ```text
//! gen_dataset tree DIR [--seed N] [--scale F]   file tree: ~100k files, ~1.6 GB at scale 1
//! gen_dataset mutate DIR [--seed N]             change ~1 % of the tree's files
//! gen_dataset bigfile FILE [--seed N] [--mib M] one mixed random/text file (default 1024 MiB)
//! gen_dataset edit FILE [--seed N]              50 small inserts/deletes/overwrites in place
//! gen_dataset dump FILE [--seed N] [--day D] [--mib M]  SQL-like dump (default 420 MiB); day 1 = next day
//! ```
//! The same seed always gives the same bytes.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
    /// Roughly log-normal sizes: many small, a few large.
    fn file_size(&mut self, min: u64, median: u64, max: u64) -> u64 {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        let v = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        let n = (-2.0 * u.max(1e-12).ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos();
        ((median as f64) * (1.1 * n).exp()).clamp(min as f64, max as f64) as u64
    }
}

const WORDS: &[&str] = &[
    "the", "fn", "let", "return", "if", "else", "for", "while", "int", "char", "struct", "config",
    "server", "client", "request", "response", "error", "value", "index", "buffer", "size", "len",
    "data", "file", "path", "user", "host", "port", "timeout", "retry", "log", "debug", "info",
    "warn", "true", "false", "null", "self", "import", "from", "class", "def", "pub", "use",
];

fn text(rng: &mut Rng, n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n + 64);
    let mut col = 0;
    while v.len() < n {
        let r = rng.next();
        // Zipf-ish: low indices far more often.
        let w = WORDS[((r % 64) * (r % 64) / 64) as usize % WORDS.len()];
        v.extend_from_slice(w.as_bytes());
        col += w.len() + 1;
        match (r >> 8) % 11 {
            0 => v.extend_from_slice(format!("({})", (r >> 16) % 1000).as_bytes()),
            1 => v.extend_from_slice(b" = "),
            2 => v.push(b';'),
            _ => {}
        }
        if col > 60 + (r >> 24) as usize % 30 {
            v.push(b'\n');
            col = 0;
            let indent = (((r >> 32) % 4) * 4) as usize;
            v.resize(v.len() + indent, b' ');
        } else {
            v.push(b' ');
        }
    }
    v.truncate(n);
    v
}

fn random(rng: &mut Rng, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rng.fill(&mut v);
    v
}

/// Alternating random and text segments (a VM image or database file).
fn write_mixed(rng: &mut Rng, path: &Path, size: u64) -> std::io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, fs::File::create(path)?);
    let mut done = 0u64;
    let mut k = 0;
    while done < size {
        let seg = (64 << 10) + rng.below(2 << 20);
        let seg = seg.min(size - done) as usize;
        let buf = if k % 2 == 0 {
            random(rng, seg)
        } else {
            text(rng, seg)
        };
        w.write_all(&buf)?;
        done += seg as u64;
        k += 1;
    }
    w.flush()
}

fn tree(dir: &Path, seed: u64, scale: f64) -> std::io::Result<()> {
    let mut rng = Rng(seed);
    let n_dirs = (5000.0 * scale) as usize;
    let n_text = (100_000.0 * scale) as usize;
    let n_bin = (1500.0 * scale) as usize;
    let n_big = 4;
    // Directory tree: 20 projects, nested up to 5 levels.
    let mut dirs: Vec<PathBuf> = Vec::with_capacity(n_dirs);
    for p in 0..20 {
        dirs.push(dir.join(format!("project-{p:02}")));
    }
    while dirs.len() < n_dirs {
        let parent = dirs[rng.below(dirs.len() as u64) as usize].clone();
        if parent.components().count() > dir.components().count() + 5 {
            continue;
        }
        let name = format!(
            "{}-{}",
            WORDS[rng.below(WORDS.len() as u64) as usize],
            dirs.len()
        );
        dirs.push(parent.join(name));
    }
    for d in &dirs {
        fs::create_dir_all(d)?;
    }
    let mut total = 0u64;
    let mut previous: Vec<u8> = Vec::new();
    for i in 0..n_text {
        let d = &dirs[rng.below(dirs.len() as u64) as usize];
        let ext = ["rs", "c", "h", "py", "txt", "conf", "md", "json"][i % 8];
        let size = rng.file_size(40, 2400, 256 << 10) as usize;
        // 5 % are copies of an earlier file (vendored code, duplicates).
        let body = if rng.below(20) == 0 && !previous.is_empty() {
            previous.clone()
        } else {
            text(&mut rng, size)
        };
        total += body.len() as u64;
        fs::write(d.join(format!("f{i:06}.{ext}")), &body)?;
        if i % 97 == 0 {
            previous = body;
        }
    }
    for i in 0..n_bin {
        let d = &dirs[rng.below(dirs.len() as u64) as usize];
        let size = rng.file_size(16 << 10, 256 << 10, 4 << 20) as usize;
        total += size as u64;
        fs::write(d.join(format!("blob{i:05}.bin")), random(&mut rng, size))?;
    }
    let big = dir.join("big");
    fs::create_dir_all(&big)?;
    for i in 0..n_big {
        let size = ((128u64 << 20) as f64 * scale.max(0.05)) as u64;
        total += size;
        write_mixed(&mut rng, &big.join(format!("disk{i}.img")), size)?;
    }
    eprintln!(
        "tree: {} dirs, {} files, {:.2} GB",
        dirs.len() + 1,
        n_text + n_bin + n_big,
        total as f64 / 1e9
    );
    Ok(())
}

fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = fs::read_dir(&d)
            .map(|r| r.filter_map(Result::ok).collect())
            .unwrap_or_default();
        entries.sort_by_key(|e: &fs::DirEntry| e.file_name());
        for e in entries {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

/// Change ~1 % of the files: edit text files, patch binaries, add and
/// delete some, and edit a large file in a few places.
fn mutate(dir: &Path, seed: u64) -> std::io::Result<()> {
    let mut rng = Rng(seed ^ 0x5555);
    let files = all_files(dir);
    let n = files.len();
    let mut changed = 0;
    for _ in 0..n / 100 {
        let f = &files[rng.below(n as u64) as usize];
        if !f.exists() {
            continue;
        }
        let mut data = fs::read(f)?;
        if f.extension().is_some_and(|e| e == "img") {
            for _ in 0..5 {
                let at = rng.below(data.len() as u64 - 8) as usize;
                data[at..at + 8].copy_from_slice(&rng.next().to_le_bytes());
            }
        } else if f.extension().is_some_and(|e| e == "bin") {
            let at = rng.below(data.len().saturating_sub(4096).max(1) as u64) as usize;
            let end = (at + 4096).min(data.len());
            let patch = random(&mut rng, end - at);
            data[at..end].copy_from_slice(&patch);
        } else {
            let extra = text(&mut rng, 200);
            let at = rng.below(data.len() as u64 + 1) as usize;
            data.splice(at..at, extra);
        }
        fs::write(f, &data)?;
        changed += 1;
    }
    for i in 0..n / 500 {
        let f = &files[rng.below(n as u64) as usize];
        let _ = fs::remove_file(f);
        let d = f.parent().unwrap_or(dir);
        fs::write(d.join(format!("new{i:05}.txt")), text(&mut rng, 3000))?;
        changed += 2;
    }
    eprintln!("mutate: {changed} files changed, added or removed of {n}");
    Ok(())
}

/// 50 small inserts, deletes and overwrites at random offsets, in place.
fn edit(path: &Path, seed: u64) -> std::io::Result<()> {
    let mut rng = Rng(seed ^ 0xed17);
    let mut data = fs::read(path)?;
    for _ in 0..50 {
        let at = rng.below(data.len() as u64 - 200) as usize;
        let n = 1 + rng.below(64) as usize;
        match rng.below(3) {
            0 => {
                let ins = random(&mut rng, n);
                data.splice(at..at, ins);
            }
            1 => {
                data.drain(at..at + n);
            }
            _ => {
                let o = random(&mut rng, n);
                data[at..at + n].copy_from_slice(&o);
            }
        }
    }
    fs::write(path, &data)
}

/// A SQL dump; `day` 1 is the next day's: ~0.02 % of rows changed anywhere,
/// 1 % of the newest 50 000 rows changed, 2 000 rows appended.
fn dump(path: &Path, seed: u64, day: u64, mib: u64) -> std::io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, fs::File::create(path)?);
    let mut rng = Rng(seed);
    let rows = (mib << 20) / 96;
    for i in 0..rows {
        let h = rng.next();
        let recent = i + 50_000 >= rows;
        let changed = day > 0 && (h % 5000 == 1 || (recent && h.is_multiple_of(100)));
        writeln!(
            w,
            "INSERT INTO bugs VALUES ({i},'{}','assigned to user{}',{},'{}','{}');",
            if changed { "RESOLVED" } else { "NEW" },
            h % 997,
            (h >> 20) % 100_000,
            WORDS[(h >> 40) as usize % WORDS.len()],
            if changed { "2026-11-22" } else { "2026-11-21" }
        )?;
    }
    if day > 0 {
        for i in rows..rows + 2000 {
            writeln!(
                w,
                "INSERT INTO bugs VALUES ({i},'NEW','assigned to user{}',0,'new','2026-11-22');",
                i % 997
            )?;
        }
    }
    w.flush()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |flag: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
            .unwrap_or_else(|| default.to_string())
    };
    let seed: u64 = get("--seed", "42").parse().unwrap_or(42);
    let (Some(cmd), Some(target)) = (args.first(), args.get(1)) else {
        eprintln!("usage: gen_dataset tree|mutate|bigfile|edit|dump PATH [--seed N] ...");
        std::process::exit(2);
    };
    let target = PathBuf::from(target);
    let res = match cmd.as_str() {
        "tree" => {
            let scale: f64 = get("--scale", "1").parse().unwrap_or(1.0);
            fs::create_dir_all(&target).and_then(|()| tree(&target, seed, scale))
        }
        "mutate" => mutate(&target, seed),
        "bigfile" => {
            let mib: u64 = get("--mib", "1024").parse().unwrap_or(1024);
            write_mixed(&mut Rng(seed), &target, mib << 20)
        }
        "edit" => edit(&target, seed),
        "dump" => {
            let day: u64 = get("--day", "0").parse().unwrap_or(0);
            let mib: u64 = get("--mib", "420").parse().unwrap_or(420);
            dump(&target, seed, day, mib)
        }
        _ => {
            eprintln!("unknown dataset {cmd}");
            std::process::exit(2);
        }
    };
    if let Err(e) = res {
        eprintln!("gen_dataset {cmd} {}: {e}", target.display());
        std::process::exit(1);
    }
}
