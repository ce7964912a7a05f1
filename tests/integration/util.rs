//! Helpers for the integration tests: running `backup`, the real `git` and
//! `bup`, building fixture trees, and comparing trees by content and metadata.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Fail loudly (never skip) when a tool the tests need is missing.
pub fn require(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "required tool `{tool}` is not installed; run .ci/run (it installs git, bup, acl, attr, openssh-server)"
    );
}

/// The `backup` binary under test.
pub fn backup_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_backup"))
}

/// Run a command; return its output (never panics on failure status).
/// stdin is /dev/null unless the command set it.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Run and require success; return stdout.
pub fn ok(cmd: &mut Command) -> Vec<u8> {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}:\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `backup -d REPO args...`
pub fn backup(repo: &Path) -> Command {
    let mut c = Command::new(backup_bin());
    c.arg("-d")
        .arg(repo)
        .env_remove("BACKUP_FAILPOINT")
        .stdin(Stdio::null());
    c
}

/// `git --git-dir REPO args...`
pub fn git(repo: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("--git-dir").arg(repo).stdin(Stdio::null());
    c
}

/// The real bup with `BUP_DIR=repo`.
pub fn bup(repo: &Path) -> Command {
    require("bup");
    let mut c = Command::new("bup");
    c.env("BUP_DIR", repo).env("TZ", "UTC").stdin(Stdio::null());
    c
}

/// Text of stdout.
pub fn text(v: Vec<u8>) -> String {
    String::from_utf8_lossy(&v).into_owned()
}

/// Deterministic incompressible bytes (splitmix64). Unlike the spec's LCG,
/// whose bytes repeat every 16 MiB, these do not deduplicate.
pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
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

/// Deterministic bytes (the LCG of bup-format.md §3.7; repeats every 16 MiB).
pub fn lcg_bytes(n: usize, seed: u32) -> Vec<u8> {
    let mut x: u32 = seed;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        x = x.wrapping_mul(1103515245).wrapping_add(12345) & 0x7fff_ffff;
        v.push((x >> 16) as u8);
    }
    v
}

fn set_times(p: &Path, atime: (i64, i64), mtime: (i64, i64)) {
    use nix::sys::stat::{UtimensatFlags, utimensat};
    use nix::sys::time::TimeSpec;
    utimensat(
        nix::fcntl::AT_FDCWD,
        p,
        &TimeSpec::new(atime.0, atime.1),
        &TimeSpec::new(mtime.0, mtime.1),
        UtimensatFlags::NoFollowSymlink,
    )
    .unwrap_or_else(|e| panic!("utimensat {}: {e}", p.display()));
}

/// Build the fixture tree of issue 2 / 3 under `dir` (which must exist):
/// small files, a >5 MB file, an empty file, an executable, setuid/setgid/
/// sticky modes, symlinks (relative, absolute, dangling), hard links, a fifo,
/// a socket, a character device, names that need mangling, a name with a
/// space, a non-UTF-8 name, xattrs, ACLs, another owner, and fixed ns times.
pub fn make_fixture(dir: &Path) {
    require("setfacl");
    let w = |rel: &str, data: &[u8]| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
    };
    w("hello.txt", b"hello\n");
    w("empty", b"");
    w("a b", b"space in the name\n");
    w("x.bup", b"looks like a chunked file\n");
    w(".bupm", b"looks like metadata\n");
    w("y.bupq", b"bup? suffix\n");
    w("dir.bup/inner", b"inner\n");
    w("sub/deeper/note.txt", b"deep\n");
    w("sub/deeper/.hidden", b"dot file\n");
    w("big.bin", &random_bytes(5_500_000, 7));
    w("medium.txt", &b"line of text that repeats\n".repeat(4000));
    w("run.sh", b"#!/bin/sh\necho hi\n");
    std::fs::set_permissions(dir.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    w("setuid", b"s\n");
    std::fs::set_permissions(dir.join("setuid"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    w("setgid", b"g\n");
    std::fs::set_permissions(dir.join("setgid"), std::fs::Permissions::from_mode(0o2750)).unwrap();
    std::fs::create_dir(dir.join("sticky")).unwrap();
    std::fs::set_permissions(dir.join("sticky"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::create_dir(dir.join("emptydir")).unwrap();
    let non_utf8 = dir.join(OsStr::from_bytes(b"caf\xe9"));
    std::fs::write(&non_utf8, b"latin-1 name\n").unwrap();
    std::os::unix::fs::symlink("hello.txt", dir.join("link")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", dir.join("abslink")).unwrap();
    std::os::unix::fs::symlink("does/not/exist", dir.join("dangling")).unwrap();
    w("hard1", b"linked twice\n");
    std::fs::hard_link(dir.join("hard1"), dir.join("sub/hard2")).unwrap();
    nix::unistd::mkfifo(
        &dir.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    let sock = dir.join("sock");
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    nix::sys::stat::mknod(
        &dir.join("chardev"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o644),
        nix::sys::stat::makedev(1, 3),
    )
    .expect("mknod needs root (the tests run as root in CI)");
    w("owned", b"nobody's\n");
    std::os::unix::fs::lchown(dir.join("owned"), Some(65534), Some(65534)).unwrap();
    w("xattr.txt", b"has xattrs\n");
    xattr::set(dir.join("xattr.txt"), "user.colour", b"blue").unwrap();
    xattr::set(dir.join("xattr.txt"), "user.empty", b"").unwrap();
    w("acl.txt", b"has an acl\n");
    ok(Command::new("setfacl")
        .args(["-m", "u:nobody:r"])
        .arg(dir.join("acl.txt")));
    std::fs::create_dir(dir.join("acldir")).unwrap();
    ok(Command::new("setfacl")
        .args(["-d", "-m", "g:nogroup:rx"])
        .arg(dir.join("acldir")));
    w("acldir/child", b"inherits\n");

    // Fixed times, deepest first so directory times stick.
    let mut all: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .collect();
    all.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for (i, p) in all.iter().enumerate() {
        let i = i as i64;
        set_times(
            p,
            (1_600_000_000 + i, 987_654_321),
            (1_577_934_245 + i, 123_456_789),
        );
    }
}

/// What we compare for one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: (i64, i64),
    pub atime: Option<(i64, i64)>,
    pub rdev: u64,
    pub link: Option<OsString>,
    pub content: Option<[u8; 32]>,
    pub xattrs: BTreeMap<OsString, Vec<u8>>,
    /// Index of the first path with the same inode (hard-link grouping).
    pub hardlink_group: Option<PathBuf>,
}

/// Snapshot of a tree: relative path → node. `with_atime` records atimes
/// of entries other than directories and symlinks (listing a directory or
/// reading a link moves its atime, and bup restore does both).
pub fn snapshot(root: &Path, with_atime: bool) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<(u64, u64), PathBuf> = BTreeMap::new();
    let mut paths: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .collect();
    paths.sort();
    for p in paths {
        let m = std::fs::symlink_metadata(&p).unwrap();
        let rel = p.strip_prefix(root).unwrap().to_path_buf();
        let ft = m.file_type();
        // O_NOATIME: reading must not change the atimes we compare.
        let content = ft.is_file().then(|| {
            use std::io::Read;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOATIME)
                .open(&p)
                .unwrap();
            let mut buf = Vec::new();
            f.read_to_end(&mut buf).unwrap();
            *blake3::hash(&buf).as_bytes()
        });
        let link = ft
            .is_symlink()
            .then(|| std::fs::read_link(&p).unwrap().into_os_string());
        let mut xattrs = BTreeMap::new();
        if let Ok(names) = xattr::list(&p) {
            for n in names {
                if let Ok(Some(v)) = xattr::get(&p, &n) {
                    xattrs.insert(n, v);
                }
            }
        }
        let hardlink_group = (!ft.is_dir() && m.nlink() > 1).then(|| {
            inodes
                .entry((m.dev(), m.ino()))
                .or_insert_with(|| rel.clone())
                .clone()
        });
        out.insert(
            rel,
            Node {
                mode: m.mode(),
                uid: m.uid(),
                gid: m.gid(),
                size: if ft.is_dir() { 0 } else { m.size() },
                mtime: (m.mtime(), m.mtime_nsec()),
                atime: (with_atime && !ft.is_dir() && !ft.is_symlink())
                    .then(|| (m.atime(), m.atime_nsec())),
                rdev: m.rdev(),
                link,
                content,
                xattrs,
                hardlink_group,
            },
        );
    }
    out
}

/// Differences between two snapshots, as readable lines.
pub fn diff(expected: &BTreeMap<PathBuf, Node>, actual: &BTreeMap<PathBuf, Node>) -> Vec<String> {
    let mut d = Vec::new();
    for (p, e) in expected {
        match actual.get(p) {
            None => d.push(format!("missing: {}", p.display())),
            Some(a) if a != e => d.push(format!(
                "differs: {}\n  want {e:?}\n  got  {a:?}",
                p.display()
            )),
            Some(_) => {}
        }
    }
    for p in actual.keys() {
        if !expected.contains_key(p) {
            d.push(format!("extra: {}", p.display()));
        }
    }
    d
}

/// A temp directory whose canonical path is used (so saved absolute paths
/// are predictable).
pub fn tempdir() -> (tempfile::TempDir, PathBuf) {
    let td = tempfile::tempdir().unwrap();
    let p = std::fs::canonicalize(td.path()).unwrap();
    (td, p)
}

/// Sum of the sizes of all files under `dir`.
pub fn du(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum()
}

/// Bytes as an OsString argument.
pub fn os(b: &[u8]) -> OsString {
    OsString::from_vec(b.to_vec())
}

/// Whether bup's `.bupm` lookup bug (bup-format.md §4.5) hides the metadata
/// of this directory from `bup ls`: its `.bupm` is a chunk tree and another
/// name in it starts with `.bupm` followed by a byte below `/`. We look the
/// metadata up by exact name and show it; bup shows defaults.
pub fn bup_misses_bupm(repo: &Path, dir: &str) -> bool {
    let shown = text(ok(backup(repo).args(["ls", "-s", "--directory", dir])));
    let tree = shown.split_whitespace().next().unwrap().to_string();
    let ls = text(ok(git(repo).args(["ls-tree", &tree])));
    let chunked = ls
        .lines()
        .any(|l| l.starts_with("040000") && l.ends_with("\t.bupm"));
    chunked
        && ls.lines().any(|l| {
            let name = l.split('\t').nth(1).unwrap_or("");
            name.len() > 5 && name.starts_with(".bupm") && name.as_bytes()[5] < b'/'
        })
}
